"""Training pipeline of the shipped DR grader (never imported by the serving package ``ml``).

One command reproduces ``ml/weights`` from the labelled data (see ``ml.training.pipeline``)::

    pip install -r ml/requirements-train.txt
    python -m ml.training --out ml/weights [--data-dir DIR] [--work-dir DIR] [--machine TEXT]

Modules: ``config`` (the shipped members and choices), ``splits`` (patient split, k-fold
cross-fitting, held-out parts), ``images`` (preprocessing cache), ``pretrained`` (ImageNet
weights), ``members`` (the two recipes, resumable per epoch), ``selection`` (tune-split choices),
``ensemble`` (member weights and test-time views), ``card`` (the model card it writes).
"""

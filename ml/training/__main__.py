"""``python -m ml.training``: see ``ml.training.pipeline``."""

from ml.training.pipeline import main

main()

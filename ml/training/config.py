"""What the training pipeline builds: the members of the shipped ensemble and the choices after.

``SHIPPED`` is the recipe of the model in ``ml/weights`` (effnetlite0-dr-1.3); the tests build a
tiny configuration of the same shape. Member names say what a member is: the trunk, how it was
trained (``top-blocks``: blocks 8-15 + head fine-tuned on cached feature maps of the frozen
ImageNet bottom; ``e2e``: fine-tuned end to end on augmented images), its in-model input size and
its training seed where that differs from the split seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

FROZEN_BOTTOM = "frozen_bottom"  # blocks < cut frozen and cached once, top blocks trained
END_TO_END = "end_to_end"  # blocks >= freeze_below trained on augmented images


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member and the recipe that trains it."""

    name: str
    recipe: str
    epochs: int
    lr: float
    batch_size: int = 32
    upsample: int = 0  # resize the input to this size inside the model (0: none)
    seed: int | None = None  # initialisation order and augmentation (None: the split seed)
    freeze_below: int = 3  # end_to_end: stem and blocks below this stay frozen
    cut_block: int = 8  # frozen_bottom: blocks below this are cached
    early_lr_mult: float = 0.25  # end_to_end: learning-rate factor of blocks < 8
    weight_decay: float = 1e-4
    dropout: float = 0.3

    def describe(self) -> str:
        """One line for the model card."""
        size = f", input upsampled to {self.upsample} px in the model" if self.upsample else ""
        seed = f", training seed {self.seed}" if self.seed is not None else ""
        if self.recipe == FROZEN_BOTTOM:
            how = (
                f"stem + blocks 0-{self.cut_block - 1} frozen (ImageNet) and cached in 4 "
                f"dihedral views, blocks {self.cut_block}-15 + head fine-tuned"
            )
        else:
            how = (
                f"stem + blocks 0-{self.freeze_below - 1} frozen, blocks {self.freeze_below}-15 "
                "+ head fine-tuned end to end with on-the-fly rotation/flip/scale/shift and "
                f"contrast/brightness/gamma augmentation (lr x{self.early_lr_mult} below block 8)"
            )
        return f"{how}; {self.epochs} epochs, lr {self.lr}, batch {self.batch_size}{size}{seed}"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the one training command needs besides paths."""

    version: str
    members: tuple[MemberSpec, ...]
    train_set: str = "eyepacs256"  # folder under the data root
    natural_set: str = "eyepacs-natural"  # natural-colour check of unseen patients
    split_seed: int = 2026
    split_fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    input_size: int = 256
    width: float = 1.0
    pretrained: bool = True  # ImageNet initialisation (needs ml/requirements-train.txt)
    view_sets: tuple[int, ...] = (1, 4)  # test-time view counts tried for the ensemble
    grid_step: float = 0.25  # ensemble weights are chosen on this grid
    referable_sensitivity: float = 0.85  # the referable threshold keeps this tune sensitivity
    calibration: str = "none"  # "temperature": fit on tune, stored in the card
    limit: int = 0  # use only the first N images (smoke runs)
    graph: bool = True  # compile training and inference steps (False: eager, for tiny runs)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-able form for the model card."""
        return asdict(self)


SHIPPED = PipelineConfig(
    version="effnetlite0-dr-1.3",
    members=(
        MemberSpec(
            "lite0-e2e-384-seed2027", END_TO_END, epochs=6, lr=6e-4, upsample=384, seed=2027
        ),
        MemberSpec("lite0-top-blocks", FROZEN_BOTTOM, epochs=8, lr=4e-4),
        MemberSpec("lite0-e2e-320", END_TO_END, epochs=6, lr=6e-4, upsample=320),
    ),
)

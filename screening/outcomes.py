"""The default outcome table (docs/CLINICAL.md). Installed by migration 0003 and restored by a
post_migrate hook when missing; rows a programme has edited are never overwritten."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from screening.models import OutcomeRule

DEFAULT_OUTCOMES = [
    # key, label, refers?, recall months, refer within weeks
    ("0", "Routine rescreen in 12 months", False, 12, None),
    ("1", "Rescreen in 12 months (6 months if risk factors)", False, 12, None),
    ("2", "Refer to ophthalmology, routine (within ~13 weeks)", True, None, 13),
    ("3", "Refer to ophthalmology, soon (within ~4 weeks)", True, None, 4),
    ("4", "Refer to ophthalmology, urgent (within ~2 weeks)", True, None, 2),
    ("DME", "Refer to ophthalmology, routine at least (macular oedema)", True, None, 13),
    ("U", "Re-image, or refer for slit-lamp examination (ungradable)", True, None, None),
]


def install_default_outcomes(rule_model: "type[OutcomeRule]", using: str = "default") -> None:
    """Add any missing default outcome (takes the model so migrations can pass theirs)."""
    for key, label, referral, recall, within in DEFAULT_OUTCOMES:
        rule_model.objects.using(using).get_or_create(
            key=key,
            defaults={
                "label": label,
                "referral": referral,
                "recall_months": recall,
                "refer_within_weeks": within,
            },
        )

"""Installs the default outcome table (screening.rules.DEFAULT_OUTCOMES). Run by migration 0003 and
by a post_migrate hook when rows are missing; rows a programme has edited are never overwritten."""

from typing import TYPE_CHECKING

from screening.rules import DEFAULT_OUTCOMES

if TYPE_CHECKING:
    from screening.models import OutcomeRule


def install_default_outcomes(rule_model: "type[OutcomeRule]", using: str = "default") -> None:
    """Add any missing default outcome (takes the model so migrations can pass theirs)."""
    for outcome in DEFAULT_OUTCOMES:
        rule_model.objects.using(using).get_or_create(
            key=outcome.key,
            defaults={
                "label": outcome.label,
                "referral": outcome.referral,
                "recall_months": outcome.recall_months,
                "refer_within_weeks": outcome.refer_within_weeks,
            },
        )

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Screening visits and fundus images"

    def ready(self) -> None:
        post_migrate.connect(_outcomes, sender=self, dispatch_uid="screening-default-outcomes")


def _outcomes(sender: ScreeningConfig, using: str = "default", **kwargs: object) -> None:
    from screening.models import OutcomeRule
    from screening.outcomes import install_default_outcomes

    install_default_outcomes(OutcomeRule, using=using)

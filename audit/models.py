"""The audit trail: one append-only row per security-relevant event (who did what to which record,
from where). Rows are never changed or deleted by the application; see `AuditEvent.save()`."""

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditTrailIsAppendOnly(Exception):
    """Raised on any attempt to change or delete a recorded audit event."""

    def __init__(self) -> None:
        super().__init__("Audit events are append-only: they are added, never changed or deleted.")


class AuditEventQuerySet(models.QuerySet):
    """Refuses the bulk writes that would bypass `AuditEvent.save()` and `delete()`."""

    def update(self, **kwargs: object) -> int:
        raise AuditTrailIsAppendOnly

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditTrailIsAppendOnly

    def bulk_update(self, *args: object, **kwargs: object) -> int:
        raise AuditTrailIsAppendOnly

    def update_or_create(self, *args: object, **kwargs: object) -> tuple[models.Model, bool]:
        raise AuditTrailIsAppendOnly


class AuditEvent(models.Model):
    """Something a person (or the system, when `actor` is empty) did that must stay on record."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who did it; empty for the system or an unknown person (a failed sign-in).",
    )
    action = models.CharField(
        max_length=64, db_index=True, help_text="What happened, e.g. 'user.deactivate'."
    )
    object_type = models.CharField(
        max_length=100, blank=True, help_text="Model label of the record, e.g. 'accounts.user'."
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(
        max_length=200, blank=True, help_text="How the record read at the time of the event."
    )
    changes = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Field: [before, after]."
    )
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        who = self.actor or "system"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.object_repr}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnly
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditTrailIsAppendOnly

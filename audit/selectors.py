"""Reading the audit trail (admins only; the views check the role)."""

import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent


def audit_event_search(
    *,
    actor: User | None = None,
    action: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    object_type: str = "",
    object_id: str = "",
    query: str = "",
) -> QuerySet[AuditEvent]:
    """Events newest first, narrowed by each filter given; `query` matches the object's text,
    the action or the actor's username. Dates are whole days in the display time zone."""
    events = AuditEvent.objects.select_related("actor")
    if actor is not None:
        events = events.filter(actor=actor)
    if action:
        events = events.filter(action=action)
    if date_from:
        events = events.filter(created_at__gte=_start_of(date_from))
    if date_to:
        events = events.filter(created_at__lt=_start_of(date_to + datetime.timedelta(days=1)))
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    for term in query.split():
        events = events.filter(
            Q(object_repr__icontains=term)
            | Q(action__icontains=term)
            | Q(actor__username__icontains=term)
        )
    return events


def audit_actions() -> list[str]:
    """Every action recorded so far, for the filter's choices."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_object_types() -> list[str]:
    return list(
        AuditEvent.objects.exclude(object_type="")
        .order_by("object_type")
        .values_list("object_type", flat=True)
        .distinct()
    )


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

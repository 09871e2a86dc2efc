"""Writing to the audit trail. Every other app records its events through `audit_record()`."""

import ipaddress
from collections.abc import Mapping

from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.http import HttpRequest

from accounts.models import User
from audit.models import AuditEvent
from audit.request_info import client_ip, user_agent

OBJECT_REPR_MAX_LENGTH = 200


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    obj: models.Model | None = None,
    changes: Mapping[str, object] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    `actor` is the person who acted (None or anonymous for the system or an unknown person);
    `action` a dotted verb such as "user.create" or "patient.view"; `obj` the record acted on;
    `changes` what changed, conventionally {field: [before, after]} (never passwords or tokens);
    `request` supplies the client's IP address and user agent.
    """
    event = AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        changes=changes or {},
    )
    if obj is not None:
        event.object_type = obj._meta.label_lower
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:OBJECT_REPR_MAX_LENGTH]
    if request is not None:
        event.ip_address = _valid_ip(client_ip(request))
        event.user_agent = user_agent(request)
    event.save(force_insert=True)
    return event


def changed_fields(obj: models.Model, before: dict[str, object]) -> dict[str, list[str]]:
    """{field: [before, after]} for the fields of `before` whose value `obj` now has changed."""
    return {
        name: [str(old), str(getattr(obj, name))]
        for name, old in before.items()
        if old != getattr(obj, name)
    }


def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None

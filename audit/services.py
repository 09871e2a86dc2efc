"""Writing to the audit trail. Every other app records its events through `audit_record()`.

Views build an `AuditContext` from the request once (`AuditContext.from_request`) and hand it to
the service they call; the service records the event with it, so every row written on behalf of a
request carries the client's IP address and user agent, from this one place.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.http import HttpRequest

from accounts.models import User
from audit.models import AuditEvent
from audit.request_info import client_ip, user_agent

OBJECT_REPR_MAX_LENGTH = 200


@dataclass(frozen=True)
class AuditContext:
    """Where an action came from: the client's IP address and user agent and, for the REST API,
    the channel and the public prefix of the token used. Services take one (`audit=`) from the
    view that calls them; without one (a management command, the shell) none is recorded."""

    ip_address: str | None = None
    user_agent: str = ""
    via: str = ""  # "api" for the REST API; empty for the web pages
    api_token: str = ""

    @classmethod
    def from_request(
        cls, request: HttpRequest, *, via: str = "", api_token: str = ""
    ) -> "AuditContext":
        return cls(
            ip_address=_valid_ip(client_ip(request)),
            user_agent=user_agent(request),
            via=via,
            api_token=api_token,
        )

    def annotate(self, changes: Mapping[str, object]) -> dict[str, object]:
        """The event's changes, noting the channel and token (API events)."""
        noted = dict(changes)
        if self.via:
            noted["via"] = self.via
        if self.api_token:
            noted["api_token"] = self.api_token
        return noted


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    obj: models.Model | None = None,
    changes: Mapping[str, object] | None = None,
    request: HttpRequest | None = None,
    context: AuditContext | None = None,
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    `actor` is the person who acted (None or anonymous for the system or an unknown person);
    `action` a dotted verb such as "user.create" or "patient.view"; `obj` the record acted on;
    `changes` what changed, conventionally {field: [before, after]} (never passwords or tokens);
    `context` (or the `request` it is built from) supplies the client's IP address and user agent.
    """
    if context is None and request is not None:
        context = AuditContext.from_request(request)
    context = context or AuditContext()
    event = AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        changes=context.annotate(changes or {}),
        ip_address=context.ip_address,
        user_agent=context.user_agent,
    )
    if obj is not None:
        event.object_type = obj._meta.label_lower
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:OBJECT_REPR_MAX_LENGTH]
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

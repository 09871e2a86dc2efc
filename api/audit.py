"""The audit context of an API request: the web's, plus the channel and the token's prefix."""

from collections.abc import Mapping

from django.db import models
from rest_framework.request import Request

from accounts.models import ApiToken
from audit.services import AuditContext, audit_record


def api_context(request: Request) -> AuditContext:
    token = request.auth.prefix if isinstance(request.auth, ApiToken) else ""
    return AuditContext.from_request(request, via="api", api_token=token)


def api_audit(
    request: Request, action: str, obj: models.Model, changes: Mapping[str, object] | None = None
) -> None:
    """Record an API read like the web does (writes are recorded by the services)."""
    audit_record(
        actor=request.user, action=action, obj=obj, changes=changes, context=api_context(request)
    )

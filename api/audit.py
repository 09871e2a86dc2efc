from collections.abc import Mapping

from django.db import models
from rest_framework.request import Request

from accounts.models import ApiToken
from audit.services import audit_record


def api_audit(
    request: Request, action: str, obj: models.Model, changes: Mapping[str, object] | None = None
) -> None:
    """Record an API read or write like the web does, noting the token (its public prefix)."""
    changes = dict(changes or {})
    changes["via"] = "api"
    if isinstance(request.auth, ApiToken):
        changes["api_token"] = request.auth.prefix
    audit_record(actor=request.user, action=action, obj=obj, changes=changes, request=request)

"""Who may do what through the API: the one place where the API's role rules live.

Each operation needs one model permission, and a role allows it when `ROLE_PERMISSIONS` gives
that role's group the permission (the same table the web's roles come from): doctors and admins
read, nurses and API clients register patients, visits and photographs; only nurses change a
patient. A token additionally needs the action (read, write, upload) the operation belongs to.
Site scoping is not here: selectors and services answer 404 outside the user's sites.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.roles import role_allows


@dataclass(frozen=True)
class Rule:
    action: str  # the ApiToken action a token needs
    permission: str | None  # the model permission a role needs (None: any signed-in user)


READ_PATIENT = Rule(ApiToken.Action.READ, "patients.view_patient")
READ_VISIT = Rule(ApiToken.Action.READ, "screening.view_visit")
READ_IMAGE = Rule(ApiToken.Action.READ, "screening.view_fundusimage")

# (policy name, view action) -> rule. An operation missing here is refused (fail closed).
POLICY: dict[tuple[str, str], Rule] = {
    ("token", "retrieve"): Rule(ApiToken.Action.READ, None),
    ("patients", "list"): READ_PATIENT,
    ("patients", "retrieve"): READ_PATIENT,
    ("patients", "create"): Rule(ApiToken.Action.WRITE, "patients.add_patient"),
    ("patients", "partial_update"): Rule(ApiToken.Action.WRITE, "patients.change_patient"),
    ("visits", "list"): READ_VISIT,
    ("visits", "retrieve"): READ_VISIT,
    ("visits", "create"): Rule(ApiToken.Action.WRITE, "screening.add_visit"),
    ("visits", "results"): READ_VISIT,
    ("visits", "report"): READ_VISIT,
    ("visits", "report_pdf"): READ_VISIT,
    ("visits", "fhir"): READ_VISIT,
    ("visit_images", "list"): READ_IMAGE,
    ("visit_images", "create"): Rule(ApiToken.Action.UPLOAD, "screening.add_fundusimage"),
    ("images", "retrieve"): READ_IMAGE,
    ("images", "results"): READ_IMAGE,
}

ACTION_WORDS: dict[str, str] = {
    ApiToken.Action.READ: "read records",
    ApiToken.Action.WRITE: "register patients or visits",
    ApiToken.Action.UPLOAD: "upload photographs",
}


def rule_for(view: "APIView") -> Rule | None:
    return POLICY.get((getattr(view, "policy", ""), getattr(view, "action", None) or ""))


class RolePolicy(BasePermission):
    """Signed in (401 otherwise), the operation is in POLICY, the token allows its action, and one
    of the user's roles holds its permission (403 otherwise)."""

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not request.user or not request.user.is_authenticated:
            return False  # DRF answers 401 with the WWW-Authenticate header
        if getattr(view, "action", "") is None:
            return True  # a method the endpoint does not have: the view answers 405
        rule = rule_for(view)
        if rule is None:
            raise PermissionDenied("This operation is not available through the API.")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and rule.action not in token.actions:
            raise PermissionDenied(
                f"This API token may not {ACTION_WORDS[rule.action]}; ask an administrator for "
                "a token that allows it.",
                "token_action",
            )
        if rule.permission and not role_allows(request.user, rule.permission):
            raise PermissionDenied("Your role does not allow this operation.", "role")
        return True

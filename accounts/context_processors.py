from django.http import HttpRequest

from accounts.roles import ROLE_LABELS, Role, roles_of


def roles(request: HttpRequest) -> dict[str, object]:
    """Expose the current user's roles to templates (for navigation only, never for access)."""
    held = roles_of(request.user)
    return {
        "user_roles": {role.value for role in held},
        "user_role_labels": [ROLE_LABELS[r] for r in Role if r in held],
    }

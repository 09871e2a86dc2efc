from django import template

from accounts.roles import ROLE_LABELS, Role

register = template.Library()


@register.filter
def role_label(group_name: str) -> str:
    """A role group's name as people read it: 'api_client' -> 'API client'."""
    try:
        return ROLE_LABELS[Role(group_name)]
    except ValueError:
        return group_name

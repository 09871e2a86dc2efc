from django import template

register = template.Library()


@register.filter
def change(value: object) -> str:
    """Render a recorded change: [before, after] as "before → after", lists as comma lists."""
    if isinstance(value, list) and len(value) == 2:
        return f"{_plain(value[0])} → {_plain(value[1])}"
    return _plain(value)


def _plain(value: object) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    return str(value)

from django import template

register = template.Library()

ICDR_NAMES = {
    "0": "No apparent DR",
    "1": "Mild NPDR",
    "2": "Moderate NPDR",
    "3": "Severe NPDR",
    "4": "Proliferative DR",
    "U": "Ungradable",
}


@register.filter
def icdr_name(grade: object) -> str:
    """'2' or 2 -> 'Moderate NPDR'; 'U' -> 'Ungradable'."""
    return ICDR_NAMES.get(str(grade), "")


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"

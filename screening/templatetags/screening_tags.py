from django import template

from screening.rules import grade_label

register = template.Library()


@register.filter
def icdr_name(grade: object) -> str:
    """Grade 2 (or its code '2') -> 'Moderate NPDR'; U -> 'Ungradable'; no grade -> ''."""
    return grade_label(grade)


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"

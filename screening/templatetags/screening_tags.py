from django import template

from screening.rules import UNGRADABLE, Grade, grade_label

register = template.Library()

# Names by stored code, derived from screening.rules (for code that has a code in hand; the
# rules' `grade_label` is the one to call).
ICDR_NAMES = {grade.code: grade.label for grade in [*Grade, UNGRADABLE]}


@register.filter
def icdr_name(grade: object) -> str:
    """Grade 2 (or its code '2') -> 'Moderate NPDR'; U -> 'Ungradable'; no grade -> ''."""
    return grade_label(grade)


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"

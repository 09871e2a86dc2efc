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


# --- human labels for the trail's codes (issue 13: no raw codes on screen) ------------------------

OUTCOME_FIELDS = {"outcome", "recommended_outcome"}
GRADE_FIELDS = {"grade", "overall_grade", "ai_grade", "ai_overall_grade"}


@register.filter
def record_type(object_type: str) -> str:
    """'screening.eyereading' -> 'Eye reading' (the model's verbose name)."""
    from django.apps import apps

    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return object_type
    name = str(model._meta.verbose_name)
    return name[:1].upper() + name[1:]


@register.filter
def action_label(action: str) -> str:
    """'review.sign_off' -> 'Review: sign off'."""
    subject, _, verb = action.partition(".")
    subject = subject.replace("_", " ")
    if not verb:
        return subject[:1].upper() + subject[1:]
    return f"{subject[:1].upper()}{subject[1:]}: {verb.replace('_', ' ')}"


@register.filter
def field_label(field: str) -> str:
    """'recommended_outcome' -> 'Recommended outcome'."""
    text = str(field).replace("_", " ")
    return text[:1].upper() + text[1:]


@register.filter
def field_change(value: object, field: str) -> str:
    """A change of one field with codes shown as people read them: an outcome rule's key as its
    label, a grade code as "2 · Moderate NPDR"; otherwise as `change`."""
    if field in OUTCOME_FIELDS:
        value = _map(value, _outcome_label)
    elif field in GRADE_FIELDS:
        value = _map(value, _grade_label)
    return change(value)


def _map(value: object, label: object) -> object:
    if isinstance(value, list):
        return [label(v) if v not in (None, "") else v for v in value]  # type: ignore[operator]
    return label(value) if value not in (None, "") else value  # type: ignore[operator]


def _outcome_label(key: object) -> str:
    from screening.models import OutcomeRule

    rule = OutcomeRule.objects.filter(key=str(key)).only("label").first()
    return rule.label if rule else str(key)


def _grade_label(code: object) -> str:
    from screening.rules import parse_grade

    try:
        grade = parse_grade(str(code))
    except ValueError:
        return str(code)
    return f"{code} · {grade.label}" if grade is not None else str(code)

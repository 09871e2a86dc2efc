"""GradeField: where a grade meets the database (stored as its code, read as a screening.rules
grade)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from screening.rules import EyeGrade, grade_code, parse_grade


class _GradeAttribute(DeferredAttribute):
    """Whatever is assigned ("2", 2, Grade.MODERATE) is held as the grade, so an instance never
    carries a grade as a bare string; an assignment that is not a grade raises ValueError."""

    def __set__(self, instance: models.Model, value: object) -> None:
        instance.__dict__[self.field.attname] = parse_grade(value)


class GradeField(models.CharField):
    """An ICDR grade 0-4 or U (screening.rules.EyeGrade), stored as its code; an empty column is
    None ("no grade yet")."""

    descriptor_class = _GradeAttribute
    description = "An ICDR grade (0-4) or U, stored as its code"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 1)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        # Migrations see the column as what it is, one character of text: historical models (and
        # so data migrations) read the codes, and the schema needs no migration of its own.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> EyeGrade | None:
        return parse_grade(value)

    def to_python(self, value: object) -> EyeGrade | None:
        try:
            return parse_grade(value)
        except ValueError as error:
            raise ValidationError(str(error), code="invalid") from error

    def get_prep_value(self, value: object) -> str:
        return grade_code(self.to_python(value))

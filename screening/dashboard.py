"""Screening statistics for doctors and admins, computed in the web process with plain Python and
numpy (never TensorFlow or ml/), and laid out as server-rendered SVG bar charts (no JavaScript, no
inline styles: the templates draw rectangles from the coordinates computed here)."""

import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.db.models import Count, Min
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts.models import User
from accounts.roles import sites_for
from screening.models import EyeReading, SignOff, Visit
from screening.rules import UNGRADABLE, Grade, parse_grade

GRADES = [grade.code for grade in Grade]  # as stored
WEEKS = 12
CHART_WIDTH, CHART_HEIGHT = 600, 180
KAPPA_MIN_EYES = 30  # below this, a kappa says little: the page says so beside it


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label_x(self) -> float:
        return self.x + self.width / 2


def bar_chart(values: list[tuple[str, int]]) -> dict[str, Any]:
    """Bars scaled into a CHART_WIDTH x CHART_HEIGHT plot (labels below, values above)."""
    top = max((v for _, v in values), default=0) or 1
    slot = CHART_WIDTH / max(len(values), 1)
    bars = [
        Bar(
            label=label,
            value=value,
            x=round(i * slot + slot * 0.15, 1),
            y=round(20 + (CHART_HEIGHT - 20) * (1 - value / top), 1),
            width=round(slot * 0.7, 1),
            height=round((CHART_HEIGHT - 20) * value / top, 1),
        )
        for i, (label, value) in enumerate(values)
    ]
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT + 30, "base": CHART_HEIGHT}


def quadratic_weighted_kappa(confusion: np.ndarray) -> float | None:
    """Cohen's kappa with quadratic weights from a K x K confusion matrix (rows: rater A)."""
    observed = confusion.astype(float)
    total = observed.sum()
    if total == 0:
        return None
    k = observed.shape[0]
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    denominator = (weights * expected).sum()
    if denominator == 0:
        return 1.0 if (weights * observed).sum() == 0 else None
    return float(1 - (weights * observed).sum() / denominator)


def confusion_matrix(pairs: list[tuple[str, str]]) -> np.ndarray:
    """5 x 5 counts of (AI grade, doctor grade) pairs (stored codes) of gradable eyes."""
    matrix = np.zeros((len(Grade), len(Grade)), dtype=int)
    for ai, doctor in pairs:
        matrix[_gradable(ai).level, _gradable(doctor).level] += 1
    return matrix


def _gradable(code: str) -> Grade:
    grade = parse_grade(code)
    if not isinstance(grade, Grade):
        raise ValueError(f"{code!r} is not the grade of a gradable eye")
    return grade


def dashboard_context(user: User) -> dict[str, Any]:
    """Visits per week, grade distribution, referral rate, AI-versus-doctor agreement and median
    upload-to-sign-off time at the sites the user may see."""
    sites = sites_for(user)
    today = timezone.localdate()
    start = today - timedelta(weeks=WEEKS - 1, days=today.weekday())
    per_week = dict(
        Visit.objects.filter(site__in=sites, visit_date__gte=start)
        .annotate(week=TruncWeek("visit_date"))
        .values_list("week")
        .annotate(n=Count("pk"))
        .values_list("week", "n")
    )
    weeks = [start + timedelta(weeks=w) for w in range(WEEKS)]
    week_counts = [(f"{w.day} {w:%b}", _count_for(per_week, w)) for w in weeks]  # "5 Oct"

    signed = SignOff.objects.filter(visit__site__in=sites)
    by_grade = dict(signed.values_list("review__overall_grade").annotate(n=Count("pk")).order_by())
    grade_counts = [(g, by_grade.get(g, 0)) for g in [*GRADES, UNGRADABLE.code]]
    total_signed = sum(by_grade.values())
    referred = signed.filter(review__outcome__referral=True).count()

    pairs = list(
        EyeReading.objects.filter(review__in=signed.values("review"))
        .filter(gradable=True, ai_grade__in=GRADES)
        .values_list("ai_grade", "grade")
    )
    matrix = confusion_matrix(pairs)
    kappa = quadratic_weighted_kappa(matrix)
    durations = [
        (signed_at - uploaded).total_seconds()
        for signed_at, uploaded in signed.annotate(first=Min("visit__images__uploaded_at"))
        .filter(first__isnull=False)
        .values_list("signed_at", "first")
    ]
    return {
        "weeks_chart": bar_chart(week_counts),
        "grades_chart": bar_chart(grade_counts),
        "total_signed": total_signed,
        "referred": referred,
        "referral_rate": referred / total_signed if total_signed else None,
        "kappa": kappa,
        "eyes_compared": len(pairs),
        "exact_agreement": float(np.trace(matrix) / matrix.sum()) if pairs else None,
        "confusion": _confusion_rows(matrix),
        "median_turnaround": duration_label(statistics.median(durations)) if durations else None,
        "kappa_few_eyes": len(pairs) < KAPPA_MIN_EYES,
    }


def duration_label(seconds: float) -> str:
    """A turnaround a person reads at a glance: minutes under an hour, hours under two days,
    then days ("3 min", "5.2 h", "3.1 days")."""
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _count_for(per_week: dict[Any, int], week: Any) -> int:
    for key, n in per_week.items():
        if (key.date() if hasattr(key, "date") else key) == week:
            return n
    return 0


def _confusion_rows(matrix: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the confusion table, each cell with a shade level 0-4 (a CSS class)."""
    top = int(matrix.max()) or 1
    return [
        {
            "ai": GRADES[i],
            "cells": [
                {"n": int(n), "shade": _shade(int(n), top), "diag": i == j}
                for j, n in enumerate(row)
            ],
        }
        for i, row in enumerate(matrix)
    ]


def _shade(n: int, top: int) -> int:
    return 0 if n == 0 else 1 + min(3, int(3 * n / top))

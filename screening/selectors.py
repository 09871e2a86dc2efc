"""Every read of visits and images, already scoped to the sites the user may see."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from accounts.roles import sites_for
from patients.models import Patient
from screening.models import Eye, FundusImage, GradingJob, Visit


def visits_for_user(user: User) -> QuerySet[Visit]:
    return Visit.objects.filter(site__in=sites_for(user)).select_related(
        "patient", "site", "captured_by"
    )


def visits_for_patient(*, user: User, patient: Patient) -> QuerySet[Visit]:
    return visits_for_user(user).filter(patient=patient).annotate(image_count=Count("images"))


def get_visit_for_user(user: User, pk: int) -> Visit:
    """The visit, or 404 when it does not exist or is at a site the user cannot see."""
    return get_object_or_404(visits_for_user(user), pk=pk)


def images_for_visit(visit: Visit) -> QuerySet[FundusImage]:
    return visit.images.select_related("uploaded_by").order_by("eye", "field", "uploaded_at")


@dataclass(frozen=True)
class ImageRow:
    image: FundusImage
    job: GradingJob | None


def eyes_with_results(visit: Visit) -> list[tuple[str, list[ImageRow]]]:
    """The visit's images per eye (right first), each with its most recent grading job."""
    jobs = GradingJob.objects.filter(image__visit=visit).order_by("image_id", "-queued_at")
    latest: dict[uuid.UUID, GradingJob] = {}
    for job in jobs:
        latest.setdefault(job.image_id, job)
    rows = [ImageRow(image, latest.get(image.pk)) for image in images_for_visit(visit)]
    return [(label, [r for r in rows if r.image.eye == value]) for value, label in Eye.choices]


def grading_in_progress(eyes: list[tuple[str, list[ImageRow]]]) -> bool:
    return any(row.job and not row.job.is_finished for _, rows in eyes for row in rows)


def latest_heatmap_job(image: FundusImage) -> GradingJob:
    job = (
        image.grading_jobs.filter(status=GradingJob.Status.SUCCEEDED)
        .exclude(heatmap="")
        .order_by("-finished_at")
        .first()
    )
    if job is None:
        raise Http404("No heatmap for this image yet.")
    return job


def get_image_for_user(user: User, pk: uuid.UUID) -> FundusImage:
    return get_object_or_404(
        FundusImage.objects.filter(visit__site__in=sites_for(user)).select_related("visit"), pk=pk
    )


def recent_visits(*, user: User, limit: int = 10) -> QuerySet[Visit]:
    return visits_for_user(user).annotate(image_count=Count("images"))[:limit]


def grading_overview(*, since_hours: int = 24) -> dict[str, object]:
    """Jobs per status, broker queue depth, and upload-to-result latency of recent jobs."""
    counts = dict(
        GradingJob.objects.values_list("status").annotate(n=Count("pk")).order_by("status")
    )
    since = timezone.now() - timedelta(hours=since_hours)
    finished = GradingJob.objects.filter(finished_at__gte=since, status=GradingJob.Status.SUCCEEDED)
    latencies = sorted(
        (done - queued).total_seconds()
        for queued, done in finished.values_list("queued_at", "finished_at")[:10_000]
    )
    return {
        "counts": [(label, counts.get(value, 0)) for value, label in GradingJob.Status.choices],
        "queue_depth": broker_queue_depth(),
        "finished_recently": len(latencies),
        "latency_p50": _percentile(latencies, 50),
        "latency_p95": _percentile(latencies, 95),
        "recent_failures": GradingJob.objects.filter(status=GradingJob.Status.FAILED)
        .select_related("image__visit")
        .order_by("-finished_at")[:10],
        "since_hours": since_hours,
    }


def broker_queue_depth(queue: str = "grading") -> int | None:
    """Messages waiting in the broker's grading queue; None when the broker cannot be reached."""
    from dr_portal.celery import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            return channel.queue_declare(queue=queue, durable=True, auto_delete=False).message_count
    except Exception:  # an unreachable broker is shown on the page, not raised
        return None


def _percentile(sorted_values: list[float], pct: int) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]

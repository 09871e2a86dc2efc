"""Every read of visits and images, already scoped to the sites the user may see."""

import statistics
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_stubs_ext import WithAnnotations

from accounts.models import Site, User
from accounts.roles import sites_for
from patients.models import Patient
from screening.models import (
    Addendum,
    Eye,
    EyeReading,
    Field,
    FundusImage,
    GradingJob,
    Review,
    SignOff,
    Visit,
)
from screening.rules import (
    EYES,
    SOON_WITHIN_WEEKS,
    UNGRADABLE,
    URGENT_WITHIN_WEEKS,
    AiEyeResult,
    AiImageResult,
    EyeGrade,
    SecondReaderPolicy,
    Urgency,
    ai_eye_result,
    ai_image_result,
    disagreeing_eyes,
    disagreeing_eyes_with_ai,
)


def visits_for_user(user: User) -> QuerySet[Visit]:
    return Visit.objects.filter(site__in=sites_for(user)).select_related(
        "patient", "site", "captured_by"
    )


def visits_for_patient(*, user: User, patient: Patient) -> QuerySet[Visit]:
    amended = Exists(Addendum.objects.filter(visit=OuterRef("pk")))
    return (
        visits_for_user(user)
        .filter(patient=patient)
        .annotate(image_count=Count("images"), amended=amended)
    )


def get_visit_for_user(user: User, pk: int) -> Visit:
    """The visit, or 404 when it does not exist or is at a site the user cannot see."""
    return get_object_or_404(visits_for_user(user), pk=pk)


def images_for_visit(visit: Visit) -> QuerySet[FundusImage]:
    # Macula-centred photographs before disc-centred ones ("disc" sorts first alphabetically).
    macula_first = Case(When(field=Field.MACULA, then=0), default=1)
    return visit.images.select_related("uploaded_by").order_by("eye", macula_first, "uploaded_at")


@dataclass(frozen=True)
class ImageRow:
    image: FundusImage
    job: GradingJob | None


# --- the latest grading of each image ----------------------------------------------------------
# One rule for every page, the API and sign-off: an image's latest grading is its most recently
# queued job (the newest primary key breaks a tie).


NEWEST_GRADING_FIRST = ("-queued_at", "-pk")


def with_gradings(images: QuerySet[FundusImage]) -> QuerySet[FundusImage]:
    """The images with their grading jobs prefetched newest first (read with `latest_grading`)."""
    newest_first = GradingJob.objects.order_by(*NEWEST_GRADING_FIRST)
    return images.prefetch_related(
        Prefetch("grading_jobs", queryset=newest_first, to_attr="gradings_newest_first")
    )


def latest_grading(image: FundusImage) -> GradingJob | None:
    """The image's latest grading job (None before one is queued); no query after
    `with_gradings`."""
    jobs = getattr(image, "gradings_newest_first", None)
    if jobs is None:
        return image.grading_jobs.order_by(*NEWEST_GRADING_FIRST).first()
    return jobs[0] if jobs else None


def latest_gradings(visit: Visit) -> dict[FundusImage, GradingJob | None]:
    """Each image of the visit with its latest grading job (None if it has none)."""
    return {image: latest_grading(image) for image in with_gradings(visit.images.all())}


def eyes_with_results(visit: Visit) -> list[tuple[str, list[ImageRow]]]:
    """The visit's images per eye (right first), each with its latest grading job."""
    images = with_gradings(images_for_visit(visit))
    rows = [ImageRow(image, latest_grading(image)) for image in images]
    return [(label, [r for r in rows if r.image.eye == value]) for value, label in Eye.choices]


def grading_in_progress(eyes: list[tuple[str, list[ImageRow]]]) -> bool:
    return any(row.job and not row.job.is_finished for _, rows in eyes for row in rows)


def heatmap_job(image: FundusImage, job_id: str | None = None) -> GradingJob:
    """The grading whose heatmap to serve: the one the page shows (`job_id`: a signed report
    shows the result it was signed with), else the image's latest grading; 404 without one."""
    if job_id:
        job = image.grading_jobs.filter(pk=int(job_id)).first() if job_id.isdigit() else None
    else:
        job = latest_grading(image)
    if job is None or job.status != GradingJob.Status.SUCCEEDED or not job.heatmap:
        raise Http404("No heatmap for this image yet.")
    return job


def get_image_for_user(user: User, pk: uuid.UUID) -> FundusImage:
    return get_object_or_404(
        FundusImage.objects.filter(visit__site__in=sites_for(user)).select_related("visit"), pk=pk
    )


def recent_visits(*, user: User, limit: int = 10) -> QuerySet[Visit]:
    """The user's newest visits first (the annotation drops the model's default ordering)."""
    visits = visits_for_user(user).annotate(image_count=Count("images"))
    return visits.order_by("-visit_date", "-created_at", "-pk")[:limit]


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
        if done is not None  # the filter above already requires it
    )
    return {
        "counts": [(label, counts.get(value, 0)) for value, label in GradingJob.Status.choices],
        "queue_depth": broker_queue_depth(),
        "finished_recently": len(latencies),
        "latency_p50": statistics.median(latencies) if latencies else None,
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
            # kombu's stubs type the channel as the abstract StdChannel; a real one declares queues.
            declared = channel.queue_declare(queue=queue, durable=True, auto_delete=False)  # type: ignore[attr-defined]
            return declared.message_count
    except Exception:  # an unreachable broker is shown on the page, not raised
        return None


def _percentile(sorted_values: list[float], pct: int) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


# --- doctors' review (issue 5) --------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewProgress:
    """Where a visit stands in the two-reader workflow.

    step: 'primary', 'second' or 'arbitration' (that reading is needed next), 'sign' (the final
    reading is in: `final` awaits its reader's signature) or 'signed'.
    """

    step: str
    reviews: dict[str, Review]
    final: Review | None = None
    reason: str = ""

    @property
    def reading_round(self) -> str | None:
        return self.step if self.step in Review.Round.values else None

    def open_review(self) -> Review | None:
        """The draft of the reading needed next, if a doctor has started it."""
        review = self.reviews.get(self.step)
        return review if review is not None and not review.is_submitted else None

    def has_read(self, user: User) -> bool:
        return any(r.reader_id == user.pk for r in self.reviews.values())


def review_progress(visit: Visit) -> ReviewProgress:
    """The next step of the visit's review. Uses `visit.reviews.all()` (prefetch it for lists)."""
    reviews = {r.round: r for r in visit.reviews.all()}
    if visit.status == Visit.Status.SIGNED and hasattr(visit, "sign_off"):
        return ReviewProgress("signed", reviews, final=visit.sign_off.review)
    Round = Review.Round
    primary, second = reviews.get(Round.PRIMARY), reviews.get(Round.SECOND)
    if primary is None or not primary.is_submitted:
        return ReviewProgress(Round.PRIMARY, reviews)
    ai = {eye: visit.ai_grade(eye) for eye in EYES}
    policy = second_reader_policy()
    eyes = disagreeing_eyes_with_ai(primary.eye_readings.all(), ai, policy)
    if not eyes:
        return ReviewProgress("sign", reviews, final=primary)
    why = f"The doctor's grade differs from the AI's ({', '.join(eyes)} eye)."
    if second is None or not second.is_submitted:
        return ReviewProgress(Round.SECOND, reviews, reason=why)
    eyes = disagreeing_eyes(primary.eye_readings.all(), second.eye_readings.all(), policy)
    if not eyes:
        return ReviewProgress("sign", reviews, final=second, reason=why)
    why = f"The two doctors disagree ({', '.join(eyes)} eye)."
    arbitration = reviews.get(Round.ARBITRATION)
    if arbitration is None or not arbitration.is_submitted:
        return ReviewProgress(Round.ARBITRATION, reviews, reason=why)
    return ReviewProgress("sign", reviews, final=arbitration, reason=why)


def second_reader_policy() -> SecondReaderPolicy:
    """The programme's second-reader settings (settings.REVIEW_SECOND_READER_*)."""
    return SecondReaderPolicy(
        step_diff=settings.REVIEW_SECOND_READER_STEP_DIFF,
        on_referable_change=settings.REVIEW_SECOND_READER_ON_REFERABLE_CHANGE,
        on_gradability_change=settings.REVIEW_SECOND_READER_ON_GRADABILITY_CHANGE,
    )


def _reviews_prefetch() -> Prefetch:
    return Prefetch(
        "reviews",
        queryset=Review.objects.select_related(
            "reader", "outcome", "recommended_outcome"
        ).prefetch_related("eye_readings"),
    )


def get_visit_for_review(user: User, pk: int) -> Visit:
    """The visit with its reviews and readings, or 404 outside the user's sites."""
    return get_object_or_404(
        visits_for_user(user).select_related("ai_outcome").prefetch_related(_reviews_prefetch()),
        pk=pk,
    )


class WorklistAnnotations(TypedDict):
    """What `review_worklist` adds to each visit."""

    image_count: int
    urgency_rank: int
    waiting_since: datetime
    urgent: bool


WORKLIST_SORTS = {
    "urgency": ["urgency_rank", "waiting_since", "pk"],
    "oldest": ["waiting_since", "pk"],
    "newest": ["-waiting_since", "-pk"],
}


def review_worklist(
    *,
    user: User,
    site: Site | None = None,
    search: str = "",
    sort: str = "urgency",
    referable_first: bool = False,
    ungradable_only: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
) -> "QuerySet[WithAnnotations[Visit, WorklistAnnotations]]":
    """Visits awaiting a doctor at the user's sites, by the urgency of the AI's suggested outcome
    (screening.rules.suggested_outcome; optionally the AI-referable ones before all), then the
    longest waiting. Each carries `urgency_rank`, `urgent`, `waiting_since`,
    `image_count` and its prefetched reviews (for `review_progress`)."""
    visits = (
        visits_for_user(user)
        .filter(status__in=[Visit.Status.AWAITING_REVIEW, Visit.Status.IN_REVIEW])
        .annotate(
            image_count=Count("images", distinct=True),
            waiting_since=Coalesce("ai_rolled_up_at", "created_at"),
            urgency_rank=_urgency_rank_sql(),
        )
        .annotate(
            urgent=Case(
                When(urgency_rank=Urgency.URGENT.rank, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .select_related("ai_outcome")
        .prefetch_related(_reviews_prefetch())
    )
    if site is not None:
        visits = visits.filter(site=site)
    if search:
        visits = visits.filter(_patient_matches(search))
    if ungradable_only:
        visits = visits.filter(_an_ungradable_eye())
    if date_from:
        visits = visits.filter(visit_date__gte=date_from)
    if date_to:
        visits = visits.filter(visit_date__lte=date_to)
    order: list[Any] = list(WORKLIST_SORTS.get(sort, WORKLIST_SORTS["urgency"]))
    if referable_first:
        order.insert(0, F("ai_referable").desc(nulls_last=True))
    return visits.order_by(*order)


def _patient_matches(search: str) -> Q:
    """Every word of the search matches the patient's given or family name, or their MRN."""
    match = Q()
    for word in search.split():
        match &= (
            Q(patient__given_name__icontains=word)
            | Q(patient__family_name__icontains=word)
            | Q(patient__mrn__icontains=word)
        )
    return match


def signed_by_user(*, user: User, search: str = "") -> QuerySet[Visit]:
    """The reports the user signed (at sites they still work at), newest signature first."""
    visits = (
        visits_for_user(user)
        .filter(status=Visit.Status.SIGNED, sign_off__signed_by=user)
        .select_related("sign_off", "sign_off__review__outcome")
        .annotate(image_count=Count("images", distinct=True))
    )
    if search:
        visits = visits.filter(_patient_matches(search))
    return visits.order_by("-sign_off__signed_at", "-pk")


def _urgency_rank_sql() -> Case:
    """screening.rules.outcome_urgency of the visit's AI outcome, as SQL so that the worklist can
    be ordered by it (tests/screening/test_suggested_outcome.py holds the two together); a visit
    without an outcome goes last."""
    refer = Q(ai_outcome__referral=True)
    weeks = "ai_outcome__refer_within_weeks"
    return Case(
        When(refer & Q(**{f"{weeks}__lte": URGENT_WITHIN_WEEKS}), then=Value(Urgency.URGENT.rank)),
        When(refer & Q(**{f"{weeks}__lte": SOON_WITHIN_WEEKS}), then=Value(Urgency.SOON.rank)),
        When(refer & Q(**{f"{weeks}__isnull": True}), then=Value(Urgency.REIMAGE.rank)),
        When(refer, then=Value(Urgency.ROUTINE.rank)),
        When(ai_outcome__referral=False, then=Value(Urgency.RECALL.rank)),
        default=Value(len(Urgency)),
        output_field=IntegerField(),
    )


def review_worklist_counts(user: User) -> dict[str, int]:
    """Counts of the user's whole worklist (before filters)."""
    waiting = visits_for_user(user).filter(
        status__in=[Visit.Status.AWAITING_REVIEW, Visit.Status.IN_REVIEW]
    )
    return waiting.aggregate(
        total=Count("pk"),
        awaiting=Count("pk", filter=Q(status=Visit.Status.AWAITING_REVIEW)),
        in_review=Count("pk", filter=Q(status=Visit.Status.IN_REVIEW)),
        referable=Count("pk", filter=Q(ai_referable=True)),
        ungradable=Count("pk", filter=_an_ungradable_eye()),
    )


def _an_ungradable_eye() -> Q:
    return Q(ai_grade_right=UNGRADABLE.code) | Q(ai_grade_left=UNGRADABLE.code)


def get_signed_visit_for_user(user: User, pk: int) -> Visit:
    """A signed visit (for its report), or 404 when unsigned or outside the user's sites."""
    return get_object_or_404(
        visits_for_user(user)
        .filter(status=Visit.Status.SIGNED, sign_off__isnull=False)
        .select_related("sign_off__signed_by", "sign_off__review", "patient__site")
        .prefetch_related(_reviews_prefetch()),
        pk=pk,
    )


def addenda_for_visit(visit: Visit) -> QuerySet[Addendum]:
    return visit.addenda.select_related("author").order_by("created_at", "pk")


def signed_ai_rows(visit: Visit) -> list[tuple[str, list[ImageRow]]]:
    """Per eye, each image with the AI result the report was signed with (not a later model's)."""
    job_ids = visit.sign_off.ai_jobs if hasattr(visit, "sign_off") else []
    jobs = {job.image_id: job for job in GradingJob.objects.filter(pk__in=job_ids)}
    rows = [ImageRow(image, jobs.get(image.pk)) for image in images_for_visit(visit)]
    return [(label, [r for r in rows if r.image.eye == value]) for value, label in Eye.choices]


# --- REST API (issue 6) ---------------------------------------------------------------------------


def visit_list(user: User) -> QuerySet[Visit]:
    """Visits the user may see, with their image count and AI outcome (no per-row queries)."""
    return (
        visits_for_user(user)
        .select_related("ai_outcome")
        .annotate(image_count=Count("images", distinct=True))
        .order_by("-visit_date", "-pk")
    )


def images_with_gradings(images: QuerySet[FundusImage]) -> QuerySet[FundusImage]:
    """Images in report order with their gradings prefetched (see `latest_grading`)."""
    return with_gradings(images).order_by("eye", "field", "uploaded_at")


class VisitImages(TypedDict):
    """What `get_visit_with_images_for_user` prefetches onto the visit."""

    image_list: list[FundusImage]


def get_visit_with_images_for_user(user: User, pk: int) -> "WithAnnotations[Visit, VisitImages]":
    """The visit with its images and their gradings prefetched; 404 outside the user's sites."""
    images = Prefetch(
        "images", queryset=images_with_gradings(FundusImage.objects.all()), to_attr="image_list"
    )
    return get_object_or_404(visit_list(user).prefetch_related(images), pk=pk)


def images_for_user(user: User) -> QuerySet[FundusImage]:
    return images_with_gradings(
        FundusImage.objects.filter(visit__site__in=sites_for(user)).select_related("visit")
    )


def get_image_with_gradings_for_user(user: User, pk: uuid.UUID | str) -> FundusImage:
    return get_object_or_404(images_for_user(user), pk=pk)


def gradings_of_image(image: FundusImage) -> QuerySet[GradingJob]:
    """Every model version's grading of the image, newest first."""
    return image.grading_jobs.order_by(*NEWEST_GRADING_FIRST)


@dataclass(frozen=True)
class SignedResult:
    """The doctors' decision on a signed visit, for pages that show it beside the AI's."""

    sign_off: SignOff
    eyes: list[tuple[str, EyeReading | None]]  # (label, reading), right eye first
    amended: bool


def signed_result(visit: Visit) -> SignedResult | None:
    """The signed reading of a visit, or None while it is not signed."""
    if not visit.is_locked:
        return None
    sign_off = (
        SignOff.objects.select_related("review__outcome", "signed_by")
        .filter(visit_id=visit.pk)
        .first()
    )
    if sign_off is None:
        return None
    readings = {r.eye: r for r in sign_off.review.eye_readings.all()}
    eyes = [("Right eye", readings.get("right")), ("Left eye", readings.get("left"))]
    return SignedResult(sign_off, eyes, Addendum.objects.filter(visit_id=visit.pk).exists())


# --- the image viewer: this visit beside the patient's previous one (issue 13) --------------------


def previous_visit(*, user: User, visit: Visit) -> Visit | None:
    """The patient's latest earlier visit with photographs that the user may see, or None.

    Earlier means an earlier visit date, or the same date and opened before (a lower pk). Scoped
    like every read: a visit at a site outside the user's sites is never returned.
    """
    earlier = Q(visit_date__lt=visit.visit_date) | Q(visit_date=visit.visit_date, pk__lt=visit.pk)
    return (
        visits_for_user(user)
        .filter(earlier, patient_id=visit.patient_id)
        .filter(Exists(FundusImage.objects.filter(visit=OuterRef("pk"))))
        .order_by("-visit_date", "-pk")
        .first()
    )


@dataclass(frozen=True)
class ShownGrade:
    """An eye's grade as the viewer shows it: the signed reading if there is one, else the AI's."""

    grade: EyeGrade | None
    signed: bool
    amended: bool = False  # signed, and the report has addenda since
    referable: bool | None = None  # the AI's screening decision (unsigned visits)

    @property
    def source(self) -> str:
        # A grade of the whole eye (all its photographs), not of the photograph it is shown under;
        # the AI's is the one its model ranks first (screening.rules.ai_eye_result).
        return "Signed grade of the eye" if self.signed else "AI for the eye, most likely grade"


@dataclass(frozen=True)
class ViewerPhoto:
    image: FundusImage
    previous: FundusImage | None  # the previous visit's photograph of the same eye and field


@dataclass(frozen=True)
class ViewerEye:
    eye: str
    label: str
    photos: list[ViewerPhoto]
    grade: ShownGrade
    previous_grade: ShownGrade | None


@dataclass(frozen=True)
class ViewerContent:
    visit: Visit
    previous: Visit | None
    eyes: list[ViewerEye]

    @property
    def has_photos(self) -> bool:
        return any(eye.photos for eye in self.eyes)

    @property
    def has_comparison(self) -> bool:
        return any(photo.previous for eye in self.eyes for photo in eye.photos)


VIEWER_EYES = (("right", "Right eye (OD)"), ("left", "Left eye (OS)"))


def shown_grades(visit: Visit) -> dict[str, ShownGrade]:
    """Each eye's signed grade when the visit is signed, else the AI's grade (None before it)."""
    signed = signed_result(visit)
    if signed is None:
        if visit.ai_rolled_up_at is None:
            return {eye: ShownGrade(None, signed=False) for eye in EYES}
        ai = _ai_eyes(visit)
        return {
            eye: ShownGrade(ai[eye].likely_grade, signed=False, referable=ai[eye].referable)
            for eye in EYES
        }
    readings = dict(zip(EYES, (reading for _, reading in signed.eyes), strict=True))
    return {
        eye: ShownGrade(reading.eye_grade if reading else None, signed=True, amended=signed.amended)
        for eye, reading in readings.items()
    }


def _ai_eyes(visit: Visit) -> dict[str, AiEyeResult]:
    """Each eye's AI result from its photographs' latest gradings (screening.rules)."""
    results: dict[str, list[AiImageResult]] = {eye: [] for eye in EYES}
    for image, job in latest_gradings(visit).items():
        if job is not None and job.status == GradingJob.Status.SUCCEEDED and job.gradable:
            result = ai_image_result(
                probabilities=job.probabilities,
                referable_probability=job.referable_probability,
                referable=job.referable,
                threshold=job.referable_threshold,
            )
            if result is not None:
                results[image.eye].append(result)
    return {eye: ai_eye_result(found) for eye, found in results.items()}


def viewer_content(*, user: User, visit: Visit) -> ViewerContent:
    """The visit's photographs per eye (right first), each beside the previous visit's photograph
    of the same eye and field (its latest upload), with both visits' grades."""
    previous = previous_visit(user=user, visit=visit)
    earlier: dict[tuple[str, str], FundusImage] = {}
    if previous is not None:
        for image in images_for_visit(previous):  # oldest upload first: the latest one stays
            earlier[(image.eye, image.field)] = image
    images = list(images_for_visit(visit))
    grades = shown_grades(visit)
    previous_grades = shown_grades(previous) if previous is not None else {}
    eyes = [
        ViewerEye(
            eye=eye,
            label=label,
            photos=[
                ViewerPhoto(image, earlier.get((image.eye, image.field)))
                for image in _macula_first(images)
                if image.eye == eye
            ],
            grade=grades[eye],
            previous_grade=previous_grades.get(eye),
        )
        for eye, label in VIEWER_EYES
    ]
    return ViewerContent(visit=visit, previous=previous, eyes=eyes)


def _macula_first(images: list[FundusImage]) -> list[FundusImage]:
    order = {value: index for index, value in enumerate(Field.values)}  # macula-centred first
    return sorted(images, key=lambda image: order.get(image.field, len(order)))

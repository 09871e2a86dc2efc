"""Doctors' worklist, review, sign-off and addenda; the signed report and patient letter (HTML and
PDF); the screening dashboard. Views parse input, call one service or selector, and render."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import role_required
from accounts.http import AuthenticatedHttpRequest
from accounts.roles import READ_ROLES, Role, sites_for
from audit.services import AuditContext, audit_record
from screening.dashboard import dashboard_context
from screening.models import Dme, OutcomeRule, Review, Visit
from screening.reports import letter_pdf, letter_text, report_pdf
from screening.review_forms import (
    AddendumForm,
    EyeReadingForm,
    ReviewSubmitForm,
    SignOffForm,
    WorklistFilterForm,
)
from screening.rules import EYES, agree_with_ai, review_summary
from screening.selectors import (
    ReviewProgress,
    eyes_with_results,
    get_signed_visit_for_user,
    get_visit_for_review,
    review_progress,
    review_worklist,
    review_worklist_counts,
    viewer_content,
)
from screening.services.review import (
    addendum_add,
    eye_reading_record,
    review_sign_off,
    review_start,
    review_submit,
    review_withdraw,
)
from screening.signed_report import signed_report

WORKLIST_PAGE_SIZE = 50


@role_required(Role.DOCTOR)
def worklist(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Visits waiting for a doctor at the user's sites: urgent first, then oldest first."""
    form = WorklistFilterForm(request.GET or None, sites=sites_for(request.user))
    filters = form.cleaned_data if form.is_valid() else {}
    visits = review_worklist(
        user=request.user,
        site=filters.get("site"),
        referable_first=filters.get("referable_first", False),
        ungradable_only=filters.get("ungradable", False),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(visits, WORKLIST_PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows: list[dict[str, Any]] = [
        {"visit": v, "progress": review_progress(v), "waiting": now - v.waiting_since} for v in page
    ]
    return render(
        request,
        "screening/review/worklist.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "counts": review_worklist_counts(request.user),
            "urgent_count": sum(1 for r in rows if r["visit"].urgent),
        },
    )


@role_required(Role.DOCTOR)
def review_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Both eyes side by side with the AI's results; the doctor's draft reading (GET), or one eye
    of it recorded (POST)."""
    visit = get_visit_for_review(request.user, pk)
    progress = review_progress(visit)
    draft = _own_draft(progress, request)
    if request.method == "POST":
        if draft is None:
            messages.error(request, "Start a reading first.")
            return redirect("screening:review", pk=visit.pk)
        eye = request.POST.get("eye")
        if eye in ("right", "left"):
            form = EyeReadingForm(request.POST, prefix=eye)
            if _record_eye(request, visit, draft, eye, form):
                return redirect("screening:review", pk=visit.pk)
    audit_record(actor=request.user, action="visit.review_view", obj=visit, request=request)
    context = _review_context(visit, progress, draft)
    context["has_read"] = progress.has_read(request.user)
    context["viewer"] = viewer_content(user=request.user, visit=visit)
    return render(request, "screening/review/review.html", context)


def _own_draft(progress: ReviewProgress, request: HttpRequest) -> Review | None:
    draft = progress.open_review()
    return draft if draft is not None and draft.reader_id == request.user.pk else None


def _record_eye(
    request: AuthenticatedHttpRequest, visit: Visit, draft: Review, eye: str, form: EyeReadingForm
) -> bool:
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{eye.title()} eye not saved: {label} {error}".strip())
        return False
    data = dict(form.cleaned_data)
    if request.POST.get("agree"):
        agreed = agree_with_ai(visit.ai_grade(eye))
        data["gradable"], data["grade"] = agreed.gradable, agreed.grade
        data["ungradable_reason"] = agreed.ungradable_reason
        data["dme"] = agreed.dme or data["dme"]
    if not data["gradable"] and not data["dme"]:
        data["dme"] = Dme.NOT_ASSESSABLE
    if not data["dme"]:
        messages.error(
            request,
            f"{eye.title()} eye not saved: choose whether diabetic macular oedema is present, "
            "absent or not assessable.",
        )
        return False
    try:
        eye_reading_record(
            actor=request.user,
            review=draft,
            eye=eye,
            audit=AuditContext.from_request(request),
            **data,
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, f"{eye.title()} eye not saved: {message}")
        return False
    messages.success(request, f"{eye.title()} eye recorded.")
    return True


def _review_context(
    visit: Visit, progress: ReviewProgress, draft: Review | None
) -> dict[str, object]:
    readings = {r.eye: r for r in draft.eye_readings.all()} if draft else {}
    eye_forms = {}
    for eye in EYES:
        reading = readings.get(eye)
        initial = (
            {
                "gradable": "yes" if reading.gradable else "no",
                "grade": reading.grade,
                "dme": reading.dme,
                "ungradable_reason": reading.ungradable_reason,
                "comment": reading.comment,
            }
            if reading
            else {"gradable": "yes" if agree_with_ai(visit.ai_grade(eye)).gradable else "no"}
        )
        eye_forms[eye] = EyeReadingForm(prefix=eye, initial=initial)
    images = dict(eyes_with_results(visit))
    eyes = [
        {
            "eye": eye,
            "label": label,
            "ai_grade": visit.ai_grade(eye),
            "rows": images.get(label, []),
            "form": eye_forms[eye],
            "reading": readings.get(eye),
        }
        for eye, label in (("right", "Right eye (OD)"), ("left", "Left eye (OS)"))
    ]
    summary = review_summary(readings.values()) if len(readings) == 2 else None
    # Blind second reading: while it is needed, nobody's page shows another doctor's grades.
    visible = [r for r in progress.reviews.values() if r.is_submitted and progress.step != "second"]
    return {
        "visit": visit,
        "progress": progress,
        "draft": draft,
        "eyes": eyes,
        "summary": summary,
        "summary_outcome": (
            OutcomeRule.objects.filter(key=summary.outcome_key).first() if summary else None
        ),
        "submit_form": ReviewSubmitForm() if summary else None,
        "visible_reviews": visible,
    }


@require_POST
@role_required(Role.DOCTOR)
def review_start_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_visit_for_review(request.user, pk)
    try:
        review = review_start(
            actor=request.user, visit=visit, audit=AuditContext.from_request(request)
        )
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, f"{review.get_round_display()} started.")
    return redirect("screening:review", pk=visit.pk)


@require_POST
@role_required(Role.DOCTOR)
def review_withdraw_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Withdraw the open draft reading (one's own, or another doctor's left too long)."""
    visit = get_visit_for_review(request.user, pk)
    draft = review_progress(visit).open_review()
    if draft is None:
        messages.error(request, "There is no draft reading to withdraw.")
        return redirect("screening:review", pk=visit.pk)
    try:
        review_withdraw(actor=request.user, review=draft, audit=AuditContext.from_request(request))
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, f"{draft.get_round_display()} by {draft.reader} withdrawn.")
    return redirect("screening:review", pk=visit.pk)


@require_POST
@role_required(Role.DOCTOR)
def review_submit_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_visit_for_review(request.user, pk)
    draft = _own_draft(review_progress(visit), request)
    form = ReviewSubmitForm(request.POST)
    if draft is None or not form.is_valid():
        messages.error(request, "There is no reading of yours to submit.")
        return redirect("screening:review", pk=visit.pk)
    try:
        review_submit(
            actor=request.user,
            review=draft,
            audit=AuditContext.from_request(request),
            **form.cleaned_data,
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, f"Not submitted: {message}")
        return redirect("screening:review", pk=visit.pk)
    progress = review_progress(get_visit_for_review(request.user, pk))
    final = progress.final
    if progress.step == "sign" and final is not None and final.reader_id == request.user.pk:
        messages.success(request, "Reading submitted. Sign the report to finish.")
        return redirect("screening:sign_off", pk=visit.pk)
    messages.success(request, f"Reading submitted. {progress.reason} Another doctor reads next.")
    return redirect("screening:worklist")


@role_required(Role.DOCTOR)
def sign_off_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Confirm the final reading with the signing doctor's password; the report is then locked."""
    visit = get_visit_for_review(request.user, pk)
    progress = review_progress(visit)
    form = SignOffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            review_sign_off(
                actor=request.user,
                visit=visit,
                password=form.cleaned_data["password"],
                audit=AuditContext.from_request(request),
            )
        except ValidationError as error:
            form.add_error(None, error)
        except PermissionDenied as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Report signed. It can no longer be changed.")
            return redirect("screening:report", pk=visit.pk)
    return render(
        request,
        "screening/review/sign_off.html",
        {"visit": visit, "progress": progress, "final": progress.final, "form": form},
    )


@role_required(Role.DOCTOR)
def addendum_create_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_signed_visit_for_user(request.user, pk)
    form = AddendumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            addendum_add(
                actor=request.user,
                visit=visit,
                audit=AuditContext.from_request(request),
                **form.cleaned_data,
            )
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, " ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, "Addendum added to the report.")
            return redirect("screening:report", pk=visit.pk)
    return render(request, "screening/review/addendum_form.html", {"visit": visit, "form": form})


@role_required(*READ_ROLES)
def report_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_signed_visit_for_user(request.user, pk)
    audit_record(actor=request.user, action="report.view", obj=visit, request=request)
    return render(request, "screening/review/report.html", {"report": signed_report(visit)})


@role_required(*READ_ROLES)
def report_pdf_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_signed_visit_for_user(request.user, pk)
    audit_record(actor=request.user, action="report.download", obj=visit, request=request)
    return _pdf(report_pdf(signed_report(visit)), f"report-{visit.pk}.pdf")


@role_required(*READ_ROLES)
def letter_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_signed_visit_for_user(request.user, pk)
    audit_record(actor=request.user, action="letter.view", obj=visit, request=request)
    report = signed_report(visit)
    return render(
        request, "screening/review/letter.html", {"report": report, "letter": letter_text(report)}
    )


@role_required(*READ_ROLES)
def letter_pdf_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_signed_visit_for_user(request.user, pk)
    audit_record(actor=request.user, action="letter.download", obj=visit, request=request)
    return _pdf(letter_pdf(signed_report(visit)), f"letter-{visit.pk}.pdf")


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@role_required(Role.DOCTOR, Role.ADMIN)
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Screening statistics of the user's sites as server-rendered SVG charts."""
    return render(request, "screening/review/dashboard.html", dashboard_context(request.user))

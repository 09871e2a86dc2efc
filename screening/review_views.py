"""Doctors' worklist, review, sign-off and addenda; the signed report and patient letter (HTML and
PDF); the screening dashboard. Views parse input, call one service or selector, and render."""

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import role_required
from accounts.http import AuthenticatedHttpRequest
from accounts.models import User
from accounts.roles import READ_ROLES, Role, sites_for
from audit.services import AuditContext, audit_record
from screening.dashboard import dashboard_context
from screening.models import Dme, EyeReading, OutcomeRule, Review, Visit
from screening.reports import letter_pdf, letter_text, report_pdf
from screening.review_forms import (
    WORKLIST_TABS,
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
    signed_by_user,
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
EYE_FORM_ID = "eye-readings"  # the one <form> both eyes' fields belong to
READING_ROUNDS = ("primary", "second", "arbitration")


@role_required(Role.DOCTOR)
def worklist(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Visits at the user's sites in tabs: those the user can read next, their own drafts (and
    readings awaiting their signature), those awaiting a second reader, and the reports they
    signed. Searchable by patient name or MRN; sorted by urgency or by age."""
    form = WorklistFilterForm(request.GET or None, sites=sites_for(request.user))
    filters = form.cleaned_data if form.is_valid() else {}
    tab = filters.get("tab") or "to_read"
    search = filters.get("q", "")
    signed = signed_by_user(user=request.user, search=search)
    visits = review_worklist(
        user=request.user,
        site=filters.get("site"),
        search=search,
        sort=filters.get("sort") or "urgency",
        referable_first=filters.get("referable_first", False),
        ungradable_only=filters.get("ungradable", False),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    now = timezone.now()
    rows = [_worklist_row(request.user, visit, now) for visit in visits]
    tabs = {
        name: [row for row in rows if row["tab_" + name]]
        for name in ("to_read", "mine", "second", "all")
    }
    listing: Any = signed if tab == "signed" else tabs[tab]
    page = Paginator(listing, WORKLIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("tab", None)
    tab_counts = {name: len(tab_rows) for name, tab_rows in tabs.items()}
    tab_counts["signed"] = signed.count()
    return render(
        request,
        "screening/review/worklist.html",
        {
            "form": form,
            "tab": tab,
            "tabs": [
                {"name": name, "label": label, "count": tab_counts[name], "current": name == tab}
                for name, label in WORKLIST_TABS
            ],
            "query": query.urlencode(),
            "search": search,
            "page": page,
            "rows": list(page) if tab != "signed" else [],
            "signed_visits": list(page) if tab == "signed" else [],
            "counts": review_worklist_counts(request.user),
            "urgent_count": sum(1 for row in rows if row["visit"].urgent),
        },
    )


def _worklist_row(user: User, visit: Visit, now: datetime) -> dict[str, Any]:
    """A worklist row: where the visit stands, and what (if anything) this doctor can do with it."""
    progress = review_progress(visit)
    draft = progress.open_review()
    mine = (draft is not None and draft.reader_id == user.pk) or (
        progress.step == "sign"
        and progress.final is not None
        and progress.final.reader_id == user.pk
    )
    can_read = progress.step in READING_ROUNDS and draft is None and not progress.has_read(user)
    return {
        "visit": visit,
        "progress": progress,
        "waiting": now - visit.waiting_since,  # type: ignore[attr-defined]  # review_worklist's
        "can_act": mine or can_read,
        "has_read": progress.has_read(user),
        "tab_to_read": can_read,
        "tab_mine": mine,
        "tab_second": progress.step in ("second", "arbitration"),
        "tab_all": True,
    }


@role_required(Role.DOCTOR)
def review_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Both eyes side by side with the AI's results; the doctor's draft reading (GET), or one eye
    of it recorded (POST). A refused or invalid save shows the page again with the errors at the
    fields and everything entered for both eyes kept."""
    visit = get_visit_for_review(request.user, pk)
    progress = review_progress(visit)
    draft = _own_draft(progress, request)
    posted: dict[str, EyeReadingForm] = {}
    if request.method == "POST":
        eye = request.POST.get("eye") or request.POST.get("agree")
        if draft is None:
            messages.error(request, _refusal(visit, progress, request))
            return redirect("screening:review", pk=visit.pk)
        if eye in EYES:
            form = EyeReadingForm(request.POST, prefix=eye, form_id=EYE_FORM_ID)
            if _record_eye(request, visit, draft, eye, form):
                other = "left" if eye == "right" else "right"
                request.session[_unsaved_key(visit)] = {other: _entered(request, other)}
                return redirect(
                    reverse("screening:review", kwargs={"pk": visit.pk}) + f"#eye-{eye}"
                )
            posted[eye] = form
            other = "left" if eye == "right" else "right"
            posted[other] = EyeReadingForm(
                prefix=other, initial=_entered(request, other), form_id=EYE_FORM_ID
            )
    audit_record(actor=request.user, action="visit.review_view", obj=visit, request=request)
    unsaved = request.session.pop(_unsaved_key(visit), {}) if not posted else {}
    context = _review_context(visit, progress, draft, posted=posted, unsaved=unsaved)
    context["has_read"] = progress.has_read(request.user)
    context["viewer"] = viewer_content(user=request.user, visit=visit)
    return render(request, "screening/review/review.html", context)


def _unsaved_key(visit: Visit) -> str:
    return f"review-unsaved-{visit.pk}"


def _entered(request: HttpRequest, eye: str) -> dict[str, str]:
    """What the page held for one eye when another save was posted (kept, not saved)."""
    names = ("gradable", "grade", "dme", "ungradable_reason", "comment")
    return {
        name: request.POST[f"{eye}-{name}"] for name in names if f"{eye}-{name}" in request.POST
    }


def _refusal(
    visit: Visit,
    progress: ReviewProgress,
    request: AuthenticatedHttpRequest,
    otherwise: str = "Start a reading first.",
) -> str:
    """The real reason a doctor cannot change the reading of this visit (`otherwise` when the
    visit is open to them but they have no draft)."""
    if progress.step == "signed":
        return "This report is signed: it can no longer be changed. Add an addendum instead."
    if visit.status == "capturing":
        return "This visit is not ready for review: it has no photographs yet."
    if visit.status not in ("awaiting_review", "in_review"):
        return "This visit is not ready for review: AI grading has not finished."
    if progress.step == "sign" and progress.final is not None:
        if progress.final.reader_id == request.user.pk:
            return "Your reading is submitted and can no longer be changed; sign the report."
        return f"Every reading is in: {progress.final.reader} signs the report."
    draft = progress.open_review()
    if draft is not None:
        return f"{draft.reader} is doing this reading; only they can change it."
    if progress.has_read(request.user):
        return "You have already read this visit; the next reading must be by another doctor."
    return otherwise


def _own_draft(progress: ReviewProgress, request: HttpRequest) -> Review | None:
    draft = progress.open_review()
    return draft if draft is not None and draft.reader_id == request.user.pk else None


def _record_eye(
    request: AuthenticatedHttpRequest, visit: Visit, draft: Review, eye: str, form: EyeReadingForm
) -> bool:
    """Record one eye of the draft; on failure the errors are on the form's fields."""
    if not form.is_valid():
        messages.error(request, f"{eye.title()} eye not saved: see the marked fields.")
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
        form.add_error(
            "dme",
            "Choose whether diabetic macular oedema is present, absent or not assessable.",
        )
    else:
        try:
            eye_reading_record(
                actor=request.user,
                review=draft,
                eye=eye,
                audit=AuditContext.from_request(request),
                **data,
            )
        except ValidationError as error:
            for field, field_errors in _by_field(error).items():
                form.add_error(field if field in form.fields else None, field_errors)
    if form.errors:
        messages.error(request, f"{eye.title()} eye not saved: see the marked fields.")
        return False
    messages.success(request, f"{eye.title()} eye recorded.")
    return True


def _by_field(error: ValidationError) -> dict[str | None, list[str]]:
    if hasattr(error, "error_dict"):
        return {field: list(messages_) for field, messages_ in error.message_dict.items()}
    return {None: list(error.messages)}


def _saved_initial(reading: EyeReading) -> dict[str, object]:
    return {
        "gradable": "yes" if reading.gradable else "no",
        "grade": reading.grade,
        "dme": reading.dme,
        "ungradable_reason": reading.ungradable_reason,
        "comment": reading.comment,
    }


def _review_context(
    visit: Visit,
    progress: ReviewProgress,
    draft: Review | None,
    *,
    posted: dict[str, EyeReadingForm] | None = None,
    unsaved: dict[str, dict[str, str]] | None = None,
) -> dict[str, object]:
    readings = {r.eye: r for r in draft.eye_readings.all()} if draft else {}
    posted, unsaved = posted or {}, unsaved or {}
    eye_forms, has_unsaved = {}, {}
    for eye in EYES:
        reading = readings.get(eye)
        initial: dict[str, object] = (
            _saved_initial(reading)
            if reading
            else {"gradable": "yes" if agree_with_ai(visit.ai_grade(eye)).gradable else "no"}
        )
        kept = unsaved.get(eye) or {}
        has_unsaved[eye] = any(str(initial.get(k) or "") != v for k, v in kept.items())
        eye_forms[eye] = posted.get(eye) or EyeReadingForm(
            prefix=eye, initial={**initial, **kept}, form_id=EYE_FORM_ID
        )
    images = dict(eyes_with_results(visit))
    eyes = [
        {
            "eye": eye,
            "label": label,
            "ai_grade": visit.ai_grade(eye),
            "rows": images.get(label, []),
            "form": eye_forms[eye],
            "reading": readings.get(eye),
            "unsaved": has_unsaved[eye] or (eye in posted),
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
        "eye_form_id": EYE_FORM_ID,
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
    progress = review_progress(visit)
    draft = progress.open_review()
    if draft is None:
        messages.error(
            request,
            _refusal(visit, progress, request, otherwise="There is no draft reading to withdraw."),
        )
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
    progress = review_progress(visit)
    draft = _own_draft(progress, request)
    form = ReviewSubmitForm(request.POST)
    if draft is None:
        messages.error(
            request,
            _refusal(visit, progress, request, otherwise="There is no reading of yours to submit."),
        )
        return redirect("screening:review", pk=visit.pk)
    if not form.is_valid():
        messages.error(request, "Not submitted: choose an outcome from the list.")
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

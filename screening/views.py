import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import role_required
from accounts.http import AuthenticatedHttpRequest
from accounts.roles import READ_ROLES, Role
from audit.services import AuditContext, audit_record
from patients.selectors import get_patient_for_user
from screening.forms import ImageUploadForm, VisitForm
from screening.laterality import check_laterality
from screening.models import FundusImage, Visit
from screening.selectors import (
    eyes_with_results,
    get_image_for_user,
    get_visit_for_user,
    grading_in_progress,
    grading_overview,
    heatmap_job,
    signed_result,
    viewer_content,
)
from screening.services.images import DuplicateImageConflict, image_attach
from screening.services.visits import visit_create


@role_required(Role.NURSE)
def visit_create_view(request: AuthenticatedHttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_patient_for_user(request.user, patient_pk)
    form = VisitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            visit = visit_create(
                actor=request.user,
                patient=patient,
                audit=AuditContext.from_request(request),
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Visit opened. Now upload the photographs of each eye.")
            return redirect("screening:visit_detail", pk=visit.pk)
    return render(request, "screening/visit_form.html", {"form": form, "patient": patient})


@role_required(*READ_ROLES)
def visit_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    visit = get_visit_for_user(request.user, pk)
    audit_record(actor=request.user, action="visit.view", obj=visit, request=request)
    return render(
        request,
        "screening/visit_detail.html",
        {
            **_images_context(visit),
            "upload_form": ImageUploadForm(),
            "viewer": viewer_content(user=request.user, visit=visit),
        },
    )


@role_required(*READ_ROLES)
def visit_images_live(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The images section alone; the visit page polls it while grading is in progress."""
    visit = get_visit_for_user(request.user, pk)
    response = render(request, "screening/_images.html", _images_context(visit))
    response["Cache-Control"] = "no-store"
    return response


def _images_context(visit: Visit) -> dict[str, object]:
    eyes = eyes_with_results(visit)
    return {
        "signed": signed_result(visit),
        "visit": visit,
        "eyes": eyes,
        "image_count": sum(len(rows) for _, rows in eyes),
        "grading_in_progress": grading_in_progress(eyes),
    }


@require_POST
@role_required(Role.NURSE)
def image_upload_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Attach each uploaded file on its own: one bad file is reported and the others still land."""
    visit = get_visit_for_user(request.user, pk)
    form = ImageUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("screening:visit_detail", pk=visit.pk)
    for upload in form.cleaned_data["files"]:
        _attach_one(request, visit, upload, form.cleaned_data["eye"], form.cleaned_data["field"])
    return redirect("screening:visit_detail", pk=visit.pk)


def _attach_one(
    request: AuthenticatedHttpRequest, visit: Visit, upload: UploadedFile, eye: str, field: str
) -> None:
    try:
        _image, created = image_attach(
            actor=request.user,
            visit=visit,
            upload=upload,
            eye=eye,
            field=field,
            audit=AuditContext.from_request(request),
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, f"Not uploaded: {message}")
    except DuplicateImageConflict as conflict:
        messages.error(request, f"Not uploaded: “{upload.name}”. {conflict}")
    else:
        if created:
            messages.success(request, f"Uploaded “{upload.name}”.")
            _warn_if_other_eye(request, _image, upload.name or "", eye)
        else:
            messages.info(request, f"“{upload.name}” was already on this visit; kept one copy.")


def _warn_if_other_eye(request: HttpRequest, image: FundusImage, name: str, eye: str) -> None:
    """The laterality check (screening/laterality.py) on a one-at-a-time upload: after saving it
    can only warn; the batch page checks before anything is saved."""
    with image.file.open("rb") as stored:
        finding = check_laterality(stored.read())
    if finding.contradicts(eye):
        messages.warning(
            request,
            f"Check the eye of “{name}”: it was saved as the {eye} eye, but "
            f"{finding.label[0].lower()}{finding.label[1:]} If the tag is wrong, tell the reading "
            "doctor; “Upload all at once” checks the eye before saving.",
        )


@role_required(*READ_ROLES)
def image_file(request: AuthenticatedHttpRequest, pk: uuid.UUID, variant: str) -> FileResponse:
    """Serve a photograph or its thumbnail after checking role and site; never cached publicly."""
    image = get_image_for_user(request.user, pk)
    if variant == "heatmap":
        stored, content_type = heatmap_job(image, request.GET.get("job")).heatmap, "image/png"
    elif variant == "thumb":
        stored, content_type = image.thumbnail, "image/jpeg"
    else:
        stored, content_type = image.file, image.content_type
    response = FileResponse(stored.open("rb"), content_type=content_type)
    # Shared clinical workstations: never keep a photograph in the browser cache after logout.
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = f'inline; filename="{image.pk}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@role_required(Role.ADMIN)
def grading_dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Staff view of the grading pipeline: queue depth, jobs per status, latency, failures."""
    return render(request, "screening/grading_dashboard.html", grading_overview())

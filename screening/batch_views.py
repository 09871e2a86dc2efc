"""Uploading all of a visit's photographs in one go (issue 13, part 4).

The page (visit_upload.html with static/js/batch-upload.js) sends each file, as it is dropped, to
`batch_check`, which validates it and answers the laterality check, what the file name says and
a small preview; it stores nothing. The nurse tags every file and submits once to `batch_submit`,
which checks everything again and attaches all the files or none. The files stay in the browser
between the two steps, so a warning never loses them.
"""

import base64
import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from PIL import Image, ImageOps

from accounts.decorators import role_required
from accounts.models import User
from accounts.roles import Role
from audit.services import AuditContext
from screening.forms import BatchUploadFormSet
from screening.laterality import check_laterality, eye_in_filename, field_in_filename
from screening.models import Eye, Field, Visit
from screening.selectors import get_visit_for_user
from screening.services.image_batch import (
    MAX_BATCH_FILES,
    BatchItem,
    BatchRefused,
    ItemFate,
    image_batch_attach,
)
from screening.services.visits import ensure_visit_accepts_images
from screening.validators import validate_fundus_upload

PREVIEW_PX = 240


@role_required(Role.NURSE)
def batch_upload_page(request: HttpRequest, pk: int) -> HttpResponse:
    visit = get_visit_for_user(_nurse(request), pk)
    if not visit.accepts_images:
        messages.error(request, "This visit no longer accepts photographs.")
        return redirect("screening:visit_detail", pk=visit.pk)
    context = {
        "visit": visit,
        "max_files": MAX_BATCH_FILES,
        "eyes": Eye.choices,
        "fields": Field.choices,
    }
    return render(request, "screening/visit_upload.html", context)


@require_POST
@role_required(Role.NURSE)
def batch_check(request: HttpRequest, pk: int) -> JsonResponse:
    """Validate one file and say which eye it looks like; nothing is stored."""
    visit = get_visit_for_user(_nurse(request), pk)
    refusal = _refusal(visit) or _repeated_parts(request)
    if refusal:
        return refusal
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "No file was sent."}, status=400)
    name = upload.name or ""
    answer: dict[str, object] = {
        "name": name,
        "eye_from_name": eye_in_filename(name),
        "field_from_name": field_in_filename(name),
    }
    try:
        checked = validate_fundus_upload(upload)
    except ValidationError as error:
        return JsonResponse({**answer, "ok": False, "messages": error.messages})
    finding = check_laterality(checked.data)
    return JsonResponse(
        {
            **answer,
            "ok": True,
            "looks_like": finding.looks_like,
            "laterality": finding.label,
            "preview": _preview(checked.data),
        }
    )


@require_POST
@role_required(Role.NURSE)
def batch_submit(request: HttpRequest, pk: int) -> JsonResponse:
    """Attach every file of the batch, or none; answer each file's fate as JSON."""
    visit = get_visit_for_user(_nurse(request), pk)
    refusal = _refusal(visit) or _repeated_parts(request)
    if refusal:
        return refusal
    formset = BatchUploadFormSet(request.POST, request.FILES)
    if not formset.is_valid():
        files = [
            {"key": i, "status": "refused", "messages": [m for ms in f.errors.values() for m in ms]}
            for i, f in enumerate(formset.forms)
            if f.errors
        ]
        error = (
            " ".join(str(e) for e in formset.non_form_errors())
            or "Some files are not tagged: nothing saved."
        )
        return JsonResponse({"error": error, "files": files}, status=400)
    items = [
        BatchItem(
            key=i,
            upload=form.cleaned_data["file"],
            eye=form.cleaned_data["eye"],
            field=form.cleaned_data["field"],
            eye_confirmed=form.cleaned_data["eye_confirmed"],
        )
        for i, form in enumerate(formset.forms)
    ]
    try:
        fates = image_batch_attach(
            actor=_nurse(request),
            visit=visit,
            items=items,
            audit=AuditContext.from_request(request),
        )
    except BatchRefused as refused:
        return JsonResponse(
            {"error": str(refused), "files": [_fate_json(f) for f in refused.fates]}, status=400
        )
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=409)
    saved = sum(f.status == "saved" for f in fates)
    messages.success(request, _saved_message(saved, len(fates) - saved))
    return JsonResponse(
        {
            "saved": saved,
            "files": [_fate_json(f) for f in fates],
            "redirect": reverse("screening:visit_detail", kwargs={"pk": visit.pk}),
        }
    )


def _nurse(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # role_required has already sent anonymous users to log in
    return user


def _repeated_parts(request: HttpRequest) -> JsonResponse | None:
    """A part sent twice (two files in one slot, an eye given twice) is refused, never half-read:
    Django would keep only the last one and the other would be dropped without a word."""
    names = [f.name or key for key in request.FILES for f in request.FILES.getlist(key)[:-1]] + [
        key for key in request.POST if len(request.POST.getlist(key)) > 1
    ]
    if not names:
        return None
    return JsonResponse(
        {
            "error": "Each photograph and each of its tags may be sent once; this request repeats "
            f"{', '.join(sorted(set(names)))}. Nothing was saved: choose the files again.",
        },
        status=400,
    )


def _refusal(visit: Visit) -> JsonResponse | None:
    try:
        ensure_visit_accepts_images(visit)
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=409)
    return None


def _fate_json(fate: ItemFate) -> dict[str, object]:
    finding = fate.finding
    return {
        "key": fate.key,
        "name": fate.name,
        "status": fate.status,
        "messages": fate.messages,
        "looks_like": finding.looks_like if finding else "",
        "laterality": finding.label if finding else "",
    }


def _saved_message(saved: int, repeats: int) -> str:
    text = f"Uploaded {saved} photograph{'s' if saved != 1 else ''} in one batch."
    if repeats:
        text += (
            f" {repeats} {'was' if repeats == 1 else 'were'} already on this visit; kept one copy."
        )
    return text


def _preview(data: bytes) -> str:
    """A small JPEG as a data: URL (the CSP allows data: images; TIFFs preview too)."""
    with Image.open(io.BytesIO(data)) as source:
        picture = ImageOps.exif_transpose(source).convert("RGB")
    picture.thumbnail((PREVIEW_PX, PREVIEW_PX))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")

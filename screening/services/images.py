"""Attaching fundus photographs to visits."""

import io
import logging
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from PIL import Image, ImageOps

from accounts.models import User
from accounts.roles import sites_for
from audit.services import AuditContext, audit_record
from screening.models import FundusImage, Visit
from screening.services.grading import grading_enqueue
from screening.services.visits import ensure_visit_accepts_images
from screening.validators import ValidatedImage, validate_fundus_upload

logger = logging.getLogger(__name__)


class DuplicateImageConflict(Exception):
    """The same photograph is already on this visit, tagged with another eye or field."""

    def __init__(self, existing: FundusImage) -> None:
        self.existing = existing
        super().__init__(
            f"This photograph is already on the visit as {existing.get_eye_display()}, "
            f"{existing.get_field_display()}. Check the eye before uploading it again."
        )


def image_attach(
    *,
    actor: User,
    visit: Visit,
    upload: UploadedFile,
    eye: str,
    field: str,
    audit: AuditContext | None = None,
) -> tuple[FundusImage, bool]:
    """Validate and store one photograph on a visit; return (image, created).

    Idempotent: the same bytes uploaded again to the same visit return the existing image.
    Nothing is stored unless the whole upload is valid, and a failure after storing removes the
    files again, so a refused or failed upload leaves neither a file nor a row behind. The audit
    trail records "image.upload", or "image.upload_repeat" for the same bytes again (`audit`:
    where the request came from).
    """
    if not sites_for(actor).filter(pk=visit.site_id).exists():
        raise PermissionDenied("You do not work at this visit's site.")
    ensure_visit_accepts_images(visit)
    checked = validate_fundus_upload(upload)
    existing = _existing(visit, checked.sha256, eye, field)
    if existing:
        _audit_upload(actor, existing, "image.upload_repeat", audit)
        return existing, False
    image = FundusImage(
        id=uuid.uuid4(),
        visit=visit,
        eye=eye,
        field=field,
        sha256=checked.sha256,
        byte_size=len(checked.data),
        width=checked.width,
        height=checked.height,
        content_type=checked.content_type,
        original_filename=checked.original_filename,
        uploaded_by=actor,
    )
    try:
        with transaction.atomic():
            # Lock the visit and read its status afresh: a doctor may have started reading it.
            ensure_visit_accepts_images(Visit.objects.select_for_update().get(pk=visit.pk))
            _store_files(image, checked)
            image.full_clean(validate_unique=False, validate_constraints=False)
            image.save(force_insert=True)
            grading_enqueue(image=image)  # the task is sent only after the commit
            _audit_upload(actor, image, "image.upload", audit)
    except IntegrityError:
        _delete_files(image)
        existing = _existing(visit, checked.sha256, eye, field)
        if existing:  # a concurrent upload of the same file won the race
            _audit_upload(actor, existing, "image.upload_repeat", audit)
            return existing, False
        raise
    except BaseException:
        _delete_files(image)
        raise
    logger.info("fundus image %s attached to visit %s", image.pk, visit.pk)
    return image, True


def _audit_upload(actor: User, image: FundusImage, action: str, audit: AuditContext | None) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=image,
        changes={
            "visit": image.visit_id,
            "eye": image.eye,
            "field": image.field,
            "sha256": image.sha256,
        },
        context=audit,
    )


def _existing(visit: Visit, sha256: str, eye: str, field: str) -> FundusImage | None:
    existing = FundusImage.objects.filter(visit=visit, sha256=sha256).first()
    if existing and (existing.eye, existing.field) != (eye, field):
        raise DuplicateImageConflict(existing)
    return existing


def _store_files(image: FundusImage, checked: ValidatedImage) -> None:
    stem = f"{image.id.hex[:2]}/{image.id.hex}"
    image.file.save(f"{stem}.{checked.extension}", ContentFile(checked.data), save=False)
    image.thumbnail.save(f"{stem}_thumb.jpg", ContentFile(_thumbnail(checked.data)), save=False)


def _thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as source:
        picture = ImageOps.exif_transpose(source).convert("RGB")
    picture.thumbnail((settings.FUNDUS_THUMBNAIL_PX, settings.FUNDUS_THUMBNAIL_PX))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _delete_files(image: FundusImage) -> None:
    for stored in (image.file, image.thumbnail):
        if stored.name:
            try:
                stored.storage.delete(stored.name)
            except OSError:  # the file was never written; nothing to clean up
                logger.warning("could not remove %s after a failed upload", stored.name)

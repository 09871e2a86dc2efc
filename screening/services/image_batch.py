"""Attaching all of a visit's photographs in one submission: all of them, or none.

Every file is checked first (the upload validators, the same bytes tagged twice, the laterality
check against the declared eye) and the nurse is told each file's fate; only when every file
passes are they attached, one `image_attach` each, inside one transaction. A failure part-way
rolls the rows back and removes the files already written, so a batch is never half-saved.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.models import User
from accounts.roles import sites_for
from audit.services import AuditContext, audit_record
from screening.laterality import LateralityFinding, check_laterality
from screening.models import Eye, FundusImage, Visit
from screening.models import Field as ImageField
from screening.services.images import DuplicateImageConflict, image_attach
from screening.services.visits import ensure_visit_accepts_images
from screening.validators import validate_fundus_upload

logger = logging.getLogger(__name__)

MAX_BATCH_FILES = 12


@dataclass(frozen=True)
class BatchItem:
    """One file of the batch as the nurse tagged it."""

    upload: UploadedFile
    eye: str
    field: str
    eye_confirmed: bool = False  # the nurse keeps the declared eye despite a laterality warning
    key: int = 0  # the caller's handle on this file (the form's index)


@dataclass
class ItemFate:
    """What happened (or would happen) to one file of the batch."""

    key: int
    name: str
    eye: str
    field: str
    status: str = "ok"  # ok | refused | needs_confirmation | saved | already_there
    messages: list[str] = dataclasses.field(default_factory=list)
    finding: LateralityFinding | None = None
    image: FundusImage | None = None

    @property
    def warned(self) -> bool:
        return bool(self.finding and self.finding.contradicts(self.eye))


class BatchRefused(Exception):
    """Nothing of the batch was saved; `fates` says why, file by file."""

    def __init__(self, fates: list[ItemFate], summary: str) -> None:
        self.fates = fates
        super().__init__(summary)


def display_order(item: BatchItem) -> tuple[int, int]:
    """Right eye before left, macula-centred before disc-centred (as every page lists them)."""
    return (0 if item.eye == Eye.RIGHT else 1, 0 if item.field == ImageField.MACULA else 1)


def image_batch_attach(
    *, actor: User, visit: Visit, items: Sequence[BatchItem], audit: AuditContext | None = None
) -> list[ItemFate]:
    """Check every file, then attach them all in one transaction; raise BatchRefused otherwise.

    A file whose photograph looks like the other eye than declared is refused unless the nurse
    confirmed the eye (`eye_confirmed`); the returned fates carry the laterality findings so the
    caller can show them. Each upload is audited by `image_attach`; a kept eye against the
    check is audited too ("image.laterality_confirmed": who, what was declared, what it saw).
    """
    if not sites_for(actor).filter(pk=visit.site_id).exists():
        raise PermissionDenied("You do not work at this visit's site.")
    ensure_visit_accepts_images(visit)
    if not items:
        raise ValidationError("Choose at least one photograph.", "required")
    if len(items) > MAX_BATCH_FILES:
        raise ValidationError(
            f"{len(items)} files in one batch; upload at most {MAX_BATCH_FILES} at a time.",
            "too_many_files",
        )
    ordered = sorted(items, key=display_order)
    fates = _precheck(ordered)
    problems = [f for f in fates if f.status != "ok"]
    if problems:
        raise BatchRefused(fates, _summary(problems))
    _attach_all(actor, visit, ordered, fates, audit)
    return fates


def _precheck(items: Sequence[BatchItem]) -> list[ItemFate]:
    fates: list[ItemFate] = []
    seen: dict[str, ItemFate] = {}
    for item in items:
        fate = ItemFate(item.key, item.upload.name or "", item.eye, item.field)
        fates.append(fate)
        try:
            checked = validate_fundus_upload(item.upload)
        except ValidationError as error:
            fate.status, fate.messages = "refused", list(error.messages)
            continue
        twin = seen.setdefault(checked.sha256, fate)
        if twin is not fate and (twin.eye, twin.field) != (fate.eye, fate.field):
            fate.status = "refused"
            fate.messages.append(f"The same photograph as “{twin.name}”, tagged differently.")
            continue
        fate.finding = check_laterality(checked.data)
        if fate.warned and not item.eye_confirmed:
            fate.status = "needs_confirmation"
            fate.messages.append(
                f"Declared {Eye(item.eye).label}, but {fate.finding.label[0].lower()}"
                f"{fate.finding.label[1:]} Confirm the eye or correct it."
            )
    return fates


def _attach_all(
    actor: User,
    visit: Visit,
    items: Sequence[BatchItem],
    fates: list[ItemFate],
    audit: AuditContext | None,
) -> None:
    created: list[FundusImage] = []
    current = None
    try:
        with transaction.atomic():
            for item, fate in zip(items, fates, strict=True):
                current = fate
                image, was_created = image_attach(
                    actor=actor,
                    visit=visit,
                    upload=item.upload,
                    eye=item.eye,
                    field=item.field,
                    audit=audit,
                )
                fate.image, fate.status = image, "saved" if was_created else "already_there"
                if fate.warned and fate.finding:
                    # The nurse kept the eye against the check: the record says what it saw.
                    audit_record(
                        actor=actor,
                        action="image.laterality_confirmed",
                        obj=image,
                        changes={"declared": image.eye, "looks_like": fate.finding.looks_like},
                        context=audit,
                    )
                if was_created:
                    created.append(image)
    except (ValidationError, DuplicateImageConflict) as error:
        _remove_files(created)
        reason = error.messages if isinstance(error, ValidationError) else [str(error)]
        for fate in fates:
            fate.image, fate.status = None, "ok"
        if current is not None:
            current.status, current.messages = "refused", list(reason)
        raise BatchRefused(fates, _summary([f for f in fates if f.status != "ok"])) from error
    except BaseException:
        _remove_files(created)
        raise
    logger.info("batch of %d photographs attached to visit %s", len(items), visit.pk)


def _remove_files(images: list[FundusImage]) -> None:
    """The transaction rolled the rows back; the files written for them go too."""
    for image in images:
        for stored in (image.file, image.thumbnail):
            if stored.name:
                try:
                    stored.storage.delete(stored.name)
                except OSError:
                    logger.warning("could not remove %s after a refused batch", stored.name)


def _summary(problems: list[ItemFate]) -> str:
    confirm = sum(f.status == "needs_confirmation" for f in problems)
    refused = len(problems) - confirm
    parts = []
    if refused:
        parts.append(f"{refused} file{'s' if refused != 1 else ''} refused")
    if confirm:
        parts.append(f"{confirm} eye{'s' if confirm != 1 else ''} to confirm")
    return f"Nothing was saved: {' and '.join(parts)}. See each file below."

"""Fundus photographs. Files live in private storage under random UUID names; no patient data is
ever part of a file name or path."""

import uuid

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models

from screening.models.visit import Visit


def fundus_storage() -> Storage:
    """The configured private storage (settings.STORAGES['fundus']), resolved lazily."""
    return storages["fundus"]


class Eye(models.TextChoices):
    RIGHT = "right", "Right eye (OD)"
    LEFT = "left", "Left eye (OS)"


class Field(models.TextChoices):
    MACULA = "macula", "Macula-centred"
    DISC = "disc", "Disc-centred"


class FundusImage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="images")
    eye = models.CharField("which eye?", max_length=8, choices=Eye.choices)
    field = models.CharField("which field?", max_length=8, choices=Field.choices)
    file = models.FileField(storage=fundus_storage, max_length=200)
    thumbnail = models.FileField(storage=fundus_storage, max_length=200)
    sha256 = models.CharField("SHA-256 of the file", max_length=64)
    byte_size = models.PositiveBigIntegerField("file size in bytes")
    width = models.PositiveIntegerField("width in pixels")
    height = models.PositiveIntegerField("height in pixels")
    content_type = models.CharField(max_length=40)
    original_filename = models.CharField(
        max_length=255, help_text="As sent by the uploader; never used for storage."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["visit", "eye", "field", "uploaded_at"]
        constraints = [
            # Re-uploading the same photograph to the same visit returns the existing image.
            models.UniqueConstraint(fields=["visit", "sha256"], name="fundus_image_once_per_visit"),
        ]

    def __str__(self) -> str:
        return f"{self.get_eye_display()}, {self.get_field_display()} ({self.id})"

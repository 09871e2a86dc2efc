"""Checks every fundus upload passes before anything is stored.

Each refusal is a ValidationError with its own code and a message a nurse can act on. Files are
decoded fully with Pillow (not trusted by extension or declared content type), with the pixel count
checked from the header before decoding so a decompression bomb never reaches memory.
"""

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageFile, UnidentifiedImageError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated upload is refused, never padded with grey

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff"}
MAX_FILENAME_LENGTH = 255


@dataclass(frozen=True)
class ValidatedImage:
    """The bytes of an accepted upload and the facts stored with it."""

    data: bytes
    sha256: str
    format: str
    content_type: str
    width: int
    height: int
    original_filename: str

    @property
    def extension(self) -> str:
        return {"JPEG": "jpg", "PNG": "png", "TIFF": "tif"}[self.format]


def validate_fundus_upload(upload: UploadedFile) -> ValidatedImage:
    """Read and check an uploaded photograph; raise ValidationError with a specific reason."""
    name = validate_filename(upload.name or "")
    size = upload.size or 0
    if size == 0:
        raise ValidationError(f"“{name}” is empty (0 bytes). Upload the photograph again.", "empty")
    limit = settings.FUNDUS_MAX_UPLOAD_BYTES
    if size > limit:
        raise ValidationError(
            f"“{name}” is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB. "
            "Export the photograph from the camera at a lower size or as JPEG.",
            "too_large",
        )
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:  # the declared size was wrong
        raise ValidationError(
            f"“{name}” is larger than the {limit / 2**20:.0f} MB limit.", "too_large"
        )
    fmt, width, height = _decode_fully(data, name)
    return ValidatedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        content_type=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        original_filename=name,
    )


def validate_filename(name: str) -> str:
    """Refuse names that try to reach outside a folder; the name is only ever stored as text."""
    if not name.strip():
        raise ValidationError("The file has no name.", "bad_filename")
    if "/" in name or "\\" in name or "\x00" in name or name.strip(". ") == "":
        raise ValidationError(
            "The file name contains path characters (/, \\ or ..). Rename the file and upload it "
            "again.",
            "bad_filename",
        )
    if len(name) > MAX_FILENAME_LENGTH:
        raise ValidationError("The file name is longer than 255 characters.", "bad_filename")
    return name


def _decode_fully(data: bytes, name: str) -> tuple[str, int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
                _check_format_and_pixels(fmt, width, height, name)
                _check_single_frame(image, name)
                image.load()
            with Image.open(io.BytesIO(data)) as image:
                image.verify()  # checksums (PNG CRCs) that load() does not look at
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb_error(name) from None
    except UnidentifiedImageError:
        raise ValidationError(
            f"“{name}” is not an image Pillow can read. Upload a JPEG or PNG photograph from the "
            "fundus camera.",
            "not_an_image",
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValidationError(
            f"“{name}” is truncated or corrupt ({error}). The transfer may have been interrupted: "
            "export the photograph from the camera again and re-upload it.",
            "corrupt",
        ) from None
    assert fmt is not None  # _check_format_and_pixels refused anything outside ALLOWED_FORMATS
    return fmt, width, height


def _check_format_and_pixels(fmt: str | None, width: int, height: int, name: str) -> None:
    if fmt not in ALLOWED_FORMATS:
        raise ValidationError(
            f"“{name}” is a {fmt or 'unknown'} image; only JPEG, PNG and TIFF are accepted.",
            "format",
        )
    if width * height > settings.FUNDUS_MAX_PIXELS:
        raise _bomb_error(name, width, height)
    smallest = settings.FUNDUS_MIN_SIDE_PX
    if min(width, height) < smallest:
        raise ValidationError(
            f"“{name}” is only {width}×{height} pixels; a fundus photograph needs at least "
            f"{smallest} pixels on each side.",
            "too_small",
        )


def _check_single_frame(image: Image.Image, name: str) -> None:
    """Multi-page TIFFs and animated PNGs hide further images that the checks above never see."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise ValidationError(
            f"“{name}” contains {frames} images; upload one photograph per file.", "multi_frame"
        )


def _bomb_error(name: str, width: int = 0, height: int = 0) -> ValidationError:
    size = f" ({width}×{height} pixels)" if width else ""
    return ValidationError(
        f"“{name}” has too many pixels{size}; the limit is "
        f"{settings.FUNDUS_MAX_PIXELS / 1e6:.0f} megapixels. Export it at a lower resolution.",
        "too_many_pixels",
    )

"""Checks every fundus upload passes before anything is stored.

Each refusal is a ValidationError with its own code and a message a nurse can act on. Files are
decoded fully with Pillow (not trusted by extension or declared content type), with the pixel count
checked from the header before decoding so a decompression bomb never reaches memory.
"""

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageFile, UnidentifiedImageError

logger = logging.getLogger(__name__)
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated upload is refused, never padded with grey

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff"}
MAX_FILENAME_LENGTH = 255
MAX_SHOWN_NAME_LENGTH = 120
# How each accepted format's files start: a file that does but cannot be decoded is damaged, not
# "not an image".
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")


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
    name = validate_filename(getattr(upload, "name_as_sent", None) or upload.name or "")
    size = upload.size or 0
    if size == 0:
        raise ValidationError(f"“{name}” is empty (0 bytes). Upload the photograph again.", "empty")
    limit = settings.FUNDUS_MAX_UPLOAD_BYTES
    if size > limit:
        raise too_large_error(name, size)
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:  # the declared size was wrong
        raise too_large_error(name, len(data), more=True)
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


def too_large_error(name: str, size: int, *, more: bool = False) -> ValidationError:
    """“name” is N MB; the limit is L MB, with what to do about it (a 413 in the API)."""
    limit = settings.FUNDUS_MAX_UPLOAD_BYTES
    return ValidationError(
        f"“{name}” is {'more than ' if more else ''}{file_size(size)}; the limit is "
        f"{file_size(limit)}. Export the photograph from the camera at a lower resolution or "
        "as JPEG, then upload it again.",
        "too_large",
    )


def file_size(size: int) -> str:
    """A size as people read it: "850 kB", "31.4 MB", "30 MB"."""
    if size < 2**20:
        return f"{max(1, round(size / 1024))} kB"
    return f"{size / 2**20:.1f} MB" if size % 2**20 else f"{size // 2**20} MB"


def validate_filename(name: str) -> str:
    """Refuse names with a path (as sent by the client; see screening.upload_handlers): the name
    is only ever stored as text, but a name like "../x.jpg" is not what a camera produces."""
    if not name.strip():
        raise ValidationError(
            "The file has no name. Save the photograph under a name and upload it again.",
            "bad_filename",
        )
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise ValidationError(
            "The file name contains a control character (such as NUL) that no camera or computer "
            "writes. Rename the file with letters, digits, dashes or dots and upload it again.",
            "bad_filename",
        )
    if "/" in name or "\\" in name or name.strip(". ") == "":
        shown = name[:MAX_SHOWN_NAME_LENGTH]
        raise ValidationError(
            f"The file name “{shown}” includes a folder path (/, \\ or ..). Upload the file "
            "itself from its folder, or rename it without those characters, and try again.",
            "bad_filename",
        )
    if len(name) > MAX_FILENAME_LENGTH:
        raise ValidationError(
            f"The file name “{name[:40]}…” is {len(name)} characters long; the limit is "
            f"{MAX_FILENAME_LENGTH}. Rename the file and upload it again.",
            "bad_filename",
        )
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
        if data.startswith(SIGNATURES):
            raise _damaged_error(name, data, "its header cannot be read") from None
        raise ValidationError(
            f"“{name}” is not a photograph: it is not a JPEG, PNG or TIFF file (perhaps a "
            "document, or a file renamed to .jpg). Upload the photograph exported from the fundus "
            "camera.",
            "not_an_image",
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise _damaged_error(name, data, str(error)) from None
    return str(fmt), width, height  # one of ALLOWED_FORMATS, checked above


def _damaged_error(name: str, data: bytes, detail: str) -> ValidationError:
    # The library's wording ("Truncated File Read", "broken PNG file") goes to the log only.
    logger.info("upload refused as damaged (%d bytes): %s", len(data), detail)
    return ValidationError(
        f"“{name}” ({file_size(len(data))}) is damaged or incomplete: part of the file is missing "
        "or corrupt, often because a copy or transfer was interrupted. Export the photograph "
        "from the camera again and upload the new file.",
        "corrupt",
    )


def _check_format_and_pixels(fmt: str | None, width: int, height: int, name: str) -> None:
    if fmt not in ALLOWED_FORMATS:
        raise ValidationError(
            f"“{name}” is a {fmt or 'unknown'} image; only JPEG, PNG and TIFF are accepted. "
            "Export the photograph from the fundus camera as JPEG and upload that file.",
            "format",
        )
    if width * height > settings.FUNDUS_MAX_PIXELS:
        raise _bomb_error(name, width, height)
    smallest = settings.FUNDUS_MIN_SIDE_PX
    if min(width, height) < smallest:
        raise ValidationError(
            f"“{name}” is only {width}×{height} pixels; a fundus photograph needs at least "
            f"{smallest} pixels on each side. Upload the full-size photograph from the camera, "
            "not a thumbnail or screenshot.",
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

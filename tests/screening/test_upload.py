"""Fundus upload: each kind of bad file is refused with its own message, leaving nothing behind."""

import hashlib
import html
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from screening.models import FundusImage, Visit
from screening.services.images import DuplicateImageConflict, image_attach
from tests.conftest import stored_files
from tests.factories import fundus_like_jpeg


def attach(nurse, visit, name: str, data: bytes, eye: str = "right", field: str = "macula"):
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field=field)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming a huge image, followed by a tiny compressed body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def test_valid_jpeg_is_stored_privately_with_its_facts(nurse, visit):
    data = fundus_like_jpeg(640)
    image, created = attach(nurse, visit, "OD macula.jpg", data)
    assert created
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert (image.byte_size, image.width, image.height) == (len(data), 640, 640)
    assert image.content_type == "image/jpeg" and image.original_filename == "OD macula.jpg"
    assert image.file.name == f"{image.id.hex[:2]}/{image.id.hex}.jpg"  # no patient data in paths
    assert image.file.read() == data
    assert len(stored_files()) == 2  # the photograph and its thumbnail


def test_png_is_accepted(nurse, visit):
    image, _ = attach(nurse, visit, "scan.png", fundus_like_jpeg(fmt="PNG"))
    assert image.content_type == "image/png" and image.file.name.endswith(".png")


BAD_FILES = {
    "text renamed .jpg": ("notes.jpg", b"Patient notes, not a picture\n" * 20, "not_an_image"),
    "truncated JPEG": ("cut.jpg", fundus_like_jpeg()[:3000], "corrupt"),
    "zero-byte file": ("empty.jpg", b"", "empty"),
    "GIF": ("anim.jpg", None, "format"),
    "decompression bomb": ("bomb.png", png_bomb(), "too_many_pixels"),
    "tiny image": ("icon.jpg", fundus_like_jpeg(64), "too_small"),
}
MESSAGES = {
    "not_an_image": "is not a photograph: it is not a JPEG, PNG or TIFF file",
    "corrupt": "is damaged or incomplete",
    "empty": "is empty (0 bytes)",
    "format": "only JPEG, PNG and TIFF are accepted",
    "too_many_pixels": "has too many pixels",
    "too_small": "needs at least 128 pixels",
    "too_large": "the limit is 1 MB",
    "bad_filename": "includes a folder path",
}


def gif_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(out, "GIF")
    return out.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_refused_with_its_own_message_and_nothing_is_left(case, nurse, visit):
    name, data, code = BAD_FILES[case]
    with pytest.raises(ValidationError) as error:
        attach(nurse, visit, name, data if data is not None else gif_bytes())
    assert error.value.code == code
    assert MESSAGES[code] in error.value.message
    assert not FundusImage.objects.exists()
    assert stored_files() == []


def test_oversize_file_is_refused(nurse, visit, settings):
    settings.FUNDUS_MAX_UPLOAD_BYTES = 1024 * 1024
    with pytest.raises(ValidationError) as error:
        attach(nurse, visit, "big.jpg", b"\xff\xd8" + b"\0" * (1024 * 1024 + 1))
    assert error.value.code == "too_large" and MESSAGES["too_large"] in error.value.message
    assert stored_files() == [] and not FundusImage.objects.exists()


def test_path_traversal_name_is_refused_by_the_validator(nurse, visit):
    upload = SimpleUploadedFile("x.jpg", fundus_like_jpeg())
    upload._name = "../../etc/cron.d/evil.jpg"  # bypass Django's own basename() on the way in
    with pytest.raises(ValidationError) as error:
        image_attach(actor=nurse, visit=visit, upload=upload, eye="left", field="macula")
    assert error.value.code == "bad_filename" and MESSAGES["bad_filename"] in error.value.message
    assert stored_files() == []


def multipart_body(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> bytes:
    """A multipart/form-data body with file names exactly as given (Django's test client would
    send only the part after the last slash, as browsers do; other clients send what they like)."""
    lines = []
    for name, value in fields.items():
        lines += [f"--{BOUNDARY}", f'Content-Disposition: form-data; name="{name}"', "", value]
    body = "\r\n".join(lines).encode() + b"\r\n"
    for field, filename, data in files:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        body += head.encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


BOUNDARY = "dr-portal-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PATH_NAMES = ["../../../evil.jpg", "C:\\Users\\nurse\\od.jpg", "photos/od.jpg", ".."]


@pytest.mark.parametrize("name", PATH_NAMES)
def test_a_file_name_with_a_path_is_refused_through_the_web(nurse_client, visit, name):
    """As the README says: refused with its own message, not stored under the shortened name."""
    body = multipart_body({"eye": "left", "field": "macula"}, [("files", name, fundus_like_jpeg())])
    response = nurse_client.post(
        reverse("screening:image_upload", kwargs={"pk": visit.pk}),
        body,
        content_type=MULTIPART,
        follow=True,
    )
    page = response.content.decode()
    assert f"Not uploaded: The file name “{name}” includes a folder path" in html.unescape(page)
    assert not FundusImage.objects.exists() and stored_files() == []
    assert not AuditEvent.objects.filter(action="image.upload").exists()


def test_a_plain_file_name_is_kept_as_sent_through_the_web(nurse_client, visit):
    body = multipart_body(
        {"eye": "left", "field": "macula"}, [("files", "OS macula 2026.jpg", fundus_like_jpeg())]
    )
    nurse_client.generic(
        "POST",
        reverse("screening:image_upload", kwargs={"pk": visit.pk}),
        body,
        content_type=MULTIPART,
    )
    image = FundusImage.objects.get()
    assert image.original_filename == "OS macula 2026.jpg"
    assert "macula" not in image.file.name  # storage uses the image's UUID
    event = AuditEvent.objects.get(action="image.upload")
    assert event.object_id == str(image.pk) and event.changes["visit"] == visit.pk


def test_a_png_with_a_bad_checksum_is_called_damaged_not_an_unknown_format(nurse, visit):
    data = bytearray(fundus_like_jpeg(fmt="PNG"))
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    with pytest.raises(ValidationError) as error:
        attach(nurse, visit, "od.png", bytes(data))
    assert error.value.code == "corrupt"
    assert error.value.message.startswith("“od.png” (")
    assert "damaged or incomplete" in error.value.message


@pytest.mark.parametrize(
    "data",
    [fundus_like_jpeg()[:3000], fundus_like_jpeg(fmt="PNG")[:-40], b"\xff\xd8\xff" + b"x" * 900],
    ids=["truncated JPEG", "truncated PNG", "JPEG signature only"],
)
def test_damaged_files_are_explained_without_the_library_s_words(nurse, visit, data):
    with pytest.raises(ValidationError) as error:
        attach(nurse, visit, "od.jpg", data)
    message = error.value.message
    assert error.value.code == "corrupt" and "Export the photograph from the camera" in message
    for jargon in ("Pillow", "Truncated File Read", "broken", "cannot identify", "image file"):
        assert jargon not in message


def test_same_file_twice_is_idempotent(nurse, visit):
    data = fundus_like_jpeg()
    first, created_first = attach(nurse, visit, "a.jpg", data)
    again, created_again = attach(nurse, visit, "a-copy.jpg", data)
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk and FundusImage.objects.count() == 1
    assert len(stored_files()) == 2


def test_same_file_tagged_as_the_other_eye_is_refused(nurse, visit):
    data = fundus_like_jpeg()
    attach(nurse, visit, "a.jpg", data, eye="right")
    with pytest.raises(DuplicateImageConflict, match="already on the visit as Right eye"):
        attach(nurse, visit, "a.jpg", data, eye="left")


def test_database_failure_after_storing_removes_the_files(nurse, visit, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(FundusImage, "save", broken_save)
    with pytest.raises(RuntimeError):
        attach(nurse, visit, "a.jpg", fundus_like_jpeg())
    assert stored_files() == []


def test_signed_visit_takes_no_new_images(nurse, visit):
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.SIGNED)
    visit.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        attach(nurse, visit, "a.jpg", fundus_like_jpeg())
    assert error.value.code == "locked"


def test_web_upload_of_several_files_reports_each(nurse_client, visit):
    files = [
        SimpleUploadedFile("good-1.jpg", fundus_like_jpeg(seed=1)),
        SimpleUploadedFile("bad.jpg", b"not an image at all"),
        SimpleUploadedFile("good-2.jpg", fundus_like_jpeg(seed=2)),
    ]
    response = nurse_client.post(
        reverse("screening:image_upload", kwargs={"pk": visit.pk}),
        {"eye": "right", "field": "disc", "files": files},
        follow=True,
    )
    page = response.content.decode()
    assert "Uploaded “good-1.jpg”" in page and "Uploaded “good-2.jpg”" in page
    assert "Not uploaded: “bad.jpg” is not a photograph" in page
    assert FundusImage.objects.filter(visit=visit, eye="right", field="disc").count() == 2


def test_image_is_served_only_with_private_headers(nurse_client, nurse, visit):
    data = fundus_like_jpeg()
    image, _ = attach(nurse, visit, "a.jpg", data)
    response = nurse_client.get(reverse("screening:image_file", kwargs={"pk": image.pk}))
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    thumb = nurse_client.get(reverse("screening:image_thumb", kwargs={"pk": image.pk}))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


def test_visit_page_shows_thumbnails_per_eye(nurse_client, nurse, visit):
    image, _ = attach(nurse, visit, "a.jpg", fundus_like_jpeg(), eye="left")
    page = nurse_client.get(reverse("screening:visit_detail", kwargs={"pk": visit.pk}))
    assert reverse("screening:image_thumb", kwargs={"pk": image.pk}) in page.content.decode()
    eyes = {label: [row.image for row in rows] for label, rows in page.context["eyes"]}
    assert eyes["Left eye (OS)"] == [image] and eyes["Right eye (OD)"] == []
    assert "Queued for grading" in page.content.decode()


def test_a_file_streamed_to_a_temporary_file_keeps_its_name_as_sent(nurse_client, visit, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # Django's temporary-file handler takes over
    for name in ("OD disc.jpg", "scans/OD disc.jpg"):
        body = multipart_body(
            {"eye": "right", "field": "disc"}, [("files", name, fundus_like_jpeg(seed=5))]
        )
        nurse_client.post(
            reverse("screening:image_upload", kwargs={"pk": visit.pk}), body, content_type=MULTIPART
        )
    assert [i.original_filename for i in FundusImage.objects.all()] == ["OD disc.jpg"]


@pytest.mark.parametrize(("declared", "warned"), [("right", True), ("left", False)])
def test_one_at_a_time_upload_warns_when_the_photograph_looks_like_the_other_eye(
    nurse_client, visit, declared, warned
):
    """The form saves first, so it can only warn (the batch page checks before saving)."""
    from tests.screening.fundus_samples import CLEAR_LEFT_EYES, sample_bytes

    upload = SimpleUploadedFile("od.jpg", sample_bytes(CLEAR_LEFT_EYES[1]), "image/jpeg")
    response = nurse_client.post(
        reverse("screening:image_upload", kwargs={"pk": visit.pk}),
        {"eye": declared, "field": "macula", "files": [upload]},
        follow=True,
    )
    page = html.unescape(response.content.decode())
    assert FundusImage.objects.filter(visit=visit, eye=declared).count() == 1
    assert ("Check the eye of “od.jpg”: it was saved as the right eye" in page) is warned
    assert ("looks like a left eye" in page) is warned

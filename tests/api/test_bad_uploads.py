"""Every bad file of the foundation's upload corpus, sent through the API, is refused with a 4xx
and a message a person can act on; nothing is stored."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, PngImagePlugin

from screening.models import FundusImage
from tests.conftest import stored_files
from tests.factories import fundus_like_jpeg
from tests.screening.test_upload import MULTIPART, PATH_NAMES, multipart_body
from tests.security.test_uploads import HTML, SVG_WITH_SCRIPT, ZIP_END, png_bomb, tiff_bomb


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _huge_jpeg_header() -> bytes:
    data = bytearray(fundus_like_jpeg(256))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (65_000).to_bytes(2, "big") * 2
    return bytes(data)


def _text_bomb_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * (50 * 2**20), zip=True)
    return _encode(Image.new("RGB", (256, 256)), "PNG", pnginfo=info)


def _multi_page_tiff() -> bytes:
    return _encode(
        Image.new("RGB", (256, 256), "red"),
        "TIFF",
        save_all=True,
        append_images=[Image.new("L", (8000, 8000))],
        compression="tiff_deflate",
    )


def _animated_png() -> bytes:
    frames = [Image.new("RGB", (256, 256), colour) for colour in ("red", "blue")]
    return _encode(frames[0], "PNG", save_all=True, append_images=frames[1:])


# name, file name, bytes (or a function making them), expected status, a word of the message
BAD_FILES = [
    ("empty", "empty.jpg", b"", 400, "empty"),
    ("png bomb", "bomb.png", png_bomb, 400, "pixels"),
    ("tiff bomb", "bomb.tif", tiff_bomb, 400, "pixels"),
    ("jpeg claiming huge size", "huge.jpg", _huge_jpeg_header, 400, "pixels"),
    ("svg with script", "drawing.svg", SVG_WITH_SCRIPT, 415, "not a photograph"),
    ("svg named jpg", "drawing.jpg", SVG_WITH_SCRIPT, 415, "not a photograph"),
    ("html named jpg", "page.jpg", HTML, 415, "not a photograph"),
    ("zip named jpg", "archive.jpg", ZIP_END, 415, "not a photograph"),
    ("gif", "picture.gif", lambda: _encode(Image.new("RGB", (256, 256)), "GIF"), 415, "GIF"),
    ("bmp", "picture.bmp", lambda: _encode(Image.new("RGB", (256, 256)), "BMP"), 415, "BMP"),
    ("webp", "p.webp", lambda: _encode(Image.new("RGB", (256, 256)), "WEBP"), 415, "WEBP"),
    ("text bomb png", "text.png", _text_bomb_png, 400, ""),
    ("truncated jpeg", "cut.jpg", lambda: fundus_like_jpeg(512)[:4000], 400, "incomplete"),
    ("too small", "tiny.jpg", lambda: fundus_like_jpeg(64), 400, "at least 128"),
    ("multi-page tiff", "pages.tif", _multi_page_tiff, 400, ""),
    ("animated png", "animated.png", _animated_png, 400, ""),
]


@pytest.mark.parametrize(
    ("filename", "content", "status", "word"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_every_bad_file_is_refused_with_a_clear_message(
    api, visit, filename, content, status, word
):
    data = content() if callable(content) else content
    upload = SimpleUploadedFile("upload", data)
    upload._name = filename  # as a client could send it (Django would otherwise strip the path)
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": upload, "eye": "right"},
        format="multipart",
    )
    assert 400 <= response.status_code < 500
    if status == 415:
        assert response.status_code == 415
    else:  # some corrupt files are reported as not decodable rather than by their specific fault
        assert response.status_code in (400, 415)
    error = response.json()["error"]
    assert error["status"] == response.status_code and len(error["message"]) > 20
    assert word.lower() in error["message"].lower()
    assert not FundusImage.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize("name", PATH_NAMES)
def test_a_file_name_with_a_path_is_refused(api, visit, name):
    """As the README says (the web refuses them too: tests/screening/test_upload.py)."""
    body = multipart_body({"eye": "right"}, [("file", name, fundus_like_jpeg())])
    response = api.generic(
        "POST", reverse("api:visit-images", kwargs={"pk": visit.pk}), body, content_type=MULTIPART
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_filename"
    assert error["message"].startswith(f"The file name “{name}” includes a folder path")
    assert not FundusImage.objects.exists() and stored_files() == []


def test_a_file_over_the_limit_is_a_413(api, visit, settings):
    settings.FUNDUS_MAX_UPLOAD_BYTES = 5_000
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": SimpleUploadedFile("big.png", fundus_like_jpeg(1024, fmt="PNG")), "eye": "left"},
        format="multipart",
    )
    assert response.status_code == 413
    message = response.json()["error"]["message"]
    assert message.startswith("“big.png” is ") and "; the limit is 5 kB." in message


def test_a_request_far_over_the_limit_is_refused_before_it_is_read(api, visit, settings):
    settings.FUNDUS_MAX_UPLOAD_BYTES = 1000
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": SimpleUploadedFile("big.jpg", b"\xff" * (1100 * 1024)), "eye": "left"},
        format="multipart",
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["message"].startswith("“big.jpg” is 1.1 MB; a photograph may be at most 1 kB.")


def test_json_instead_of_multipart_is_a_415(api, visit):
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}), {"eye": "left"}, format="json"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_no_file_is_a_field_error(api, visit):
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}), {"eye": "left"}, format="multipart"
    )
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_two_file_parts_are_refused_and_neither_is_stored(api, visit):
    first = SimpleUploadedFile("first.jpg", fundus_like_jpeg(seed=1))
    second = SimpleUploadedFile("second.jpg", fundus_like_jpeg(seed=2))
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": [first, second], "eye": "right"},
        format="multipart",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "repeated_part"
    assert "2 files" in error["fields"]["file"][0] and "second.jpg" in error["fields"]["file"][0]
    assert not FundusImage.objects.exists()
    assert stored_files() == []


def test_a_file_under_another_name_is_refused_not_ignored(api, visit):
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {
            "file": SimpleUploadedFile("right.jpg", fundus_like_jpeg(seed=1)),
            "file2": SimpleUploadedFile("left.jpg", fundus_like_jpeg(seed=2)),
            "eye": "right",
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert "left.jpg" in response.json()["error"]["fields"]["file2"][0]
    assert not FundusImage.objects.exists()


def test_a_repeated_eye_is_refused(api, visit):
    response = api.post(
        reverse("api:visit-images", kwargs={"pk": visit.pk}),
        {"file": SimpleUploadedFile("a.jpg", fundus_like_jpeg()), "eye": ["right", "left"]},
        format="multipart",
    )
    assert response.status_code == 400
    assert "2 times" in response.json()["error"]["fields"]["eye"][0]
    assert not FundusImage.objects.exists()


def test_a_refused_upload_whose_file_name_is_not_near_the_start_names_its_size(
    api, visit, settings
):
    settings.FUNDUS_MAX_UPLOAD_BYTES = 1000
    body = multipart_body(
        {"eye": "left", "notes": "x" * 20_000}, [("file", "late.jpg", b"\xff" * (1100 * 1024))]
    )
    response = api.generic(
        "POST", reverse("api:visit-images", kwargs={"pk": visit.pk}), body, content_type=MULTIPART
    )
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("This upload is 1.1 MB; a photograph")

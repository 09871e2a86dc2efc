"""A hostile upload corpus against `validate_fundus_upload`: every file is either refused with a
reason, or accepted as what it really is (a decodable JPEG, PNG or TIFF) and then served only as
that image type, with nosniff and the Content Security Policy."""

import io
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, PngImagePlugin

from screening.services.images import image_attach
from screening.validators import validate_fundus_upload
from tests.factories import fundus_like_jpeg

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">'
    b"<script>alert(document.cookie)</script><circle r='200'/></svg>"
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
ZIP_END = b"PK\x05\x06" + b"\x00" * 18  # an empty zip archive (end-of-central-directory only)


def _refused(name: str, data: bytes) -> str:
    upload = SimpleUploadedFile("upload", data)
    upload._name = name  # as a client could send it (bypassing Django's own basename clean-up)
    with pytest.raises(ValidationError) as caught:
        validate_fundus_upload(upload)
    return caught.value.code


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A few hundred bytes whose header promises billions of pixels (zeros compress ~1000:1)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def tiff_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A little-endian baseline TIFF header declaring a 10-gigapixel greyscale strip."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 8 + 4),  # StripOffsets: right after the IFD
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, min(width * height, 2**32 - 1)),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 1024


# --- refused -------------------------------------------------------------------------------------


def test_png_decompression_bomb_is_refused_from_its_header():
    assert _refused("bomb.png", png_bomb()) == "too_many_pixels"


def test_tiff_decompression_bomb_is_refused_from_its_header():
    assert _refused("bomb.tif", tiff_bomb()) == "too_many_pixels"


def test_jpeg_header_claiming_huge_dimensions_is_refused():
    data = bytearray(fundus_like_jpeg(256))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    assert _refused("huge.jpg", bytes(data)) == "too_many_pixels"


@pytest.mark.parametrize("name", ["drawing.svg", "drawing.jpg", "drawing.png"])
def test_svg_with_script_is_refused_whatever_its_name(name):
    assert _refused(name, SVG_WITH_SCRIPT) == "not_an_image"


@pytest.mark.parametrize("name", ["page.html", "page.jpg", "page.tif"])
def test_html_is_refused_whatever_its_name(name):
    assert _refused(name, HTML) == "not_an_image"


def test_html_behind_jpeg_magic_bytes_is_refused():
    assert _refused("fake.jpg", b"\xff\xd8\xff\xe0" + HTML) in {"not_an_image", "corrupt"}


def test_zip_renamed_jpg_is_refused():
    assert _refused("archive.jpg", ZIP_END) == "not_an_image"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "ICO"])
def test_other_image_formats_are_refused(fmt):
    data = _encode(Image.new("RGB", (256, 256), "red"), fmt)
    assert _refused(f"picture.{fmt.lower()}", data) == "format"


def test_postscript_is_refused_before_ghostscript_could_run():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 512 512\n0 0 moveto showpage\n"
    assert _refused("scan.jpg", eps) in {"format", "not_an_image"}


def test_png_with_text_chunk_bomb_is_refused():
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * (50 * 2**20), zip=True)  # 50 MB of text in ~50 kB
    data = _encode(Image.new("RGB", (256, 256)), "PNG", pnginfo=info)
    assert _refused("text-bomb.png", data) == "corrupt"


def test_truncated_jpeg_is_refused():
    data = fundus_like_jpeg(512)
    assert _refused("cut.jpg", data[: len(data) // 2]) == "corrupt"


@pytest.mark.parametrize("name", ["../../etc/passwd.jpg", "a/b.jpg", "a\\b.jpg", "x\x00.jpg", ".."])
def test_path_like_file_names_are_refused(name):
    assert _refused(name, fundus_like_jpeg(256)) == "bad_filename"


# --- accepted as the real image they are ---------------------------------------------------------


def test_jpeg_html_polyglot_is_accepted_only_as_a_jpeg():
    checked = validate_fundus_upload(SimpleUploadedFile("poly.jpg", fundus_like_jpeg(256) + HTML))
    assert (checked.format, checked.content_type, checked.extension) == (
        "JPEG",
        "image/jpeg",
        "jpg",
    )


def test_jpeg_zip_polyglot_is_accepted_only_as_a_jpeg():
    checked = validate_fundus_upload(
        SimpleUploadedFile("poly.jpg", fundus_like_jpeg(256) + ZIP_END)
    )
    assert checked.content_type == "image/jpeg"


def test_jpeg_with_huge_exif_is_accepted_as_a_plain_jpeg():
    exif = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00\x00\x00" + b"\x00" * 60_000
    data = _encode(Image.new("RGB", (256, 256), "orange"), "JPEG", exif=exif)
    checked = validate_fundus_upload(SimpleUploadedFile("exif.jpg", data))
    assert (checked.content_type, checked.width) == ("image/jpeg", 256)


@pytest.mark.parametrize("name", ["photo.jpg", "photo.exe", "photo.html", "photo"])
def test_wrong_extension_is_ignored_the_content_decides(name):
    data = _encode(Image.new("RGB", (256, 256), "orange"), "PNG")
    checked = validate_fundus_upload(SimpleUploadedFile(name, data))
    assert (checked.content_type, checked.extension, checked.original_filename) == (
        "image/png",
        "png",
        name,
    )


def test_multi_page_tiff_with_oversized_later_page_is_refused():
    first = Image.new("RGB", (256, 256), "red")
    data = _encode(
        first,
        "TIFF",
        save_all=True,
        append_images=[Image.new("L", (8000, 8000))],
        compression="tiff_deflate",
    )
    assert _refused("pages.tif", data) in {"too_many_pixels", "format", "multi_frame"}


def test_animated_png_is_refused():
    frames = [Image.new("RGB", (256, 256), colour) for colour in ("red", "blue")]
    data = _encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert _refused("animated.png", data) == "multi_frame"


def test_accepted_polyglot_is_served_as_an_image_that_browsers_will_not_sniff(nurse, visit):
    from tests.conftest import login

    image, _ = image_attach(
        actor=nurse,
        visit=visit,
        upload=SimpleUploadedFile("poly.jpg", fundus_like_jpeg(256, seed=3) + HTML),
        eye="left",
        field="macula",
    )
    response = login(nurse).get(reverse("screening:image_file", kwargs={"pk": image.pk}))
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "attachment" not in response["Content-Disposition"]
    assert str(image.pk) in response["Content-Disposition"]  # never the uploaded name


@pytest.mark.parametrize("name", ["x\x00.jpg", "od\x07.jpg"])
def test_a_control_character_in_the_name_is_named_as_such_not_as_a_folder_path(name):
    with pytest.raises(ValidationError) as refused:
        validate_fundus_upload(SimpleUploadedFile(name, fundus_like_jpeg(256)))
    assert "control character" in refused.value.messages[0]
    assert "folder path" not in refused.value.messages[0]

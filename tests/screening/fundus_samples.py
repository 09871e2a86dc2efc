"""The shipped sample photographs (ml/samples/: natural EyePACS photographs of LEFT eyes), and
mirrored copies of them, which look like right eyes."""

import io
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageOps

SAMPLES = Path(settings.BASE_DIR) / "ml" / "samples"
# The disc is clear in these four; natural_184 is too poor to tell (the check says "unsure").
CLEAR_LEFT_EYES = (
    "natural_129_left_grade2.jpg",
    "natural_177_left_grade0.jpg",
    "natural_217_left_grade4.jpg",
    "natural_352_left_grade3.jpg",
)
UNCLEAR = "natural_184_left_grade2.jpg"


def sample_bytes(name: str, *, mirror: bool = False) -> bytes:
    data = (SAMPLES / name).read_bytes()
    if not mirror:
        return data
    with Image.open(io.BytesIO(data)) as picture:
        flipped = ImageOps.mirror(picture.convert("RGB"))
    out = io.BytesIO()
    flipped.save(out, "JPEG", quality=92)
    return out.getvalue()

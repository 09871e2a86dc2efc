"""The laterality check: the optic disc's side says which eye a photograph looks like."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from screening.laterality import (
    check_laterality,
    eye_in_filename,
    field_in_filename,
    laterality_of,
)
from tests.screening.fundus_samples import CLEAR_LEFT_EYES, UNCLEAR, sample_bytes


@pytest.mark.parametrize("name", CLEAR_LEFT_EYES)
def test_left_eye_samples_look_like_left_eyes(name):
    finding = check_laterality(sample_bytes(name))
    assert finding.looks_like == "left"
    assert finding.disc_x < -0.15  # the disc lies on the viewer's left of the fundus centre
    assert not finding.contradicts("left") and finding.contradicts("right")
    assert "optic disc on the viewer's left" in finding.label


@pytest.mark.parametrize("name", CLEAR_LEFT_EYES)
def test_a_mirrored_photograph_flips_the_answer(name):
    original = check_laterality(sample_bytes(name))
    mirrored = check_laterality(sample_bytes(name, mirror=True))
    assert (original.looks_like, mirrored.looks_like) == ("left", "right")
    assert mirrored.disc_x == pytest.approx(-original.disc_x, abs=0.02)
    assert mirrored.contradicts("left") and not mirrored.contradicts("right")


def test_a_photograph_without_a_clear_disc_is_unsure_and_never_contradicts():
    finding = check_laterality(sample_bytes(UNCLEAR))
    assert finding.looks_like == "unsure"
    assert finding.reason == "no region stands out as the optic disc"
    assert not finding.contradicts("left") and not finding.contradicts("right")
    assert finding.label.startswith("Eye not clear from the photograph")


def synthetic_fundus(disc_at: float | None, *, second_disc_at: float | None = None) -> Image.Image:
    """An even orange fundus with fine noise and a bright round disc at `disc_at` radii from
    the centre (negative: the viewer's left)."""
    rng = np.random.default_rng(0)
    size, radius = 600, 280
    base = np.zeros((size, size, 3), np.float32)
    ys, xs = np.indices((size, size))
    inside = np.hypot(xs - 300, ys - 300) < radius
    base[inside] = (170, 80, 30)
    base[inside] += rng.normal(0, 6, (int(inside.sum()), 3))
    picture = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for at in (disc_at, second_disc_at):
        if at is not None:
            cx = 300 + at * radius
            draw.ellipse((cx - 28, 272, cx + 28, 328), fill=(240, 210, 150))
    return picture


def test_synthetic_disc_position_decides_and_the_centre_is_unsure():
    assert laterality_of(synthetic_fundus(0.5)).looks_like == "right"
    assert laterality_of(synthetic_fundus(-0.5)).looks_like == "left"
    centred = laterality_of(synthetic_fundus(0.0))
    assert centred.looks_like == "unsure" and "disc-centred" in centred.reason


def test_two_equally_bright_discs_are_unsure():
    finding = laterality_of(synthetic_fundus(-0.5, second_disc_at=0.5))
    assert finding.looks_like == "unsure"
    assert finding.reason == "more than one region could be the optic disc"


def test_a_black_frame_is_unsure():
    out = io.BytesIO()
    Image.new("RGB", (400, 300)).save(out, "PNG")
    finding = check_laterality(out.getvalue())
    assert finding.looks_like == "unsure" and finding.reason == "no fundus found"


@pytest.mark.parametrize(
    ("name", "eye", "field"),
    [
        ("10_left.jpeg", "left", ""),
        ("10_right.jpeg", "right", ""),
        ("Patient001_L.jpeg", "left", ""),
        ("Patient042_R.jpg", "right", ""),
        ("IMG_0042_OD.JPG", "right", ""),
        ("scan OS disc.tif", "left", "disc"),
        ("right-eye macula.png", "right", "macula"),
        ("retina.jpg", "", ""),
        ("left_right.jpg", "", ""),  # both: the name does not decide
        ("Leopard_OSAKA.jpg", "", ""),  # words that merely start like an eye code
        ("disc macula.jpg", "", ""),
    ],
)
def test_file_names_prefill_eye_and_field(name, eye, field):
    assert (eye_in_filename(name), field_in_filename(name)) == (eye, field)

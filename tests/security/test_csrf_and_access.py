"""CSRF on every URL, Django admin for non-staff, unguessable and site-scoped image URLs, headers.

The per-role status of every URL is in tests/test_permission_matrix.py (it enumerates the URL conf).
"""

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, get_resolver, reverse

from screening.services.images import image_attach
from tests.conftest import login
from tests.factories import fundus_like_jpeg
from tests.test_permission_matrix import _all_url_names

# Straight from the URL conf (Django admin's own namespace aside; its login is checked below).
EVERY_URL_NAME = sorted(_all_url_names(get_resolver().url_patterns))


@pytest.fixture
def image(nurse, visit):
    image, _ = image_attach(
        actor=nurse,
        visit=visit,
        upload=SimpleUploadedFile("WAGNER_Jocelyn_OD.jpg", fundus_like_jpeg()),
        eye="right",
        field="macula",
    )
    return image


def _url(name: str, patient, visit, image, nurse) -> str:
    """Any valid URL for the name: try the keyword arguments the URL conf uses."""
    candidates = [
        {},
        {"pk": patient.pk},
        {"patient_pk": patient.pk},
        {"pk": image.pk},
        {"uidb64": "MQ", "token": "x"},
    ]
    for kwargs in candidates:
        try:
            return reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
    raise AssertionError(f"cannot build a URL for {name}")


@pytest.mark.parametrize("name", EVERY_URL_NAME)
def test_every_post_without_a_csrf_token_is_refused(name, admin_user, nurse, patient, visit, image):
    """POST (the state-changing method) to each URL, as a signed-in admin and nurse, is a 403."""
    url = _url(name, patient, visit, image, nurse)
    for user in (admin_user, nurse):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        response = client.post(url, {"name": "x", "code": "x", "username": "x"})
        assert response.status_code == 403, f"{user.username} POST {url}"
        assert b"CSRF" in response.content


@pytest.mark.parametrize("url", [reverse("login"), "/admin/login/"])
def test_sign_in_without_a_csrf_token_is_refused(nurse, url):
    response = Client(enforce_csrf_checks=True).post(
        url, {"username": "nurse", "password": "correct-horse-battery"}
    )
    assert response.status_code == 403


def test_a_form_post_with_its_csrf_token_goes_through(admin_user):
    """The control for the tests above: the same client with the form's token succeeds."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(reverse("staff:site_create"))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    response = client.post(
        reverse("staff:site_create"),
        {"csrfmiddlewaretoken": token.decode(), "code": "east", "name": "East Clinic"},
    )
    assert response.status_code == 302


@pytest.mark.parametrize("who", ["anonymous", "nurse", "doctor"])
def test_non_staff_are_sent_to_the_admin_login(who, request):
    client = Client() if who == "anonymous" else login(request.getfixturevalue(who))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_role_reaches_django_admin(admin_user):
    assert login(admin_user).get("/admin/").status_code == 200


def test_image_ids_are_random_uuids_not_counters(image):
    assert isinstance(image.pk, uuid.UUID) and image.pk.version == 4
    assert str(image.pk) in reverse("screening:image_file", kwargs={"pk": image.pk})


def test_a_guessed_image_id_is_a_404(nurse, image):
    client = login(nurse)
    guess = reverse("screening:image_file", kwargs={"pk": uuid.uuid4()})
    assert client.get(guess).status_code == 404
    assert client.get(f"/images/{1}/file/").status_code == 404  # no integer ids


@pytest.mark.parametrize("variant", ["screening:image_file", "screening:image_thumb"])
def test_another_sites_image_is_a_404_even_with_its_exact_url(variant, outsider, image):
    response = login(outsider).get(reverse(variant, kwargs={"pk": image.pk}))
    assert response.status_code == 404


def test_stored_file_names_carry_no_patient_data(image, patient):
    for stored in (image.file.name, image.thumbnail.name):
        assert image.id.hex in stored
        for secret in (patient.mrn, patient.family_name, patient.given_name, "WAGNER_Jocelyn"):
            assert secret not in stored


def test_pages_carry_a_strict_content_security_policy(nurse):
    response = login(nurse).get(reverse("home"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


TEMPLATES = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=|<style", re.IGNORECASE)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_need_no_unsafe_inline_policy(template):
    """The policy forbids inline scripts, event handlers and styles: templates must have none."""
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text)
    assert not INLINE_HANDLER.search(text)
    assert not INLINE_STYLE.search(text)


def test_signed_in_pages_are_not_stored_by_the_browser(nurse, patient):
    response = login(nurse).get(reverse("patients:detail", kwargs={"pk": patient.pk}))
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]

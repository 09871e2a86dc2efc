"""The API's contract: the OpenAPI schema validates, the docs page runs under the Content Security
Policy with vendored assets only, errors share one body, and each token is throttled."""

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import issue_token, token_client


def test_openapi_schema_is_generated_without_warnings_and_validates(tmp_path):
    """drf-spectacular validates against the OpenAPI 3 JSON schema; warnings fail too."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/visits/{id}/fhir" in schema["paths"]
    assert set(schema["components"]["securitySchemes"]) == {"apiToken", "webSession"}


def test_schema_is_served(client):
    response = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "DR Portal API"


def test_docs_page_uses_only_same_origin_assets_and_no_inline_code(client):
    response = client.get(reverse("api:docs"))
    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html
    # Assets: scripts, stylesheets, icons (the portal header's links are pages, not assets).
    assets = re.findall(r'(?:src|href)="([^"]+)"', re.sub(r"<a\b[^>]*>", "", html))
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets)
    for asset in assets:  # vendored here (drf-spectacular-sidecar, static/), never a CDN
        if asset.startswith(settings.STATIC_URL):
            assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
        else:
            assert client.get(asset).status_code == 200, asset


def test_docs_script_is_served_as_javascript(client):
    response = client.get(reverse("api:docs") + "?script=")
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]


def test_unknown_api_urls_get_the_json_error_body():
    response = APIClient().get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_id_too_long_for_the_database_is_a_404_not_a_500(api):
    assert api.get("/api/v1/patients/99999999999999999999999/").status_code == 404


def test_each_token_is_throttled_on_its_own(api_client_user, admin_user, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    first = token_client(issue_token(api_client_user, actor=admin_user))
    second = token_client(issue_token(api_client_user, actor=admin_user))
    url = reverse("api:token")
    assert [first.get(url).status_code for _ in range(3)] == [200, 200, 200]
    throttled = first.get(url)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    error = throttled.json()["error"]
    assert error["status"] == 429 and error["code"] == "throttled"
    assert second.get(url).status_code == 200


@pytest.mark.parametrize("method", ["put", "delete"])
def test_methods_without_an_operation_are_a_405(api, patient, method):
    response = getattr(api, method)(reverse("api:patient-detail", kwargs={"pk": patient.pk}))
    assert response.status_code == 405
    assert response.json()["error"]["status"] == 405


def test_api_answers_are_never_cached(api, patient):
    response = api.get(reverse("api:patient-detail", kwargs={"pk": patient.pk}))
    assert "no-store" in response["Cache-Control"]

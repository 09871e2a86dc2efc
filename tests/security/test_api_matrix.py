"""Every API endpoint (enumerated from the URL conf, with each HTTP method its view maps) against
anonymous callers, each role, callers of another site, and expired and revoked tokens.

A new endpoint or method without a row here fails test_every_api_endpoint_is_in_the_matrix. Web
users call the API with their session; the API client role with a token. A record of another site
is a 404 (never a 403 that confirms it exists); a role without the operation is a 403; missing,
expired or revoked credentials are a 401.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from screening.services.images import image_attach
from tests.conftest import issue_token, session_client, token_client
from tests.factories import UserFactory, fundus_like_jpeg

CALLERS = [
    "anonymous",
    "nurse",
    "doctor",
    "admin",
    "api_client",
    "outsider",  # a nurse of another site (session)
    "outsider_api",  # an API client of another site (token)
    "expired",  # the home API client's expired token
    "revoked",  # the home API client's revoked token
]
NO_CREDENTIALS = {"anonymous": 401, "expired": 401, "revoked": 401}
READ = {**NO_CREDENTIALS, "nurse": 200, "doctor": 200, "admin": 200, "api_client": 200}
READ_HOME = {**READ, "outsider": 404, "outsider_api": 404}
READ_OWN = {**READ, "outsider": 200, "outsider_api": 200}  # lists: each caller sees its sites
FORBIDDEN_TO_READERS = {"doctor": 403, "admin": 403}
PUBLIC = dict.fromkeys(CALLERS, 200)

# (url name, method) -> {caller: expected status}
MATRIX = {
    ("api:token", "GET"): READ_OWN,
    ("api:patient-list", "GET"): READ_OWN,
    # The body names the home site, which callers of another site cannot choose (a field error).
    ("api:patient-list", "POST"): {
        **READ,
        **FORBIDDEN_TO_READERS,
        "nurse": 201,
        "api_client": 201,
        "outsider": 400,
        "outsider_api": 400,
    },
    ("api:patient-detail", "GET"): READ_HOME,
    # Only nurses change patients (ROLE_PERMISSIONS gives API clients add, not change).
    ("api:patient-detail", "PATCH"): {
        **READ_HOME,
        **FORBIDDEN_TO_READERS,
        "api_client": 403,
        "outsider_api": 403,
    },
    ("api:visit-list", "GET"): READ_OWN,
    ("api:visit-list", "POST"): {
        **READ,
        **FORBIDDEN_TO_READERS,
        "nurse": 201,
        "api_client": 201,
        "outsider": 400,
        "outsider_api": 400,
    },
    ("api:visit-detail", "GET"): READ_HOME,
    ("api:visit-results", "GET"): READ_HOME,
    ("api:visit-images", "GET"): READ_HOME,
    ("api:visit-images", "POST"): {
        **READ_HOME,
        **FORBIDDEN_TO_READERS,
        "nurse": 201,
        "api_client": 201,
    },
    ("api:visit-report", "GET"): READ_HOME,
    ("api:visit-report-pdf", "GET"): READ_HOME,
    ("api:visit-fhir", "GET"): READ_HOME,
    ("api:image-detail", "GET"): READ_HOME,
    ("api:image-results", "GET"): READ_HOME,
    # The contract and its documentation are public (no records in them).
    ("api:schema", "GET"): PUBLIC,
    ("api:docs", "GET"): PUBLIC,
}
SIGNED_VISIT_URLS = {"api:visit-report", "api:visit-report-pdf", "api:visit-fhir"}


def api_endpoints() -> set[tuple[str, str]]:
    """(url name, HTTP method) of every endpoint under the `api` namespace."""
    found = set()
    for pattern in _api_patterns(get_resolver().url_patterns):
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions:
            methods = {method.upper() for method in actions}
        else:
            view_class = getattr(callback, "cls", None) or callback.view_class
            methods = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)}
        methods -= {"OPTIONS", "HEAD"}  # HEAD answers like GET; OPTIONS has no operation (403)
        found |= {(f"api:{pattern.name}", method) for method in methods}
    return found


def _api_patterns(patterns: list) -> list[URLPattern]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "api":
                found.extend(p for p in pattern.url_patterns if isinstance(p, URLPattern))
            else:
                found.extend(_api_patterns(pattern.url_patterns))
    return found


def test_every_api_endpoint_is_in_the_matrix():
    assert api_endpoints() == set(MATRIX)


def test_every_row_names_every_caller():
    for key, expected in MATRIX.items():
        assert set(expected) == set(CALLERS), key


@pytest.fixture
def callers(nurse, doctor, admin_user, api_client_user, outsider, other_site, expired_api):
    return {
        "anonymous": APIClient(),
        "nurse": session_client(nurse),
        "doctor": session_client(doctor),
        "admin": session_client(admin_user),
        "api_client": token_client(issue_token(api_client_user, actor=admin_user)),
        "outsider": session_client(outsider),
        "outsider_api": token_client(
            issue_token(
                UserFactory(username="camera_away", roles=["api_client"], sites=[other_site]),
                actor=admin_user,
            )
        ),
    }


def _signed_visit(request):
    from screening.services.review import review_sign_off
    from tests.factories import PASSWORD, make_graded_visit, read_visit

    nurse, patient = request.getfixturevalue("nurse"), request.getfixturevalue("patient")
    signed = make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    read_visit(request.getfixturevalue("doctor"), signed, right="0", left="0")
    review_sign_off(actor=request.getfixturevalue("doctor"), visit=signed, password=PASSWORD)
    return signed


def _request(name, method, caller, client, *, patient, visit, image, site, request):
    if name in SIGNED_VISIT_URLS:
        kwargs = {"pk": _signed_visit(request).pk}
    elif name.startswith("api:image"):
        kwargs = {"pk": image.pk}
    elif name.startswith("api:patient-detail"):
        kwargs = {"pk": patient.pk}
    elif name in ("api:visit-detail", "api:visit-results", "api:visit-images"):
        kwargs = {"pk": visit.pk}
    else:
        kwargs = {}
    url = reverse(name, kwargs=kwargs)
    if method == "GET":
        return client.get(url)
    if name == "api:patient-list":
        body = {"site": site.pk, "mrn": f"NEW-{caller}", "given_name": "Ada", "family_name": "Li"}
        return client.post(url, {**body, "date_of_birth": "1960-02-03"}, format="json")
    if name == "api:visit-list":
        return client.post(url, {"patient": patient.pk, "visit_date": "2026-02-01"}, format="json")
    if name == "api:visit-images":
        upload = SimpleUploadedFile("new.jpg", fundus_like_jpeg(seed=7))
        return client.post(url, {"file": upload, "eye": "right"}, format="multipart")
    if method == "PATCH":
        return client.patch(url, {"phone": "0123 456"}, format="json")
    raise AssertionError(f"no request for {method} {name}")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1]} {e[0]}")
def test_api_permission_matrix(
    endpoint, caller, callers, request, patient, visit, nurse, site, revoked_api, expired_api
):
    name, method = endpoint
    clients = {**callers, "expired": expired_api, "revoked": revoked_api}
    image, _ = image_attach(
        actor=nurse,
        visit=visit,
        upload=SimpleUploadedFile("a.jpg", fundus_like_jpeg()),
        eye="left",
        field="macula",
    )
    response = _request(
        name,
        method,
        caller,
        clients[caller],
        patient=patient,
        visit=visit,
        image=image,
        site=site,
        request=request,
    )
    expected = MATRIX[endpoint][caller]
    assert response.status_code == expected, f"{caller} {method} {name}: {response.content[:300]}"
    if response.status_code >= 400 and name not in ("api:schema", "api:docs"):
        error = response.json()["error"]
        assert error["status"] == expected and error["message"]
    if expected == 404:
        for leak in (patient.full_name, str(patient)):  # a bare surname can be a common word
            assert leak.encode() not in response.content


def test_missing_expired_and_revoked_credentials_say_why(expired_api, revoked_api):
    url = reverse("api:patient-list")
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    assert "expired" in expired_api.get(url).json()["error"]["message"]
    assert "revoked" in revoked_api.get(url).json()["error"]["message"]
    garbage = token_client("drp_123456789abc_not-the-secret").get(url)
    assert garbage.status_code == 401
    assert garbage.json()["error"]["message"] == "Invalid API token."


def test_session_writes_need_a_csrf_token(nurse, site):
    """The web session is a cookie: a POST without the CSRF token is refused (tokens need none)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(nurse)
    response = client.post(
        reverse("api:patient-list"),
        {"site": site.pk, "mrn": "C1", "given_name": "A", "family_name": "B"},
        format="json",
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]

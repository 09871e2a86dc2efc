"""Every URL of the web application against anonymous, each role, and a nurse of another site.

The URL conf is enumerated: a new view without a row here fails test_every_url_is_in_the_matrix.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from screening.services.images import image_attach
from tests.conftest import login
from tests.factories import fundus_like_jpeg

ROLES = ["anonymous", "nurse", "doctor", "admin", "api_client", "outsider"]
LOGIN = "login-redirect"

# url name -> (method, {role: expected status}); LOGIN means a redirect to the sign-in page.
READ = {"anonymous": LOGIN, "nurse": 200, "doctor": 200, "admin": 200, "api_client": 403}
WRITE = {"anonymous": LOGIN, "nurse": 200, "doctor": 403, "admin": 403, "api_client": 403}
MATRIX = {
    "home": ("get", {**READ, "api_client": 200, "outsider": 200}),
    "patients:list": ("get", {**READ, "outsider": 200}),
    "patients:create": ("get", {**WRITE, "outsider": 200}),
    "patients:detail": ("get", {**READ, "outsider": 404}),
    "patients:edit": ("get", {**WRITE, "outsider": 404}),
    "screening:visit_create": ("get", {**WRITE, "outsider": 404}),
    "screening:visit_detail": ("get", {**READ, "outsider": 404}),
    "screening:image_upload": ("post", {**WRITE, "nurse": 302, "outsider": 404}),
    # Batch upload (issue 13): an empty POST is a 400 for the nurse (no file, no formset).
    "screening:batch_upload": ("get", {**WRITE, "outsider": 404}),
    "screening:batch_check": ("post", {**WRITE, "nurse": 400, "outsider": 404}),
    "screening:batch_submit": ("post", {**WRITE, "nurse": 400, "outsider": 404}),
    "screening:image_file": ("get", {**READ, "outsider": 404}),
    "screening:image_thumb": ("get", {**READ, "outsider": 404}),
    "screening:visit_images_live": ("get", {**READ, "outsider": 404}),
    # No heatmap exists before grading, so even allowed roles get 404 here; the role check and
    # site scoping happen first (api_client 403).
    "screening:image_heatmap": (
        "get",
        {**READ, "nurse": 404, "doctor": 404, "admin": 404, "outsider": 404},
    ),
    "screening:grading_dashboard": (
        "get",
        {
            "anonymous": LOGIN,
            "nurse": 403,
            "doctor": 403,
            "admin": 200,
            "api_client": 403,
            "outsider": 403,
        },
    ),
}
# Accounts, user and site management, audit trail (issue 7): administration is for admins only.
ADMIN_ONLY = {r: 403 for r in ROLES} | {"anonymous": LOGIN, "admin": 200}
ADMIN_POST = {**ADMIN_ONLY, "admin": 302}
MATRIX |= {
    "accounts:password_change": ("get", {r: 200 for r in ROLES} | {"anonymous": LOGIN}),
    "accounts:set_password": ("get", {r: 200 for r in ROLES}),
    "staff:user_list": ("get", ADMIN_ONLY),
    "staff:user_create": ("get", ADMIN_ONLY),
    "staff:user_detail": ("get", ADMIN_ONLY),
    "staff:user_deactivate": ("post", ADMIN_POST),
    "staff:user_reactivate": ("post", ADMIN_POST),
    "staff:user_invite": ("post", ADMIN_POST),
    "staff:user_reset_password": ("post", ADMIN_POST),
    "staff:site_list": ("get", ADMIN_ONLY),
    "staff:site_create": ("get", ADMIN_ONLY),
    "staff:site_edit": ("get", ADMIN_ONLY),
    "staff:site_deactivate": ("post", ADMIN_POST),
    "staff:site_reactivate": ("post", ADMIN_POST),
    "audit:list": ("get", ADMIN_ONLY),
    # API tokens of a user (issue 7): issued and revoked by admins only.
    "staff:api_tokens": ("get", ADMIN_ONLY),
    "staff:api_token_revoke": ("post", ADMIN_POST),
}
# Doctors' review, sign-off and reports (issue 5). Review URLs use a graded visit awaiting review,
# report URLs a signed one (see url_kwargs). The outsider is a nurse, so the role check (403) comes
# before site scoping; a doctor of another site gets 404 (tests/review/test_access.py).
DOCTOR_ONLY = {r: 403 for r in ROLES} | {"anonymous": LOGIN, "doctor": 200}
DOCTOR_POST = {**DOCTOR_ONLY, "doctor": 302}
REPORT = {**READ, "outsider": 404}
MATRIX |= {
    "screening:worklist": ("get", DOCTOR_ONLY),
    "screening:review_dashboard": ("get", {**DOCTOR_ONLY, "admin": 200}),
    "screening:review": ("get", DOCTOR_ONLY),
    "screening:review_start": ("post", DOCTOR_POST),
    "screening:review_submit": ("post", DOCTOR_POST),
    "screening:review_withdraw": ("post", DOCTOR_POST),
    "screening:sign_off": ("get", DOCTOR_ONLY),
    "screening:addendum_add": ("get", DOCTOR_ONLY),
    "screening:report": ("get", REPORT),
    "screening:report_pdf": ("get", REPORT),
    "screening:letter": ("get", REPORT),
    "screening:letter_pdf": ("get", REPORT),
}
# Framework pages with their own, tested-upstream access rules; the REST API has its own matrix
# (tests/security/test_api_matrix.py), with 401s instead of sign-in redirects.
NOT_IN_MATRIX_NAMESPACES = {"admin", "api"}
NOT_IN_MATRIX = {"login", "logout", "favicon"}  # favicon: a public redirect to a static file


def _all_url_names(patterns: list, namespace: str = "") -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            if pattern.namespace not in NOT_IN_MATRIX_NAMESPACES:
                names |= _all_url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_is_in_the_matrix():
    assert _all_url_names(get_resolver().url_patterns) - NOT_IN_MATRIX == set(MATRIX)


@pytest.fixture
def users(nurse, doctor, admin_user, api_client_user, outsider):
    return {
        "nurse": nurse,
        "doctor": doctor,
        "admin": admin_user,
        "api_client": api_client_user,
        "outsider": outsider,
    }


@pytest.fixture
def url_kwargs(patient, visit, nurse, request):
    from django.core.files.uploadedfile import SimpleUploadedFile

    image, _ = image_attach(
        actor=nurse,
        visit=visit,
        upload=SimpleUploadedFile("a.jpg", fundus_like_jpeg()),
        eye="left",
        field="macula",
    )
    return {
        "patients:detail": {"pk": patient.pk},
        "patients:edit": {"pk": patient.pk},
        "screening:visit_create": {"patient_pk": patient.pk},
        "screening:visit_detail": {"pk": visit.pk},
        "screening:image_upload": {"pk": visit.pk},
        **{f"screening:batch_{n}": {"pk": visit.pk} for n in ("upload", "check", "submit")},
        "screening:image_file": {"pk": image.pk},
        "screening:image_thumb": {"pk": image.pk},
        "screening:image_heatmap": {"pk": image.pk},
        "screening:visit_images_live": {"pk": visit.pk},
        "accounts:set_password": {"uidb64": "MQ", "token": "not-a-valid-token"},
        **{
            f"staff:user_{action}": {"pk": nurse.pk}
            for action in ("detail", "deactivate", "reactivate", "invite", "reset_password")
        },
        **{
            f"staff:site_{a}": {"pk": patient.site_id} for a in ("edit", "deactivate", "reactivate")
        },
        "staff:api_tokens": {"pk": nurse.pk},
        **(_token_url_kwargs(request) if _wants(request, {"staff:api_token_revoke"}) else {}),
        # Built only for the review rows (graded and signed visits cost a few queries each).
        **(_review_url_kwargs(request) if _wants_review_visits(request) else {}),
    }


REVIEW_URL_NAMES = {"screening:review", "screening:review_start", "screening:review_submit"}
REVIEW_URL_NAMES |= {"screening:sign_off", "screening:review_withdraw"}
SIGNED_URL_NAMES = {f"screening:{n}" for n in ("addendum_add", "report", "report_pdf")}
SIGNED_URL_NAMES |= {"screening:letter", "screening:letter_pdf"}


def _wants(request, names: set[str]) -> bool:
    callspec = getattr(request.node, "callspec", None)
    return callspec is not None and callspec.params.get("name") in names


def _token_url_kwargs(request) -> dict[str, dict[str, int]]:
    from accounts.services import api_token_create

    token, _ = api_token_create(
        actor=request.getfixturevalue("admin_user"),
        user=request.getfixturevalue("api_client_user"),
        name="camera",
        actions=["read"],
    )
    return {"staff:api_token_revoke": {"pk": token.pk}}


def _wants_review_visits(request) -> bool:
    callspec = getattr(request.node, "callspec", None)
    return callspec is not None and callspec.params.get("name") in (
        REVIEW_URL_NAMES | SIGNED_URL_NAMES
    )


def _review_url_kwargs(request) -> dict[str, dict[str, int]]:
    from screening.services.review import review_sign_off
    from tests.factories import PASSWORD, make_graded_visit, read_visit

    nurse, patient = request.getfixturevalue("nurse"), request.getfixturevalue("patient")
    doctor = request.getfixturevalue("doctor")
    graded = make_graded_visit(nurse=nurse, patient=patient, right=1, left=0)
    signed = make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    read_visit(doctor, signed, right="0", left="0")
    review_sign_off(actor=doctor, visit=signed, password=PASSWORD)
    return {name: {"pk": graded.pk} for name in REVIEW_URL_NAMES} | {
        name: {"pk": signed.pk} for name in SIGNED_URL_NAMES
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_permission_matrix(name, role, users, url_kwargs, client):
    method, expected_by_role = MATRIX[name]
    expected = expected_by_role[role]
    url = reverse(name, kwargs=url_kwargs.get(name, {}))
    http = client if role == "anonymous" else login(users[role])
    response = getattr(http, method)(url)
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == expected, f"{role} {method.upper()} {url}"


def test_outsider_404_does_not_leak_the_record(outsider, patient):
    response = login(outsider).get(reverse("patients:detail", kwargs={"pk": patient.pk}))
    assert response.status_code == 404
    for leak in (patient.full_name, str(patient)):  # a bare surname can be a common word
        assert leak not in response.content.decode()


def test_outsider_list_does_not_show_other_sites_patients(outsider, patient):
    response = login(outsider).get(reverse("patients:list"))
    assert patient.mrn not in response.content.decode()


def test_admin_sees_every_site(admin_user, patient):
    response = login(admin_user).get(reverse("patients:list"))
    assert patient.mrn in response.content.decode()

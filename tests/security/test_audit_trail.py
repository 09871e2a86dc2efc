"""The audit trail: recording, append-only at every level, the admin-only search page."""

import datetime

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, AuditTrailIsAppendOnly
from audit.services import audit_record
from tests.conftest import login
from tests.factories import fundus_like_jpeg


@pytest.fixture
def event(admin_user, nurse):
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="Firefox/140")
    return audit_record(
        actor=admin_user,
        action="user.update",
        obj=nurse,
        changes={"email": ["", "n@example.org"]},
        request=request,
    )


def test_records_actor_action_object_changes_and_origin(event, admin_user, nurse):
    event.refresh_from_db()
    assert (event.actor, event.action) == (admin_user, "user.update")
    assert (event.object_type, event.object_id, event.object_repr) == (
        "accounts.user",
        str(nurse.pk),
        str(nurse),
    )
    assert event.changes == {"email": ["", "n@example.org"]}
    assert (event.ip_address, event.user_agent) == ("10.1.2.3", "Firefox/140")
    assert event.created_at <= timezone.now()


@pytest.mark.django_db
def test_system_events_have_no_actor():
    event = audit_record(actor=None, action="grading.retry")
    assert event.actor is None and event.object_type == ""


@pytest.mark.django_db
def test_forwarded_address_is_used_only_behind_a_trusted_proxy(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2"
    )
    assert audit_record(actor=None, action="x", request=request).ip_address == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert audit_record(actor=None, action="x", request=request).ip_address == "2.2.2.2"


def test_a_recorded_event_cannot_be_saved_again(event):
    event.action = "something.else"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()


def test_a_recorded_event_cannot_be_deleted(event):
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()


@pytest.mark.parametrize(
    "write",
    [
        lambda qs: qs.update(action="x"),
        lambda qs: qs.delete(),
        lambda qs: qs.bulk_update(list(qs), ["action"]),
        lambda qs: qs.update_or_create(pk=1, defaults={"action": "x"}),
    ],
    ids=["update", "delete", "bulk_update", "update_or_create"],
)
def test_bulk_writes_are_refused(event, write):
    with pytest.raises(AuditTrailIsAppendOnly):
        write(AuditEvent.objects.all())
    assert AuditEvent.objects.get(pk=event.pk).action == "user.update"


@pytest.mark.parametrize(
    "sql", ["UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"]
)
def test_the_database_refuses_raw_updates_and_deletes(event, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.filter(pk=event.pk, action="user.update").exists()


def test_django_admin_is_read_only(event, admin_user):
    model_admin = admin_site._registry[AuditEvent]
    request = RequestFactory().get("/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)


def test_audit_page_lists_and_filters(event, admin_user, nurse):
    audit_record(actor=nurse, action="patient.view")
    client = login(admin_user)
    url = reverse("audit:list")
    page = client.get(url).content.decode()
    assert "user.update" in page and "patient.view" in page
    by_action = client.get(url, {"action": "patient.view"}).content.decode()
    assert "patient.view" in by_action and "n@example.org" not in by_action
    by_actor = client.get(url, {"actor": admin_user.pk}).content.decode()
    assert "user.update" in by_actor and '<td title="patient.view">' not in by_actor
    by_object = client.get(url, {"object_type": "accounts.user", "object_id": nurse.pk})
    assert "n@example.org" in by_object.content.decode()


def test_audit_page_filters_by_date_range(event, admin_user):
    client = login(admin_user)
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    assert (
        "user.update"
        in client.get(
            reverse("audit:list"), {"date_from": today, "date_to": today}
        ).content.decode()
    )
    assert (
        "No events match"
        in client.get(reverse("audit:list"), {"date_from": tomorrow}).content.decode()
    )
    assert (
        "after the end date"
        in client.get(
            reverse("audit:list"), {"date_from": tomorrow, "date_to": today}
        ).content.decode()
    )


def test_audit_page_query_budget(admin_user, nurse, django_assert_max_num_queries):
    for n in range(30):
        audit_record(actor=nurse, action=f"patient.view.{n % 3}", obj=nurse)
    client = login(admin_user)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("audit:list")).status_code == 200


def test_changes_made_in_django_admin_are_audited(admin_user, site):
    response = login(admin_user).post(
        reverse("admin:accounts_site_change", args=[site.pk]),
        {"code": site.code, "name": "Renamed Clinic", "address": "", "is_active": "on"},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="site.update")
    assert event.actor == admin_user and event.object_id == str(site.pk)
    assert event.changes == {"django_admin": [{"changed": {"fields": ["Name"]}}]}


def test_an_unreadable_date_filter_is_reported_and_shows_nothing(event, admin_user):
    response = login(admin_user).get(reverse("audit:list"), {"date_from": "garbage"})
    text = response.content.decode()
    assert "Enter a valid date." in text and "No events match." in text


# --- every audited action carries the client's IP address and user agent -------------------------
# (tests/audit_origin.py checks the same for every request of the whole suite; this test drives
# each write of the workflow on purpose, from a known address and browser.)

WARD_PC = {"REMOTE_ADDR": "10.20.30.40", "HTTP_USER_AGENT": "Ward 3 PC (Firefox 140)"}
CAMERA = {"REMOTE_ADDR": "10.20.30.99", "HTTP_USER_AGENT": "FundusCam-Uploader/2.1"}
PATIENT_FORM = {
    "mrn": "H-0200",
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1956-12-09",
    "sex": "female",
    "diabetes_type": "type1",
    "diagnosis_year": "1980",
    "phone": "",
    "email": "",
    "address": "",
}


def _from(user, origin) -> Client:
    client = Client(**origin)
    client.force_login(user)
    return client


def _events_since(marker: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=marker).order_by("pk"))


def desk_url(name: str, visit) -> str:
    return reverse(f"screening:{name}", kwargs={"pk": visit.pk})


def _marker() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_every_write_through_the_web_records_the_ip_address_and_user_agent(
    nurse, doctor, site, patient
):
    from screening.models import Visit
    from tests.factories import PASSWORD, make_graded_visit

    graded = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    ward, desk = _from(nurse, WARD_PC), _from(doctor, WARD_PC)
    marker = _marker()  # after the sign-ins, which the test client makes without a request

    ward.post(reverse("patients:create"), {**PATIENT_FORM, "site": site.pk})
    registered = patient.__class__.objects.get(mrn="H-0200")
    edit = reverse("patients:edit", kwargs={"pk": registered.pk})
    ward.post(edit, {**PATIENT_FORM, "site": site.pk, "phone": "0123"})
    ward.post(
        reverse("screening:visit_create", kwargs={"patient_pk": registered.pk}),
        {"visit_date": "2026-02-03", "camera": "Topcon", "notes": ""},
    )
    opened = Visit.objects.get(patient=registered)
    photo = fundus_like_jpeg(seed=7)
    for _ in range(2):  # the second time is a repeat
        ward.post(
            desk_url("image_upload", opened),
            {"eye": "right", "field": "macula", "files": [SimpleUploadedFile("od.jpg", photo)]},
        )
    desk.post(desk_url("review_start", graded))
    desk.post(desk_url("review", graded), {"eye": "right", "right-gradable": "yes", "agree": "1"})
    desk.post(desk_url("review_withdraw", graded))
    desk.post(desk_url("review_start", graded))
    for eye in ("right", "left"):
        desk.post(
            desk_url("review", graded),
            {"eye": eye, f"{eye}-gradable": "yes", f"{eye}-dme": "absent", "agree": "1"},
        )
    desk.post(desk_url("review_submit", graded), {"outcome": "", "comment": ""})
    desk.post(desk_url("sign_off", graded), {"password": "wrong"})
    desk.post(desk_url("sign_off", graded), {"password": PASSWORD})
    desk.post(desk_url("addendum_add", graded), {"reason": "Correction", "text": "Checked."})

    events = _events_since(marker)
    writes = {e.action for e in events if not e.action.endswith(("view", "download"))}
    assert writes == {
        "patient.create",
        "patient.update",
        "visit.create",
        "image.upload",
        "image.upload_repeat",
        "review.start",
        "eye_reading.record",
        "review.withdraw",
        "review.submit",
        "review.sign_off_refused",
        "review.sign_off",
        "addendum.add",
    }
    for event in events:
        assert (event.action, event.ip_address, event.user_agent) == (
            event.action,
            WARD_PC["REMOTE_ADDR"],
            WARD_PC["HTTP_USER_AGENT"],
        )


def test_every_write_through_the_api_records_the_ip_address_user_agent_and_token(
    api_client_user, admin_user, site
):
    from rest_framework.test import APIClient

    from tests.conftest import issue_token

    marker = _marker()
    api = APIClient(**CAMERA)
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(api_client_user, actor=admin_user)}")
    patient = api.post("/api/v1/patients/", {**PATIENT_FORM, "diagnosis_year": 1980}, "json")
    visit = api.post("/api/v1/visits/", {"patient": patient.json()["id"]}, "json").json()
    upload = SimpleUploadedFile("os.jpg", fundus_like_jpeg(seed=8))
    api.post(f"/api/v1/visits/{visit['id']}/images/", {"file": upload, "eye": "left"}, "multipart")
    api.get(f"/api/v1/patients/{patient.json()['id']}/")

    events = [e for e in _events_since(marker) if e.action != "api_token.create"]
    assert [e.action for e in events] == [
        "patient.create",
        "visit.create",
        "image.upload",
        "patient.view",
    ]
    for event in events:
        assert (event.ip_address, event.user_agent) == (
            CAMERA["REMOTE_ADDR"],
            CAMERA["HTTP_USER_AGENT"],
        )
        assert event.changes["via"] == "api" and event.changes["api_token"]

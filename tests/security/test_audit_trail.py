"""The audit trail: recording, append-only at every level, the admin-only search page."""

import datetime

import pytest
from django.contrib.admin.sites import site as admin_site
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, AuditTrailIsAppendOnly
from audit.services import audit_record
from tests.conftest import login


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

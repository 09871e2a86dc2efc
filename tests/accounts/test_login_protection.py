"""Sign-in protection: lockout after repeated failures, audited sign-ins, idle session expiry and
sign-out everywhere after a password change."""

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.conftest import login

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory


def _sign_in(client: Client, username: str, password: str, ip: str = "10.0.0.5"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_sign_in_and_out_are_audited_with_the_address(nurse):
    client = Client()
    assert _sign_in(client, "nurse", PASSWORD).status_code == 302
    client.post(reverse("logout"), REMOTE_ADDR="10.0.0.5")
    events = list(AuditEvent.objects.order_by("created_at", "pk"))
    assert [(e.action, e.actor, e.ip_address) for e in events] == [
        ("auth.login", nurse, "10.0.0.5"),
        ("auth.logout", nurse, "10.0.0.5"),
    ]


def test_failed_sign_in_is_audited_without_the_password(nurse):
    _sign_in(Client(), "nurse", "wrong-password-123")
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor is None and event.changes == {"username": "nurse"}
    assert "wrong-password" not in str(event.changes)


def test_lockout_after_five_failures_for_that_username_and_address(nurse, doctor):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, "nurse", "wrong-password-123").status_code == 200
    assert _sign_in(client, "nurse", "wrong-password-123").status_code == 429  # the 5th locks
    locked = _sign_in(client, "nurse", PASSWORD)  # now even the right password is refused
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert AuditEvent.objects.filter(action="auth.locked_out").exists()
    assert _sign_in(Client(), "doctor", PASSWORD).status_code == 302  # other users unaffected
    assert _sign_in(Client(), "nurse", PASSWORD, ip="10.0.0.9").status_code == 302


def test_successful_sign_in_resets_the_failure_count(nurse):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "nurse", "wrong-password-123")
    assert _sign_in(client, "nurse", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(Client(), "nurse", "wrong-password-123")
    assert _sign_in(Client(), "nurse", PASSWORD).status_code == 302


def test_each_request_extends_the_idle_timeout(nurse_client):
    assert settings.SESSION_SAVE_EVERY_REQUEST
    key = nurse_client.session.session_key
    Session.objects.filter(pk=key).update(
        expire_date=timezone.now() + datetime.timedelta(seconds=5)
    )
    nurse_client.get(reverse("home"))
    remaining = Session.objects.get(pk=key).expire_date - timezone.now()
    assert remaining > datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


def test_an_idle_session_ends(nurse_client):
    key = nurse_client.session.session_key
    idle = datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE + 1)
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - idle)
    assert nurse_client.get(reverse("home"))["Location"].startswith(reverse("login"))


def test_password_change_signs_out_every_other_session(nurse):
    here, elsewhere = login(nurse), login(nurse)
    new = "amber-lighthouse-quartz-9"
    response = here.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert here.get(reverse("home")).status_code == 200
    assert elsewhere.get(reverse("home"))["Location"].startswith(reverse("login"))
    nurse.refresh_from_db()
    assert nurse.check_password(new)
    assert AuditEvent.objects.filter(action="user.password_change", actor=nurse).exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short1", "too short"), ("password123", "too common"), ("83920174652", "entirely numeric")],
)
def test_password_validators_apply_to_the_change_page(nurse, password, reason):
    response = login(nurse).post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert reason in response.content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(PASSWORD)


def test_wrong_old_password_is_refused(nurse):
    response = login(nurse).post(
        reverse("accounts:password_change"),
        {
            "old_password": "nope",
            "new_password1": "x-y-z-long-9q",
            "new_password2": "x-y-z-long-9q",
        },
    )
    assert "incorrectly" in response.content.decode()


def test_an_admin_password_reset_lifts_the_lockout(nurse, admin_user):
    nurse.email = "nurse@example.org"
    nurse.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(Client(), "nurse", "wrong-password-123")
    login(admin_user).post(reverse("staff:user_reset_password", kwargs={"pk": nurse.pk}))
    nurse.set_password(PASSWORD)  # as if the nurse had used the emailed link
    nurse.save()
    assert _sign_in(Client(), "nurse", PASSWORD).status_code == 302

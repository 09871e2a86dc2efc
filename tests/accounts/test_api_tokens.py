"""Administrators issue and revoke API tokens on the staff pages: the plaintext is shown once,
only a hash is stored, every change is audited, and tokens may be limited and expire."""

import datetime
import hashlib
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.api_tokens import TokenRefused, token_check
from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke
from audit.models import AuditEvent
from tests.conftest import login

TOKEN = re.compile(r"drp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def test_admin_issues_a_token_and_sees_it_once(admin_user, api_client_user, site):
    client = login(admin_user)
    url = reverse("staff:api_tokens", kwargs={"pk": api_client_user.pk})
    response = client.post(
        url,
        {"name": "Camera PC", "actions": ["read", "upload"], "sites": [site.pk], "expires_on": ""},
    )
    assert response.status_code == 200
    plaintext = TOKEN.search(response.content.decode()).group(0)
    token = ApiToken.objects.get()
    secret = plaintext.split("_", 2)[2]
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())  # only the hash is stored
    assert (token.actions, list(token.sites.all()), token.expires_at) == (
        ["read", "upload"],
        [site],
        None,
    )
    assert (
        response["Cache-Control"].startswith("private") or "no-store" in response["Cache-Control"]
    )
    again = client.get(url).content.decode()
    assert plaintext not in again and token.prefix in again
    event = AuditEvent.objects.get(action="api_token.create")
    assert event.actor == admin_user and event.changes["prefix"] == token.prefix
    assert secret not in str(event.changes)


def test_expiry_date_means_the_end_of_that_day(admin_user, api_client_user):
    day = timezone.localdate() + datetime.timedelta(days=30)
    login(admin_user).post(
        reverse("staff:api_tokens", kwargs={"pk": api_client_user.pk}),
        {"name": "EHR", "actions": ["read"], "expires_on": day.isoformat()},
    )
    expires = timezone.localtime(ApiToken.objects.get().expires_at)
    assert (expires.date(), expires.hour) == (day + datetime.timedelta(days=1), 0)


def test_admin_revokes_a_token(admin_user, api_client_user):
    token, plaintext = api_token_create(
        actor=admin_user, user=api_client_user, name="old", actions=["read"]
    )
    response = login(admin_user).post(reverse("staff:api_token_revoke", kwargs={"pk": token.pk}))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at and token.revoked_by == admin_user
    assert AuditEvent.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()
    with pytest.raises(TokenRefused, match="revoked"):
        token_check(plaintext)


def test_tokens_only_for_api_clients_and_their_sites(
    admin_user, nurse, api_client_user, other_site
):
    with pytest.raises(ValidationError) as refused:
        api_token_create(actor=admin_user, user=nurse, name="x", actions=["read"])
    assert "user" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        api_token_create(
            actor=admin_user, user=api_client_user, name="x", actions=[], sites=[other_site]
        )
    assert set(refused.value.message_dict) == {"actions", "sites"}


def test_the_page_refuses_a_token_for_a_user_without_the_api_client_role(admin_user, nurse):
    page = login(admin_user).get(reverse("staff:api_tokens", kwargs={"pk": nurse.pk}))
    assert b"Only users with the API client role" in page.content


def test_expired_token_and_deactivated_user_are_refused(admin_user, api_client_user):
    token, plaintext = api_token_create(
        actor=admin_user,
        user=api_client_user,
        name="x",
        actions=["read"],
        expires_at=timezone.now() + datetime.timedelta(hours=1),
    )
    assert token_check(plaintext).pk == token.pk
    with pytest.raises(TokenRefused, match="expired"):
        token_check(plaintext, now=timezone.now() + datetime.timedelta(hours=2))
    api_client_user.is_active = False
    api_client_user.save()
    with pytest.raises(TokenRefused, match="deactivated"):
        token_check(plaintext)


def test_a_wrong_secret_with_a_real_prefix_is_refused(admin_user, api_client_user):
    token, _ = api_token_create(actor=admin_user, user=api_client_user, name="x", actions=["read"])
    with pytest.raises(TokenRefused, match="Invalid"):
        token_check(f"drp_{token.prefix}_{'A' * 43}")


def test_last_use_is_recorded_at_most_once_a_minute(admin_user, api_client_user):
    token, plaintext = api_token_create(
        actor=admin_user, user=api_client_user, name="x", actions=["read"]
    )
    now = timezone.now()
    token_check(plaintext, now=now)
    token_check(plaintext, now=now + datetime.timedelta(seconds=30))
    token.refresh_from_db()
    assert token.last_used_at == now
    token_check(plaintext, now=now + datetime.timedelta(minutes=2))
    token.refresh_from_db()
    assert token.last_used_at == now + datetime.timedelta(minutes=2)


def test_revoking_twice_is_refused(admin_user, api_client_user):
    token, _ = api_token_create(actor=admin_user, user=api_client_user, name="x", actions=["read"])
    api_token_revoke(actor=admin_user, token=token)
    with pytest.raises(ValidationError, match="already revoked"):
        api_token_revoke(actor=admin_user, token=token)


def test_new_token_form_offers_least_privilege(admin_user, api_client_user):
    page = login(admin_user).get(reverse("staff:api_tokens", kwargs={"pk": api_client_user.pk}))
    checked = re.findall(r'<input[^>]*name="actions"[^>]*value="(\w+)"[^>]*checked', page.text)
    assert checked == ["read"]

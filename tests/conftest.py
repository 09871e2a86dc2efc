"""Role fixtures: a nurse, doctor, admin and API client at the home site, and an outsider nurse who
works only at another site (and must get 404 for the home site's records)."""

import datetime
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke
from tests.audit_origin import _audit_events_carry_the_request_origin  # noqa: F401 (autouse)
from tests.factories import PatientFactory, SiteFactory, UserFactory, VisitFactory


@pytest.fixture(autouse=True, scope="session")
def _private_media_cleanup():
    yield
    shutil.rmtree(settings.PRIVATE_MEDIA_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _empty_fundus_storage():
    """Each test starts with empty private storage, so 'nothing left behind' can be checked exactly.

    (Each xdist worker has its own temporary PRIVATE_MEDIA_ROOT; see settings/test.py.)
    """
    shutil.rmtree(fundus_root(), ignore_errors=True)


@pytest.fixture
def site(db):
    return SiteFactory(code="home", name="Home Clinic")


@pytest.fixture
def other_site(db):
    return SiteFactory(code="away", name="Away Clinic")


@pytest.fixture
def nurse(site):
    return UserFactory(username="nurse", roles=["nurse"], sites=[site])


@pytest.fixture
def doctor(site):
    return UserFactory(username="doctor", roles=["doctor"], sites=[site])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", roles=["admin"])


@pytest.fixture
def api_client_user(site):
    return UserFactory(username="camera", roles=["api_client"], sites=[site])


@pytest.fixture
def outsider(other_site):
    """A nurse of another site: sees nothing of the home site."""
    return UserFactory(username="outsider", roles=["nurse"], sites=[other_site])


@pytest.fixture
def patient(site, nurse):
    return PatientFactory(site=site, created_by=nurse, mrn="H-0001")


@pytest.fixture
def visit(patient, nurse):
    return VisitFactory(patient=patient, captured_by=nurse)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def nurse_client(nurse):
    return login(nurse)


def stored_files() -> list[Path]:
    """Every file in private fundus storage (to prove failed uploads leave nothing behind)."""
    root = fundus_root()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def fundus_root() -> Path:
    return Path(settings.STORAGES["fundus"]["OPTIONS"]["location"])


# --- REST API callers: an API client token (all actions, the home site), tokens that are expired
# or revoked, an API client of another site, and DRF test clients.


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def issue_token(user, *, actor, actions=("read", "write", "upload"), **kwargs) -> str:
    _token, plaintext = api_token_create(
        actor=actor, user=user, name="test", actions=actions, **kwargs
    )
    return plaintext


def token_client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def api_token(api_client_user, admin_user) -> str:
    return issue_token(api_client_user, actor=admin_user)


@pytest.fixture
def api(api_token) -> APIClient:
    """The API client user (the home site) with a token allowing every action."""
    return token_client(api_token)


@pytest.fixture
def other_api_client_user(other_site):
    return UserFactory(username="camera_away", roles=["api_client"], sites=[other_site])


@pytest.fixture
def outsider_api(other_api_client_user, admin_user) -> APIClient:
    """An API client of another site, with a full token."""
    return token_client(issue_token(other_api_client_user, actor=admin_user))


@pytest.fixture
def expired_api(api_client_user, admin_user) -> APIClient:
    plaintext = issue_token(
        api_client_user, actor=admin_user, expires_at=timezone.now() + datetime.timedelta(hours=1)
    )
    ApiToken.objects.filter(prefix=plaintext.split("_")[1]).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    return token_client(plaintext)


@pytest.fixture
def revoked_api(api_client_user, admin_user) -> APIClient:
    plaintext = issue_token(api_client_user, actor=admin_user)
    api_token_revoke(actor=admin_user, token=ApiToken.objects.get(prefix=plaintext.split("_")[1]))
    return token_client(plaintext)

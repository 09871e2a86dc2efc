"""Role fixtures: a nurse, doctor, admin and API client at the home site, and an outsider nurse who
works only at another site (and must get 404 for the home site's records)."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

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

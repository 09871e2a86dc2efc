"""Patients and visits through the API: search, pagination, filters, ordering, writes through the
registry services, and the audit trail."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from patients.models import Patient
from screening.models import Visit
from tests.conftest import session_client
from tests.factories import PatientFactory, VisitFactory

PATIENTS = reverse("api:patient-list")
VISITS = reverse("api:visit-list")


def test_search_matches_mrn_prefix_and_name_parts(api, site, nurse):
    PatientFactory(site=site, created_by=nurse, mrn="A-100", given_name="Mary", family_name="Ng")
    PatientFactory(site=site, created_by=nurse, mrn="B-200", given_name="Omar", family_name="Said")
    assert [p["mrn"] for p in api.get(PATIENTS, {"q": "a-1"}).json()["results"]] == ["A-100"]
    assert [p["mrn"] for p in api.get(PATIENTS, {"q": "omar sai"}).json()["results"]] == ["B-200"]


def test_list_is_paginated_filtered_and_ordered(api, site, nurse):
    for n in range(30):
        PatientFactory(site=site, created_by=nurse, mrn=f"P{n:03d}", family_name=f"Fam{n:03d}")
    first = api.get(PATIENTS).json()
    assert first["count"] == 30 and len(first["results"]) == 25 and first["next"]
    second = api.get(PATIENTS, {"page": 2}).json()
    assert len(second["results"]) == 5 and second["next"] is None
    big = api.get(PATIENTS, {"page_size": 100}).json()
    assert len(big["results"]) == 30
    newest = api.get(PATIENTS, {"ordering": "-mrn"}).json()["results"][0]
    assert newest["mrn"] == "P029"
    assert api.get(PATIENTS, {"mrn": "P007"}).json()["count"] == 1
    assert api.get(PATIENTS, {"site": site.pk + 1000}).json()["count"] == 0


def test_a_page_past_the_end_is_a_json_404(api):
    response = api.get(PATIENTS, {"page": 99})
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_list_shows_only_the_callers_sites(outsider_api, patient):
    assert outsider_api.get(PATIENTS).json()["count"] == 0


def test_register_a_patient_at_the_only_site_and_audit_it(api, site):
    body = {"mrn": "N-1", "given_name": "Ada", "family_name": "Li", "date_of_birth": "1960-02-03"}
    response = api.post(PATIENTS, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["site"] == site.pk and response.json()["visit_count"] == 0
    patient = Patient.objects.get(mrn="N-1")
    event = AuditEvent.objects.get(action="patient.create", object_id=str(patient.pk))
    assert event.actor.username == "camera"
    assert event.changes["via"] == "api" and event.changes["api_token"]


def test_registration_errors_are_field_errors(api, patient):
    body = {
        "mrn": patient.mrn,
        "given_name": "X",
        "family_name": "Y",
        "date_of_birth": "2999-01-01",
    }
    error = api.post(PATIENTS, body, format="json").json()["error"]
    assert error["status"] == 400
    assert "already exists" in error["message"]
    assert error["fields"]["date_of_birth"] == ["The date of birth is in the future."]
    missing = api.post(PATIENTS, {}, format="json").json()["error"]
    assert set(missing["fields"]) >= {"mrn", "given_name", "family_name", "date_of_birth"}


def test_a_caller_of_several_sites_must_name_the_site(nurse, site, other_site):
    nurse.sites.add(other_site)
    body = {"mrn": "N-2", "given_name": "A", "family_name": "B", "date_of_birth": "1960-02-03"}
    error = session_client(nurse).post(PATIENTS, body, format="json").json()["error"]
    assert error["fields"] == {"site": ["Choose the site of the patient."]}


def test_nurse_changes_a_patient_and_the_change_is_audited(nurse, patient):
    url = reverse("api:patient-detail", kwargs={"pk": patient.pk})
    response = session_client(nurse).patch(url, {"phone": "0123 456"}, format="json")
    assert response.status_code == 200 and response.json()["phone"] == "0123 456"
    event = AuditEvent.objects.get(action="patient.update", object_id=str(patient.pk))
    assert event.changes["phone"] == ["", "0123 456"]


def test_a_patient_never_moves_site(nurse, patient, other_site):
    """Refused with the reason, not silently ignored (the caller must learn it did not happen)."""
    url = reverse("api:patient-detail", kwargs={"pk": patient.pk})
    response = session_client(nurse).patch(url, {"site": other_site.pk}, format="json")
    assert response.status_code == 400
    assert "never moves between sites" in response.json()["error"]["fields"]["site"][0]
    patient.refresh_from_db()
    assert patient.site.code == "home"


def test_reading_a_patient_is_audited(api, patient):
    api.get(reverse("api:patient-detail", kwargs={"pk": patient.pk}))
    assert AuditEvent.objects.filter(action="patient.view", object_id=str(patient.pk)).exists()


def test_open_a_visit(api, patient):
    response = api.post(VISITS, {"patient": patient.pk, "visit_date": "2026-03-01"}, format="json")
    assert response.status_code == 201, response.content
    visit = Visit.objects.get(pk=response.json()["id"])
    assert visit.site == patient.site and visit.captured_by.username == "camera"
    assert AuditEvent.objects.filter(action="visit.create", object_id=str(visit.pk)).exists()


def test_visit_validation_comes_from_the_model(api, patient):
    response = api.post(
        VISITS,
        {"patient": patient.pk, "visit_date": "1900-01-01", "visual_acuity_left": "bad"},
        format="json",
    )
    error = response.json()["error"]
    assert response.status_code == 400
    assert "visual_acuity_left" in error["fields"]


def test_visit_filters(api, patient, nurse):
    VisitFactory(patient=patient, captured_by=nurse, visit_date="2026-01-01")
    VisitFactory(patient=patient, captured_by=nurse, visit_date="2026-02-01")
    dates = [
        v["visit_date"] for v in api.get(VISITS, {"date_from": "2026-01-15"}).json()["results"]
    ]
    assert dates == ["2026-02-01"]
    assert api.get(VISITS, {"patient": patient.pk}).json()["count"] == 2
    assert api.get(VISITS, {"status": "signed"}).json()["count"] == 0
    bad = api.get(VISITS, {"date_from": "yesterday"})
    assert bad.status_code == 400 and "date_from" in bad.json()["error"]["fields"]


def test_a_token_limited_to_reading_cannot_write(api_client_user, admin_user, patient):
    from tests.conftest import issue_token, token_client

    reader = token_client(issue_token(api_client_user, actor=admin_user, actions=["read"]))
    assert reader.get(PATIENTS).status_code == 200
    response = reader.post(VISITS, {"patient": patient.pk}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "token_action"


def test_a_token_limited_to_one_site_sees_only_that_site(
    api_client_user, admin_user, site, other_site, nurse
):
    from tests.conftest import issue_token, token_client

    api_client_user.sites.add(other_site)
    away = PatientFactory(site=other_site, created_by=nurse, mrn="AWAY-1")
    home = PatientFactory(site=site, created_by=nurse, mrn="HOME-1")
    limited = token_client(issue_token(api_client_user, actor=admin_user, sites=[site]))
    assert [p["mrn"] for p in limited.get(PATIENTS).json()["results"]] == ["HOME-1"]
    url = reverse("api:patient-detail", kwargs={"pk": away.pk})
    assert limited.get(url).status_code == 404
    assert limited.get(reverse("api:patient-detail", kwargs={"pk": home.pk})).status_code == 200
    body = {"site": other_site.pk, "mrn": "N", "given_name": "A", "family_name": "B"}
    response = limited.post(PATIENTS, {**body, "date_of_birth": "1960-01-01"}, format="json")
    assert response.status_code == 400 and "site" in response.json()["error"]["fields"]


def test_a_lost_uniqueness_race_is_a_409_not_a_500(api, site, monkeypatch):
    from django.db import IntegrityError

    def racing(**kwargs):
        raise IntegrityError('duplicate key value violates unique constraint "x"')

    monkeypatch.setattr("api.views.patient_create", racing)
    body = {"mrn": "R-1", "given_name": "A", "family_name": "B", "date_of_birth": "1960-01-01"}
    response = api.post(PATIENTS, body, format="json")
    assert response.status_code == 409
    assert "retry" in response.json()["error"]["message"]


# --- the schema and the behaviour agree -----------------------------------------------------------


@pytest.mark.parametrize("value", ["null", "0.9", "0", "101", "", "ten", "٣"])
def test_a_page_size_the_schema_does_not_allow_is_a_400_not_the_default(api, value):
    response = api.get(PATIENTS, {"page_size": value})
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("url", "parameter"),
    [(VISITS, "updated_since"), (VISITS, "patient"), (VISITS, "date_from"), (PATIENTS, "mrn")],
)
def test_a_filter_given_without_a_value_is_a_400_not_ignored(api, url, parameter):
    response = api.get(url, {parameter: ""})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][parameter] == [
        "Give a value, or leave the parameter out."
    ]


@pytest.mark.parametrize("value", ["1.5", "1e3", "0", "-2"])
def test_id_filters_take_positive_whole_numbers_as_the_schema_says(api, value):
    for url, name in [(PATIENTS, "site"), (VISITS, "site"), (VISITS, "patient")]:
        response = api.get(url, {name: value})
        assert response.status_code == 400, (url, name, value)


def test_id_filters_are_integers_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, name in [("/api/v1/patients/", "site"), ("/api/v1/visits/", "patient")]:
        (parameter,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        assert parameter["schema"]["type"] == "integer" and parameter["schema"]["minimum"] == 1


def test_a_search_with_a_nul_character_is_a_400_not_a_500(api):
    response = api.get(PATIENTS, {"q": "ab\x00c"})
    assert response.status_code == 400 and "q" in response.json()["error"]["fields"]

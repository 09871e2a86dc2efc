"""Signed reports through the API: JSON, PDF and a FHIR R4 Bundle (checked structurally against
R4's required elements and CLINICAL.md's codes); unsigned visits are a 409."""

import io
import json

import pytest
from django.urls import reverse
from pypdf import PdfReader

from api.fhir import EYE_SITE, SNOMED
from audit.models import AuditEvent
from screening.services.review import addendum_add, review_sign_off
from tests.factories import PASSWORD, make_graded_visit, read_visit


@pytest.fixture
def signed_visit(nurse, doctor, patient):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=1, left=None)
    read_visit(doctor, visit, right="1", left="U")
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    visit.refresh_from_db()
    return visit


def fhir(client, visit):
    return client.get(reverse("api:visit-fhir", kwargs={"pk": visit.pk}))


def test_report_json_says_what_the_signed_report_says(api, signed_visit, doctor):
    body = api.get(reverse("api:visit-report", kwargs={"pk": signed_visit.pk})).json()
    assert body["status"] == "final"
    assert {e["eye"]: e["grade"] for e in body["eyes"]} == {"right": "1", "left": "U"}
    assert body["signed_by"] == str(doctor)
    assert body["outcome"]["key"] == "U"
    assert body["patient"]["mrn"] == "H-0001"
    assert body["fhir_url"].endswith("/fhir")
    assert AuditEvent.objects.filter(action="report.view").count() == 1


def test_report_pdf(api, signed_visit):
    response = api.get(reverse("api:visit-report-pdf", kwargs={"pk": signed_visit.pk}))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "H-0001" in text
    assert AuditEvent.objects.filter(action="report.download").exists()


@pytest.mark.parametrize("name", ["api:visit-report", "api:visit-report-pdf", "api:visit-fhir"])
def test_an_unsigned_visit_has_no_report_yet(api, visit, name):
    response = api.get(reverse(name, kwargs={"pk": visit.pk}), HTTP_ACCEPT="*/*")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "not_signed" and "no signed report yet" in error["message"]


# --- FHIR ----------------------------------------------------------------------------------------

# R4 elements with cardinality 1..1 or 1..* in the resources we produce.
REQUIRED = {
    "Bundle": ["type"],
    "DiagnosticReport": ["status", "code"],
    "Observation": ["status", "code"],
    "ImagingStudy": ["status", "subject"],
    "Patient": [],
    "Practitioner": [],
}
SERIES_REQUIRED = ["uid", "modality"]
INSTANCE_REQUIRED = ["uid", "sopClass"]


def _references(value, found=None):
    found = [] if found is None else found
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference":
                found.append(inner)
            else:
                _references(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _references(inner, found)
    return found


def test_fhir_bundle_is_valid_and_self_contained(api, signed_visit):
    response = fhir(api, signed_visit)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = json.loads(response.content)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    by_type: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        for element in REQUIRED[resource["resourceType"]]:
            assert resource.get(element), (resource["resourceType"], element)
        by_type.setdefault(resource["resourceType"], []).append(resource)
    assert {k: len(v) for k, v in by_type.items()} == {
        "DiagnosticReport": 1,
        "Observation": 2,
        "ImagingStudy": 1,
        "Patient": 1,
        "Practitioner": 1,
    }
    for reference in _references(bundle):
        assert reference in full_urls, f"{reference} does not resolve in the Bundle"
    json.dumps(bundle, allow_nan=False)  # strict JSON


def test_fhir_report_observations_and_study_follow_clinical_md(api, signed_visit):
    bundle = fhir(api, signed_visit).json()
    resources = {}
    for entry in bundle["entry"]:
        resources.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    report = resources["DiagnosticReport"][0]
    assert report["status"] == "final"
    assert len(report["result"]) == 2 and len(report["imagingStudy"]) == 1
    sites = {}
    for observation in resources["Observation"]:
        coding = observation["bodySite"]["coding"][0]
        assert coding["system"] == SNOMED
        sites[coding["code"]] = observation["valueCodeableConcept"]["coding"][0]["code"]
        assert observation["subject"] == report["subject"]
    # SNOMED 24028007 right eye, 7771000 left eye (CLINICAL.md); right graded 1, left ungradable.
    assert sites == {"24028007": "1", "7771000": "U"}
    study = resources["ImagingStudy"][0]
    assert study["modality"][0]["code"] == "OP"
    series = {s["laterality"]["code"]: s for s in study["series"]}
    assert set(series) == {EYE_SITE["right"]["code"], EYE_SITE["left"]["code"]}
    for one in study["series"]:
        for element in SERIES_REQUIRED:
            assert one[element]
        for instance in one["instance"]:
            for element in INSTANCE_REQUIRED:
                assert instance[element]
            assert instance["uid"].startswith("2.25.")
    patient = resources["Patient"][0]
    assert patient["identifier"][0]["value"] == "H-0001"
    assert patient["birthDate"] == "1965-04-01" and patient["gender"] == "female"


def test_an_addendum_makes_the_fhir_report_amended(api, signed_visit, doctor):
    addendum_add(actor=doctor, visit=signed_visit, reason="Correction", text="Left eye re-read.")
    bundle = fhir(api, signed_visit).json()
    report = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert report["status"] == "amended" and "Left eye re-read." in report["conclusion"]
    assert AuditEvent.objects.filter(action="report.fhir_export").count() == 1


def test_fhir_of_another_sites_visit_is_a_404(outsider_api, signed_visit):
    assert fhir(outsider_api, signed_visit).status_code == 404


def test_report_and_fhir_state_the_patient_as_signed(api, signed_visit, nurse):
    from patients.services import patient_update

    patient_update(actor=nurse, patient=signed_visit.patient, family_name="Renamed")
    report = api.get(reverse("api:visit-report", kwargs={"pk": signed_visit.pk})).json()
    assert report["patient"]["family_name"] != "Renamed"
    assert report["registry_changed"] == ["family name"]
    bundle = fhir(api, signed_visit).json()
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert patient["name"][0]["family"] == report["patient"]["family_name"]


def test_visit_detail_carries_the_signed_decision(api, signed_visit, doctor, visit):
    body = api.get(reverse("api:visit-detail", kwargs={"pk": signed_visit.pk})).json()
    signed = body["signed_result"]
    assert (signed["overall_grade"], signed["outcome"]["key"]) == ("U", "U")
    assert signed["signed_by"] == str(doctor) and signed["amended"] is False
    assert signed["report_url"] == reverse("api:visit-report", kwargs={"pk": signed_visit.pk})
    unsigned = api.get(reverse("api:visit-detail", kwargs={"pk": visit.pk})).json()
    assert unsigned["signed_result"] is None

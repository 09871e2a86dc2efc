"""Signed reports through the API: JSON, PDF and a FHIR R4 Bundle (validated by an independent
library, fhir.resources' R4B models, with the SNOMED CT and LOINC codes docs/CLINICAL.md lists);
unsigned visits are a 409."""

import io
import json

import pytest
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError
from pypdf import PdfReader

from api.fhir import (
    DATA_ABSENT_REASON,
    DRP_CONCEPTS,
    DRP_DME,
    DRP_ICDR,
    DRP_PROFESSIONAL_ID,
    DRP_USER,
    EYE_STRUCTURE,
    LATERALITY,
    LOINC,
    SNOMED,
)
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


def validated(bundle: dict) -> Bundle:
    """The Bundle parsed by an independent FHIR model library (fhir.resources, R4B models: every
    element known, every type and cardinality right), with every reference resolving inside it."""
    model = Bundle.model_validate(bundle)
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    for reference in _references(bundle):
        assert reference in full_urls, f"{reference} does not resolve in the Bundle"
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    json.dumps(bundle, allow_nan=False)  # strict JSON
    return model


def resources_of(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def codes(concept: dict, system: str) -> list[str]:
    return [c["code"] for c in concept["coding"] if c["system"] == system]


def by_eye(observations: list[dict]) -> dict[str, dict]:
    sides = {EYE_STRUCTURE["right"]["code"]: "right", EYE_STRUCTURE["left"]["code"]: "left"}
    return {sides[codes(o["bodySite"], SNOMED)[0]]: o for o in observations}


def test_fhir_bundle_is_valid_r4b_and_self_contained(api, signed_visit):
    response = fhir(api, signed_visit)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = json.loads(response.content)
    model = validated(bundle)
    assert model.type == "collection"
    assert sorted(type(e.resource).__name__ for e in model.entry) == [
        "DiagnosticReport",
        "ImagingStudy",
        "Observation",
        "Observation",
        "Patient",
        "Practitioner",
    ]


def test_an_invalid_resource_is_refused_by_the_validator(api, signed_visit):
    """The library validates, not just parses: the suite would notice a malformed export."""
    bundle = fhir(api, signed_visit).json()
    practitioner = resources_of(bundle)["Practitioner"][0]
    practitioner["name"][0]["given"] = "Not a list"
    with pytest.raises(ValidationError):
        Bundle.model_validate(bundle)


def test_fhir_report_observations_and_study_follow_clinical_md(api, signed_visit):
    resources = resources_of(fhir(api, signed_visit).json())
    report = resources["DiagnosticReport"][0]
    assert report["status"] == "final"
    assert len(report["result"]) == 2 and len(report["imagingStudy"]) == 1
    eyes = by_eye(resources["Observation"])
    # bodySite: SNOMED 18944008 right eye structure, 8966001 left eye structure; right graded 1,
    # left ungradable.
    assert codes(eyes["right"]["valueCodeableConcept"], DRP_ICDR) == ["1"]
    assert codes(eyes["left"]["dataAbsentReason"], DRP_ICDR) == ["U"]
    for observation in eyes.values():
        assert observation["subject"] == report["subject"]
    study = resources["ImagingStudy"][0]
    assert study["modality"][0]["code"] == "OP"
    # Series laterality: SNOMED 24028007 Right, 7771000 Left (the codes CLINICAL.md names).
    series = {s["laterality"]["code"]: s for s in study["series"]}
    assert (
        set(series)
        == {LATERALITY["right"]["code"], LATERALITY["left"]["code"]}
        == {
            "24028007",
            "7771000",
        }
    )
    for one in study["series"]:
        for instance in one["instance"]:
            assert instance["uid"].startswith("2.25.")
    patient = resources["Patient"][0]
    assert patient["identifier"][0]["value"] == "H-0001"
    assert patient["birthDate"] == "1965-04-01" and patient["gender"] == "female"


# (right grade, left grade, DME of both gradable eyes): every ICDR level, DME both ways, ungradable
READINGS = [("0", "1", "absent"), ("2", "3", "present"), ("4", "U", "absent")]
SNOMED_GRADE = {"1": "312903003", "2": "312904009", "3": "312905005", "4": "59276001"}
SNOMED_NO_DR = {"right": "390850007", "left": "390853009"}
LOINC_ANSWER = {"0": "LA18643-9", "1": "LA18644-7", "2": "LA18645-4", "3": "LA18646-2"}
LOINC_ANSWER |= {"4": "LA18648-8"}
LOINC_DR = {"right": "71491-5", "left": "71490-7"}
LOINC_DME = {"right": "71489-9", "left": "71488-1"}


@pytest.mark.parametrize(("right", "left", "dme"), READINGS)
def test_every_finding_carries_snomed_and_loinc_codes(
    api, nurse, doctor, patient, right, left, dme
):
    grades = {"right": right, "left": left}
    visit = make_graded_visit(
        nurse=nurse,
        patient=patient,
        right=None if right == "U" else int(right),
        left=None if left == "U" else int(left),
    )
    read_visit(doctor, visit, right=right, left=left, dme=dme)
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    bundle = fhir(api, visit).json()
    validated(bundle)
    resources = resources_of(bundle)
    for eye, observation in by_eye(resources["Observation"]).items():
        grade = grades[eye]
        assert codes(observation["code"], LOINC) == [LOINC_DR[eye]]
        assert codes(observation["code"], DRP_CONCEPTS) == ["icdr-eye-grade"]  # local code kept
        if grade == "U":
            assert "valueCodeableConcept" not in observation
            absent = observation["dataAbsentReason"]
            assert codes(absent, DATA_ABSENT_REASON) == ["unknown"]
            assert codes(absent, DRP_ICDR) == ["U"]
        else:
            value = observation["valueCodeableConcept"]
            assert codes(value, SNOMED) == [SNOMED_GRADE.get(grade) or SNOMED_NO_DR[eye]]
            assert codes(value, LOINC) == [LOINC_ANSWER[grade]]
            assert codes(value, DRP_ICDR) == [grade]
        oedema = next(
            c for c in observation["component"] if codes(c["code"], DRP_CONCEPTS) == ["dme"]
        )
        assert codes(oedema["code"], LOINC) == [LOINC_DME[eye]]
        if grade == "U":  # read_visit records DME as not assessable on an ungradable eye
            assert codes(oedema["dataAbsentReason"], DRP_DME) == ["not_assessable"]
        else:
            present_or_absent = {"present": "52101004", "absent": "2667000"}[dme]
            assert codes(oedema["valueCodeableConcept"], SNOMED) == [present_or_absent]
            assert codes(oedema["valueCodeableConcept"], DRP_DME) == [dme]
    report = resources["DiagnosticReport"][0]
    assert codes(report["code"], LOINC) == ["104212-6"]
    assert codes(report["code"], DRP_CONCEPTS) == ["dr-screening"]
    conclusions = [code for concept in report["conclusionCode"] for code in codes(concept, SNOMED)]
    worse = max(g for g in (right, left) if g != "U")
    assert (SNOMED_GRADE[worse] in conclusions) == (worse != "0")
    assert ("312912001" in conclusions) == (dme == "present")


def test_a_dr_finding_is_concluded_even_when_the_other_eye_is_ungradable(api, signed_visit):
    report = resources_of(fhir(api, signed_visit).json())["DiagnosticReport"][0]
    concluded = {c["code"] for concept in report["conclusionCode"] for c in concept["coding"]}
    assert concluded == {"312903003", "U"}  # mild NPDR (right eye), outcome U (local code)


def test_the_practitioner_is_named_and_identified(api, signed_visit, doctor):
    doctor.professional_id = "GMC-7654321"
    doctor.save(update_fields=["professional_id"])
    practitioner = resources_of(fhir(api, signed_visit).json())["Practitioner"][0]
    name = practitioner["name"][0]
    assert name["given"] == [doctor.first_name] and name["family"] == doctor.last_name
    identifiers = {i["system"]: i["value"] for i in practitioner["identifier"]}
    assert identifiers == {DRP_PROFESSIONAL_ID: "GMC-7654321", DRP_USER: doctor.username}


def test_a_practitioner_without_a_registration_number_is_still_identified(api, signed_visit):
    practitioner = resources_of(fhir(api, signed_visit).json())["Practitioner"][0]
    assert [i["system"] for i in practitioner["identifier"]] == [DRP_USER]


def test_an_addendum_makes_the_fhir_report_amended(api, signed_visit, doctor):
    addendum_add(actor=doctor, visit=signed_visit, reason="Correction", text="Left eye re-read.")
    bundle = fhir(api, signed_visit).json()
    validated(bundle)
    report = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert report["status"] == "amended" and "Left eye re-read." in report["conclusion"]
    assert {o["status"] for o in resources_of(bundle)["Observation"]} == {"amended"}
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

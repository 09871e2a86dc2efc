"""The signed report is one frozen object: the sign-off freezes codes (the sex code, not its
label), migration 0007 rewrites labels frozen before, and every renderer (HTML report and letter,
PDF report and letter, API JSON, FHIR) reads that object and nothing else."""

import dataclasses
import io
from importlib import import_module

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.template.loader import render_to_string
from django.urls import reverse
from pypdf import PdfReader

from api.fhir import visit_bundle
from api.serializers import report_data
from patients.models import Patient
from screening.models import SignOff
from screening.reports import letter_pdf, letter_text, report_pdf
from screening.services.review import review_sign_off
from screening.signed_report import signed_report
from tests.conftest import login
from tests.factories import PASSWORD, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db

MIGRATION = import_module("screening.migrations.0007_sign_off_sex_code")


def signed(nurse, doctor, patient, **readings):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    read_visit(doctor, visit, **(readings or {"right": "2", "left": "1"}))
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    visit.refresh_from_db()
    return visit


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def force_frozen_details(sign_off: SignOff, details: dict) -> None:
    """What a sign-off written before this change holds (the append-only rule set aside)."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE screening_signoff DISABLE TRIGGER {MIGRATION.TRIGGER}")
        SignOff._base_manager.filter(pk=sign_off.pk).update(patient_as_signed=details)
        if postgres:
            cursor.execute(f"ALTER TABLE screening_signoff ENABLE TRIGGER {MIGRATION.TRIGGER}")


def append_only_trigger_enabled() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s", [MIGRATION.TRIGGER])
        return cursor.fetchone() == ("O",)


def run_migration(function) -> None:
    state = MigrationExecutor(connection).loader.project_state(
        ("screening", "0007_sign_off_sex_code")
    )
    with connection.schema_editor() as editor:
        function(state.apps, editor)


def test_the_sign_off_freezes_the_sex_code_and_pages_derive_the_label(nurse, doctor, patient):
    visit = signed(nurse, doctor, patient)
    assert SignOff.objects.get(visit=visit).patient_as_signed["sex"] == Patient.Sex.FEMALE
    report = signed_report(visit)
    assert report.patient.sex == "female" and report.patient.sex_label == "Female"
    page = login(doctor).get(reverse("screening:report", kwargs={"pk": visit.pk})).content
    assert b"Female" in page
    assert "1 Apr 1965 · Female" in pdf_text(report_pdf(report))
    assert report_data(report)["patient"]["sex"] == "female"


def test_a_registry_correction_of_sex_shows_beside_the_signed_report(nurse, doctor, patient):
    visit = signed(nurse, doctor, patient)
    Patient.objects.filter(pk=patient.pk).update(sex=Patient.Sex.MALE)
    visit.refresh_from_db()
    report = signed_report(visit)
    assert report.patient.sex == "female" and report.registry_changed == ("sex",)


def test_the_migration_rewrites_frozen_labels_as_codes(nurse, doctor, patient):
    visit = signed(nurse, doctor, patient)
    sign_off = SignOff.objects.get(visit=visit)
    force_frozen_details(sign_off, {**sign_off.patient_as_signed, "sex": "Female"})
    visit.refresh_from_db()
    # A label left in place would read as a registry change and as an unknown sex.
    assert signed_report(visit).registry_changed == ("sex",)

    run_migration(MIGRATION.forwards)

    assert SignOff.objects.get(pk=sign_off.pk).patient_as_signed["sex"] == "female"
    visit.refresh_from_db()
    report = signed_report(visit)
    assert report.registry_changed == () and report.patient.sex_label == "Female"
    if connection.vendor == "postgresql":
        assert append_only_trigger_enabled()


def test_the_migration_reverses(nurse, doctor, patient):
    visit = signed(nurse, doctor, patient)
    run_migration(MIGRATION.backwards)
    assert SignOff.objects.get(visit=visit).patient_as_signed["sex"] == "Female"


def test_the_signed_report_is_immutable(nurse, doctor, patient):
    report = signed_report(signed(nurse, doctor, patient))
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.overall_grade = "0"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.eyes[0].grade = "0"  # type: ignore[misc]
    assert isinstance(report.eyes, tuple) and isinstance(report.addenda, tuple)


def test_every_renderer_reads_the_report_object_and_nothing_else(nurse, doctor, patient):
    """Change the object (not the database): every output follows it."""
    report = signed_report(signed(nurse, doctor, patient))
    outcome = dataclasses.replace(report.outcome, label="Recall by carrier pigeon")
    eyes = (dataclasses.replace(report.eyes[0], grade="3"), report.eyes[1])
    edited = dataclasses.replace(
        report,
        patient=dataclasses.replace(report.patient, family_name="Objectson", sex="male"),
        outcome=outcome,
        eyes=eyes,
        overall_grade="3",
    )
    html = render_to_string("screening/review/report.html", {"report": edited})
    assert "OBJECTSON" in html and "Recall by carrier pigeon" in html and "Severe NPDR" in html
    assert "OBJECTSON" in pdf_text(report_pdf(edited))
    assert "Recall by carrier pigeon" in pdf_text(report_pdf(edited))
    assert "Objectson" in pdf_text(letter_pdf(edited))
    letter = render_to_string(
        "screening/review/letter.html", {"report": edited, "letter": letter_text(edited)}
    )
    assert "Objectson" in letter
    data = report_data(edited)
    assert data["patient"]["family_name"] == "Objectson" and data["patient"]["sex"] == "male"
    assert data["outcome"]["label"] == "Recall by carrier pigeon"
    assert {e["eye"]: e["grade"] for e in data["eyes"]} == {"right": "3", "left": "1"}
    bundle = visit_bundle(edited)
    resources = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert resources["Patient"]["name"][0]["family"] == "Objectson"
    assert resources["Patient"]["gender"] == "male"
    assert "Recall by carrier pigeon" in resources["DiagnosticReport"]["conclusion"]

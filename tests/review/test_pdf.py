"""The signed report and patient letter as PDF: parsed back with pypdf to check what they say."""

import io

import pytest
from django.urls import reverse
from django.utils.formats import date_format
from pypdf import PdfReader

from screening.services.review import addendum_add, review_sign_off
from tests.conftest import login
from tests.factories import PASSWORD, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db


def pdf_text(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(
        io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    )
    return "\n".join(page.extract_text() for page in reader.pages)


def sign(doctor, visit, **readings):
    read_visit(doctor, visit, **readings)
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    return visit


def test_report_pdf_with_both_eyes(nurse, patient, doctor):
    visit = sign(
        doctor,
        make_graded_visit(nurse=nurse, patient=patient, right=2, left=1),
        right="2",
        left="1",
    )
    text = pdf_text(login(doctor).get(reverse("screening:report_pdf", kwargs={"pk": visit.pk})))
    assert patient.listing_name in text and patient.mrn in text
    assert "Right eye (OD)" in text and "Left eye (OS)" in text
    assert "2 · Moderate NPDR" in text and "1 · Mild NPDR" in text
    assert "Refer to ophthalmology, routine" in text
    assert "decision support" in text and "test-model-1.0" in text
    assert doctor.get_full_name() in text and "Topcon TRC-NW400" in text
    assert "80%" in text  # the AI's probabilities
    assert f"Right {visit.visual_acuity_right or '—'}" in text


def test_report_pdf_with_one_ungradable_eye(nurse, patient, doctor):
    visit = sign(
        doctor,
        make_graded_visit(nurse=nurse, patient=patient, right=0, left=None),
        right="0",
        left="U",
    )
    text = pdf_text(login(nurse).get(reverse("screening:report_pdf", kwargs={"pk": visit.pk})))
    assert "U · Ungradable" in text and "Media opacity" in text
    assert "Not assessable" in text  # the ungradable eye's DME
    assert "Re-image" in text
    assert "ungradable (Out of focus)" in text
    born = date_format(patient.date_of_birth, "DATE_FORMAT")  # e.g. 14 Mar 1961, as on every page
    assert f"{born} · {patient.get_sex_display()}" in text


def test_report_pdf_with_an_addendum(nurse, patient, doctor):
    visit = sign(
        doctor,
        make_graded_visit(nurse=nurse, patient=patient, right=0, left=0),
        right="0",
        left="0",
    )
    addendum_add(actor=doctor, visit=visit, reason="Late history", text="Cataract surgery 2024.")
    text = pdf_text(login(doctor).get(reverse("screening:report_pdf", kwargs={"pk": visit.pk})))
    assert "AMENDED" in text and "Addenda" in text
    assert "Late history" in text and "Cataract surgery 2024." in text


def test_letter_pdf(nurse, patient, doctor):
    visit = sign(
        doctor,
        make_graded_visit(nurse=nurse, patient=patient, right=0, left=0),
        right="0",
        left="0",
    )
    text = pdf_text(login(doctor).get(reverse("screening:letter_pdf", kwargs={"pk": visit.pk})))
    assert f"Dear {patient.full_name}" in text
    assert "no signs of diabetic eye disease" in text and "12 months" in text


def test_report_pdf_draws_thumbnails_and_heatmaps(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=1, left=0, heatmaps=True)
    sign(doctor, visit, right="1", left="0")
    response = login(doctor).get(reverse("screening:report_pdf", kwargs={"pk": visit.pk}))
    reader = PdfReader(io.BytesIO(response.content))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 4  # a photograph and a heatmap per eye
    html = login(doctor).get(reverse("screening:report", kwargs={"pk": visit.pk})).content
    assert html.count(b"/heatmap/") == 2


def test_a_later_model_does_not_change_a_signed_report(nurse, patient, doctor):
    from screening.models import FundusImage, GradingJob
    from screening.services.grading import regrade_images, visit_rollup

    visit = sign(
        doctor,
        make_graded_visit(nurse=nurse, patient=patient, right=2, left=1),
        right="2",
        left="1",
    )
    regrade_images(FundusImage.objects.filter(visit=visit))  # the current (shipped) model
    GradingJob.objects.filter(image__visit=visit).exclude(model_version="test-model-1.0").update(
        status=GradingJob.Status.SUCCEEDED, gradable=True, predicted_grade=4
    )
    assert GradingJob.objects.filter(image__visit=visit).count() == 4
    assert visit_rollup(visit=visit) is False  # the PostgreSQL trigger is never reached
    text = pdf_text(login(doctor).get(reverse("screening:report_pdf", kwargs={"pk": visit.pk})))
    assert "test-model-1.0" in text and "AI grade 4" not in text


def test_a_later_registry_correction_does_not_rewrite_a_signed_report(nurse, patient, doctor):
    from patients.models import Patient

    visit = sign(doctor, make_graded_visit(nurse=nurse, patient=patient), right="0", left="0")
    signed_name = patient.listing_name  # reports: "FAMILY, Given"; the letter: "Given Family"
    Patient.objects.filter(pk=patient.pk).update(family_name="Corrected")
    client = login(doctor)
    text = pdf_text(client.get(reverse("screening:report_pdf", kwargs={"pk": visit.pk})))
    assert signed_name in text and "Corrected" not in text
    assert "family name changed since" in text
    page = client.get(reverse("screening:report", kwargs={"pk": visit.pk})).content.decode()
    assert signed_name in page and "family name changed since" in page
    letter = pdf_text(client.get(reverse("screening:letter_pdf", kwargs={"pk": visit.pk})))
    assert f"Dear {patient.full_name}" in letter


def test_pdf_eye_line_says_when_its_figures_come_from_several_photographs():
    """As on screen (screening/_ai_eye_result.html): never read like one photograph's result."""
    from types import SimpleNamespace

    from screening.reports import _ai_eye_text
    from screening.rules import AiEyeResult, Grade

    def line(photographs: int) -> str:
        ai = AiEyeResult(True, 0.52, 0.12, Grade.NO_DR, 0.83, photographs=photographs)
        return _ai_eye_text(SimpleNamespace(ai=ai))

    assert "highest P(referable) of its 2 photographs 52%" in line(2)
    assert "worst most likely grade of its photographs 0" in line(2)
    assert "Refer: yes · P(referable) 52%" in line(1) and "of its" not in line(1)

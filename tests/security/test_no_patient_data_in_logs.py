"""Registering a patient, opening a visit and uploading photographs log no names or MRNs, and the
logging filter redacts the patient data that database errors carry."""

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse

from audit.log_filters import RedactPatientDataFilter
from patients.models import Patient
from tests.factories import fundus_like_jpeg

NAME, FAMILY, MRN = "Zebulon", "Quixotic", "MRN-SECRET-77"


def _visible_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {getattr(r, 'request', '')}" for r in caplog.records
    )


def test_registration_and_upload_log_no_patient_data(nurse_client, site, caplog):
    caplog.set_level(logging.DEBUG)
    response = nurse_client.post(
        reverse("patients:create"),
        {
            "site": site.pk,
            "mrn": MRN,
            "given_name": NAME,
            "family_name": FAMILY,
            "date_of_birth": "1960-02-03",
            "sex": "female",
            "diabetes_type": "type2",
        },
    )
    assert response.status_code == 302
    patient = Patient.objects.get(mrn=MRN)
    nurse_client.post(
        reverse("screening:visit_create", kwargs={"patient_pk": patient.pk}),
        {"visit_date": "2026-01-10"},
    )
    visit = patient.visits.get()
    nurse_client.post(
        reverse("screening:image_upload", kwargs={"pk": visit.pk}),
        {
            "eye": "left",
            "field": "macula",
            "files": [
                SimpleUploadedFile(f"{FAMILY}_{MRN}.jpg", fundus_like_jpeg()),
                SimpleUploadedFile(f"{NAME}.jpg", b"not an image"),
            ],
        },
    )
    assert visit.images.count() == 1
    assert caplog.records, "expected some log records to inspect"
    text = _visible_text(caplog)
    for secret in (NAME, FAMILY, MRN):
        assert secret not in text


def test_duplicate_mrn_database_error_is_redacted_in_logs(patient, nurse):
    logger = logging.getLogger("tests.redaction")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(RedactPatientDataFilter())
    logger.addHandler(handler)
    try:
        with pytest.raises(IntegrityError), transaction.atomic():
            try:
                Patient.objects.create(
                    site=patient.site,
                    mrn=patient.mrn,
                    given_name=NAME,
                    family_name=FAMILY,
                    date_of_birth=patient.date_of_birth,
                    created_by=nurse,
                )
            except IntegrityError as error:
                logger.exception("unhandled error %s", error)
                raise
    finally:
        logger.removeHandler(handler)
    assert records and "[redacted]" in records[0]
    assert patient.mrn not in records[0]


def test_filter_redacts_failing_row_details():
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "DETAIL: Failing row contains (1, %s, Jane).",
        ("H-1",),
        None,
    )
    RedactPatientDataFilter().filter(record)
    assert "H-1" not in record.getMessage() and "Jane" not in record.getMessage()


def test_refused_requests_are_logged_without_a_traceback():
    import logging
    import sys

    from audit.log_filters import NoTracebackForClientErrorsFilter

    try:
        raise PermissionError("refused")
    except PermissionError:
        info = sys.exc_info()
    forbidden = logging.LogRecord("django.request", logging.WARNING, "", 0, "Forbidden", (), info)
    forbidden.status_code = 403
    crash = logging.LogRecord("django.request", logging.ERROR, "", 0, "Server error", (), info)
    crash.status_code = 500
    keep = NoTracebackForClientErrorsFilter()
    assert keep.filter(forbidden) and forbidden.exc_info is None
    assert keep.filter(crash) and crash.exc_info is info

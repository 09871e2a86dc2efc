import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from patients.services import patient_create, patient_update
from tests.factories import PatientFactory

FIELDS = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "date_of_birth": datetime.date(1970, 1, 1),
    "sex": "female",
    "diabetes_type": "type2",
    "diagnosis_year": 2000,
}


def test_mrn_is_unique_within_a_site(nurse, site):
    patient_create(actor=nurse, site=site, mrn="X1", **FIELDS)
    with pytest.raises(ValidationError) as error:
        patient_create(actor=nurse, site=site, mrn="X1", **FIELDS)
    assert "medical record number already exists" in str(error.value)


def test_database_enforces_mrn_uniqueness_even_past_the_service(site, nurse):
    PatientFactory(site=site, mrn="X1", created_by=nurse)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(site=site, mrn="X1", created_by=nurse)


def test_same_mrn_at_another_site_is_a_different_patient(nurse, site, other_site):
    nurse.sites.add(other_site)
    patient_create(actor=nurse, site=site, mrn="X1", **FIELDS)
    assert patient_create(actor=nurse, site=other_site, mrn="X1", **FIELDS).site == other_site


def test_date_of_birth_in_the_future_is_refused(nurse, site):
    future = datetime.date.today() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        patient_create(actor=nurse, site=site, mrn="X2", **{**FIELDS, "date_of_birth": future})
    assert error.value.message_dict["date_of_birth"] == ["The date of birth is in the future."]


@pytest.mark.parametrize(
    ("year", "message"),
    [
        (1969, "The year of diagnosis is before the year of birth."),
        (datetime.date.today().year + 1, "The year of diagnosis is in the future."),
    ],
)
def test_impossible_diagnosis_year_is_refused(nurse, site, year, message):
    with pytest.raises(ValidationError) as error:
        patient_create(actor=nurse, site=site, mrn="X3", **{**FIELDS, "diagnosis_year": year})
    assert error.value.message_dict["diagnosis_year"] == [message]


def test_nurse_cannot_register_at_a_site_they_do_not_work_at(nurse, other_site):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        patient_create(actor=nurse, site=other_site, mrn="X4", **FIELDS)


def test_update_refuses_to_take_an_mrn_already_used_at_the_site(nurse, site):
    patient_create(actor=nurse, site=site, mrn="A", **FIELDS)
    second = patient_create(actor=nurse, site=site, mrn="B", **FIELDS)
    with pytest.raises(ValidationError):
        patient_update(actor=nurse, patient=second, mrn="A")
    second.refresh_from_db()
    assert second.mrn == "B"


def test_site_cannot_be_changed_through_update(nurse, site, other_site):
    patient = patient_create(actor=nurse, site=site, mrn="C", **FIELDS)
    with pytest.raises(TypeError):
        patient_update(actor=nurse, patient=patient, site=other_site)

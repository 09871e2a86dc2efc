import pytest
from django.urls import reverse

from patients.models import Patient
from tests.conftest import login
from tests.factories import PatientFactory, VisitFactory

FORM = {
    "site": "",
    "mrn": "H-0100",
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1956-12-09",
    "sex": "female",
    "diabetes_type": "type1",
    "diagnosis_year": "1980",
    "phone": "",
    "email": "",
    "address": "",
}


def test_nurse_registers_a_patient(nurse_client, site):
    response = nurse_client.post(reverse("patients:create"), {**FORM, "site": site.pk})
    patient = Patient.objects.get(mrn="H-0100")
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", kwargs={"pk": patient.pk})
    assert patient.site == site and patient.created_by.username == "nurse"


def test_duplicate_mrn_shows_a_clear_message(nurse_client, site, patient):
    response = nurse_client.post(
        reverse("patients:create"), {**FORM, "site": site.pk, "mrn": patient.mrn}
    )
    assert response.status_code == 200
    assert "medical record number already exists at this site" in response.content.decode()
    assert Patient.objects.filter(mrn=patient.mrn).count() == 1


def test_future_birth_date_shows_a_clear_message(nurse_client, site):
    response = nurse_client.post(
        reverse("patients:create"), {**FORM, "site": site.pk, "date_of_birth": "2999-01-01"}
    )
    assert "The date of birth is in the future." in response.content.decode()
    assert not Patient.objects.exists()


def test_nurse_cannot_register_at_another_sites_clinic(nurse_client, other_site):
    response = nurse_client.post(reverse("patients:create"), {**FORM, "site": other_site.pk})
    assert response.status_code == 200  # the form refuses the choice
    assert not Patient.objects.exists()


def test_edit_changes_details_and_refuses_impossible_diagnosis_year(nurse_client, patient):
    url = reverse("patients:edit", kwargs={"pk": patient.pk})
    data = {**FORM, "mrn": patient.mrn, "phone": "+44 20 7946 0000"}
    assert nurse_client.post(url, data).status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+44 20 7946 0000"
    response = nurse_client.post(url, {**data, "diagnosis_year": "1900"})
    assert "before the year of birth" in response.content.decode()


def test_search_by_mrn_prefix_and_by_name(nurse_client, site, nurse):
    PatientFactory(site=site, mrn="ABC-1", given_name="Ann", family_name="Smith", created_by=nurse)
    PatientFactory(site=site, mrn="XYZ-2", given_name="Bob", family_name="Jones", created_by=nurse)
    by_mrn = nurse_client.get(reverse("patients:list"), {"q": "abc"}).content.decode()
    by_name = nurse_client.get(reverse("patients:list"), {"q": "jon"}).content.decode()
    assert "ABC-1" in by_mrn and "XYZ-2" not in by_mrn
    assert "XYZ-2" in by_name and "ABC-1" not in by_name


def test_list_is_paginated(nurse_client, site, nurse):
    PatientFactory.create_batch(30, site=site, created_by=nurse)
    first = nurse_client.get(reverse("patients:list"))
    second = nurse_client.get(reverse("patients:list"), {"page": 2})
    assert len(first.context["page"]) == 25 and len(second.context["page"]) == 5
    assert "Page 1 of 2" in first.content.decode()


def test_patient_list_query_budget_does_not_grow_with_patients(
    nurse, site, django_assert_max_num_queries
):
    for patient in PatientFactory.create_batch(25, site=site, created_by=nurse):
        VisitFactory.create_batch(2, patient=patient, captured_by=nurse)
    client = login(nurse)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("patients:list"))
    assert len(response.context["page"]) == 25


def test_detail_lists_the_patients_visits(nurse_client, visit):
    response = nurse_client.get(reverse("patients:detail", kwargs={"pk": visit.patient_id}))
    assert reverse("screening:visit_detail", kwargs={"pk": visit.pk}) in response.content.decode()


@pytest.mark.parametrize("role_fixture", ["doctor", "admin_user"])
def test_doctors_and_admins_read_but_see_no_write_buttons(request, role_fixture, patient):
    client = login(request.getfixturevalue(role_fixture))
    page = client.get(reverse("patients:detail", kwargs={"pk": patient.pk})).content.decode()
    assert patient.mrn in page
    assert reverse("patients:edit", kwargs={"pk": patient.pk}) not in page


def test_registering_and_editing_a_patient_are_in_the_audit_trail(nurse_client, site, nurse):
    from audit.models import AuditEvent

    nurse_client.post(reverse("patients:create"), {**FORM, "site": site.pk})
    patient = Patient.objects.get(mrn="H-0100")
    created = AuditEvent.objects.get(action="patient.create", object_id=str(patient.pk))
    assert created.actor == nurse and created.ip_address == "127.0.0.1"
    assert created.changes == {"site": site.code, "mrn": "H-0100"}
    url = reverse("patients:edit", kwargs={"pk": patient.pk})
    nurse_client.post(url, {**FORM, "site": site.pk, "phone": "+44 20 7946 0001"})
    updated = AuditEvent.objects.get(action="patient.update", object_id=str(patient.pk))
    assert updated.changes == {"phone": ["", "+44 20 7946 0001"]}


def test_mrn_differing_only_in_case_is_a_duplicate_shown_on_the_mrn_field(
    nurse_client, site, patient
):
    response = nurse_client.post(
        reverse("patients:create"), {**FORM, "site": site.pk, "mrn": patient.mrn.lower() + " "}
    )
    form = response.context["form"]
    assert "already exists at this site" in " ".join(form.errors["mrn"])
    assert Patient.objects.count() == 1

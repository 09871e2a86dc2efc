import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from screening.models import Visit
from screening.services.visits import visit_create


def test_nurse_opens_a_visit_at_the_patients_site(nurse_client, patient):
    response = nurse_client.post(
        reverse("screening:visit_create", kwargs={"patient_pk": patient.pk}),
        {
            "visit_date": "2026-02-03",
            "dilated": "on",
            "visual_acuity_left": "6/9",
            "visual_acuity_right": "6/12",
            "camera": "Topcon",
            "notes": "",
        },
    )
    visit = Visit.objects.get()
    assert response.status_code == 302
    assert (visit.site, visit.captured_by.username, visit.dilated) == (patient.site, "nurse", True)
    assert visit.status == Visit.Status.CAPTURING
    event = AuditEvent.objects.get(action="visit.create")
    assert (event.actor.username, event.object_id) == ("nurse", str(visit.pk))


def test_visual_acuity_must_be_a_known_notation(nurse, patient):
    with pytest.raises(ValidationError) as error:
        visit_create(actor=nurse, patient=patient, visual_acuity_left="good")
    assert "visual_acuity_left" in error.value.message_dict


def test_visit_in_the_future_is_refused(nurse, patient):
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    with pytest.raises(ValidationError) as error:
        visit_create(actor=nurse, patient=patient, visit_date=tomorrow)
    assert error.value.message_dict["visit_date"] == ["The visit date is in the future."]


def test_visit_before_birth_is_refused(nurse, patient):
    with pytest.raises(ValidationError):
        visit_create(actor=nurse, patient=patient, visit_date=datetime.date(1900, 1, 1))

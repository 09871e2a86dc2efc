"""The review flow without dead ends (issue 13 §3): errors at the field, both eyes' entries kept,
no jump to the top, refusals that give the real reason, and the worklist's tabs, search and sort."""

import pytest
from django.urls import reverse

from screening.models import EyeReading, Visit
from screening.rules import parse_grade
from screening.services.review import eye_reading_record, review_sign_off, review_submit
from tests.conftest import login
from tests.factories import PASSWORD, PatientFactory, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db


def url(name, visit):
    return reverse(f"screening:{name}", kwargs={"pk": visit.pk})


def worklist(client, **params):
    response = client.get(reverse("screening:worklist"), params)
    assert response.status_code == 200
    return response


def ids(response):
    return [row["visit"].pk for row in response.context["rows"]]


# --- the review page ------------------------------------------------------------------------------


def test_a_missing_dme_answer_is_marked_at_its_buttons(graded_visit, doctor):
    client = login(doctor)
    client.post(url("review_start", graded_visit))
    response = client.post(url("review", graded_visit), {"agree": "right", "right-gradable": "yes"})
    assert response.status_code == 200
    page = response.content.decode()
    fieldset = page.split('data-field="right-dme"')[0].rsplit("<fieldset", 1)[1]
    assert 'class="invalid"' in fieldset and 'aria-invalid="true"' in fieldset
    error = page.split('data-field="right-dme"')[1].split("</fieldset>")[0]
    assert 'class="field-error"' in error and "Choose whether diabetic macular oedema" in error
    assert 'data-field="left-dme"' in page and not EyeReading.objects.exists()


def test_a_missing_ungradable_reason_is_shown_at_its_field(graded_visit, doctor):
    client = login(doctor)
    client.post(url("review_start", graded_visit))
    response = client.post(
        url("review", graded_visit),
        {"eye": "left", "left-gradable": "no", "left-ungradable_reason": "  "},
    )
    form = response.context["eyes"][1]["form"]
    assert form.errors["ungradable_reason"] == ["Say why the eye cannot be graded."]
    assert 'id="id_left-ungradable_reason-error"' in response.content.decode()


def test_saving_one_eye_keeps_what_was_entered_for_the_other(graded_visit, doctor):
    client = login(doctor)
    client.post(url("review_start", graded_visit))
    response = client.post(
        url("review", graded_visit),
        {
            "eye": "right",
            "right-gradable": "yes",
            "right-grade": "2",
            "right-dme": "absent",
            "left-gradable": "yes",
            "left-grade": "3",
            "left-dme": "present",
            "left-comment": "Venous beading",
        },
    )
    # Saved, and back at the same eye rather than at the top of the page.
    assert response.status_code == 302
    assert response["Location"] == url("review", graded_visit) + "#eye-right"
    assert list(EyeReading.objects.values_list("eye", flat=True)) == ["right"]
    page = client.get(response["Location"])
    left = page.context["eyes"][1]
    assert left["unsaved"] is True
    assert left["form"].initial["grade"] == "3" and left["form"].initial["dme"] == "present"
    assert "Venous beading" in page.content.decode()
    # Shown once: a later visit to the page shows what is saved.
    again = client.get(url("review", graded_visit))
    assert again.context["eyes"][1]["unsaved"] is False


def test_a_refused_save_keeps_the_other_eyes_entries(graded_visit, doctor):
    client = login(doctor)
    client.post(url("review_start", graded_visit))
    response = client.post(
        url("review", graded_visit),
        {"eye": "right", "right-gradable": "yes", "left-gradable": "yes", "left-grade": "4"},
    )
    assert response.status_code == 200
    assert response.context["eyes"][1]["form"].initial["grade"] == "4"
    assert 'value="4" form="eye-readings" id="id_left-grade_4" checked' in response.content.decode()


def test_both_eyes_fields_belong_to_one_form(graded_visit, doctor):
    client = login(doctor)
    client.post(url("review_start", graded_visit))
    page = client.get(url("review", graded_visit)).content.decode()
    assert page.count('<form id="eye-readings" method="post"') == 1
    assert 'name="left-comment" cols="40" rows="2" form="eye-readings"' in page
    assert 'form="eye-readings" name="agree" value="right"' in page
    assert 'id="eye-right"' in page and 'id="eye-left"' in page


# --- refusals say the real reason ---------------------------------------------------------------


@pytest.fixture
def signed_visit(graded_visit, doctor):
    read_visit(doctor, graded_visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    return graded_visit


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_a_forged_edit_after_sign_off_says_the_report_is_signed(signed_visit, doctor):
    client = login(doctor)
    response = client.post(
        url("review", signed_visit),
        {"eye": "right", "right-gradable": "yes", "right-grade": "0", "right-dme": "absent"},
        follow=True,
    )
    assert messages_of(response) == [
        "This report is signed: it can no longer be changed. Add an addendum instead."
    ]
    submit = client.post(url("review_submit", signed_visit), {}, follow=True)
    assert messages_of(submit)[0].startswith("This report is signed")
    withdraw = client.post(url("review_withdraw", signed_visit), follow=True)
    assert messages_of(withdraw)[0].startswith("This report is signed")
    start = client.post(url("review_start", signed_visit), follow=True)
    assert messages_of(start)[0].startswith("This report is signed")
    assert EyeReading.objects.get(eye="right").code == "2"


def test_an_edit_of_another_doctors_reading_names_them(graded_visit, doctor, doctor2):
    read_visit(doctor2, graded_visit, submit=False)
    response = login(doctor).post(
        url("review", graded_visit), {"eye": "right", "right-gradable": "yes"}, follow=True
    )
    assert messages_of(response) == [f"{doctor2} is doing this reading; only they can change it."]


def test_an_edit_after_submitting_says_it_is_submitted(graded_visit, doctor):
    read_visit(doctor, graded_visit, right="2", left="1")
    response = login(doctor).post(
        url("review", graded_visit), {"eye": "right", "right-gradable": "yes"}, follow=True
    )
    assert messages_of(response) == [
        "Your reading is submitted and can no longer be changed; sign the report."
    ]


def test_a_primary_reader_editing_during_the_second_reading_is_told_why(graded_visit, doctor):
    read_visit(doctor, graded_visit, right="0", left="1")
    response = login(doctor).post(
        url("review", graded_visit), {"eye": "right", "right-gradable": "yes"}, follow=True
    )
    assert messages_of(response) == [
        "You have already read this visit; the next reading must be by another doctor."
    ]


def test_starting_a_visit_without_photographs_says_so(patient, nurse, doctor):
    from tests.factories import VisitFactory

    visit = VisitFactory(patient=patient, captured_by=nurse)
    assert visit.status == Visit.Status.CAPTURING
    start = login(doctor).post(url("review_start", visit), follow=True)
    assert messages_of(start) == ["This visit is not ready for review: it has no photographs yet."]


def test_an_edit_before_starting_says_start_a_reading(graded_visit, doctor):
    response = login(doctor).post(
        url("review", graded_visit), {"eye": "right", "right-gradable": "yes"}, follow=True
    )
    assert messages_of(response) == ["Start a reading first."]


# --- the worklist -------------------------------------------------------------------------------


@pytest.fixture
def three_visits(nurse, site):
    names = [("Okafor", "Amina", "N-1"), ("Kowalski", "Jan", "N-2"), ("Garcia", "Maria", "S-3")]
    visits = []
    for family, given, mrn in names:
        patient = PatientFactory(
            site=site, created_by=nurse, family_name=family, given_name=given, mrn=mrn
        )
        visits.append(make_graded_visit(nurse=nurse, patient=patient, right=1, left=0))
    return visits


def test_worklist_search_by_name_and_mrn(three_visits, doctor):
    client = login(doctor)
    okafor, kowalski, garcia = three_visits
    assert ids(worklist(client, q="okaf")) == [okafor.pk]
    assert ids(worklist(client, q="s-3")) == [garcia.pk]
    assert ids(worklist(client, q="jan kowal")) == [kowalski.pk]
    empty = worklist(client, q="nobody")
    assert ids(empty) == [] and "No visit matches “nobody”" in empty.content.decode()


def test_worklist_sorts_by_urgency_or_age(nurse, patient, doctor):
    old = make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    new = make_graded_visit(nurse=nurse, patient=patient, right=1, left=0)
    urgent = make_graded_visit(nurse=nurse, patient=patient, right=4, left=0)
    Visit.objects.filter(pk=old.pk).update(ai_rolled_up_at=old.ai_rolled_up_at.replace(year=2025))
    client = login(doctor)
    assert ids(worklist(client)) == [urgent.pk, old.pk, new.pk]
    assert ids(worklist(client, sort="urgency")) == [urgent.pk, old.pk, new.pk]
    assert ids(worklist(client, sort="oldest")) == [old.pk, new.pk, urgent.pk]
    assert ids(worklist(client, sort="newest")) == [urgent.pk, new.pk, old.pk]


def test_worklist_tabs_follow_the_two_reader_path(graded_visit, doctor, doctor2, doctor3):
    first, second = login(doctor), login(doctor2)
    tabs = ("to_read", "mine", "second", "signed")

    def where(client):
        return [t for t in tabs if graded_visit.pk in _tab_ids(client, t)]

    assert where(first) == ["to_read"] and where(second) == ["to_read"]
    read_visit(doctor, graded_visit, right="2", left="1", submit=False)
    assert where(first) == ["mine"]
    assert where(second) == []  # another doctor's draft is not offered...
    held = worklist(second, tab="all")  # ...but stays in sight (a stale draft can be withdrawn)
    [row] = held.context["rows"]
    assert row["visit"].pk == graded_visit.pk and row["can_act"] is False
    assert f"Primary grading by {doctor}" in held.content.decode()
    review = graded_visit.reviews.get()
    # Change the right eye to grade 0 (not referable where the AI says 2): a second reader.
    eye_reading_record(
        actor=doctor,
        review=review,
        eye="right",
        gradable=True,
        grade=parse_grade("0"),
        dme="absent",
    )
    review_submit(actor=doctor, review=review)
    assert where(first) == ["second"]  # not offered to the doctor who read it first
    assert where(second) == ["to_read", "second"]
    row = next(r for r in worklist(first, tab="second").context["rows"])
    assert row["can_act"] is False
    page = worklist(first, tab="second").content.decode()
    assert "Second reader needed" in page and "differs from the AI" in page
    assert "You have read this visit: another doctor reads next." in page
    read_visit(doctor2, graded_visit, right="0", left="1")
    assert where(second) == ["mine"]  # waiting for their signature
    review_sign_off(actor=doctor2, visit=graded_visit, password=PASSWORD)
    assert where(second) == ["signed"] and where(first) == []
    signed = worklist(second, tab="signed")
    assert [v.pk for v in signed.context["signed_visits"]] == [graded_visit.pk]
    assert url("report", graded_visit) in signed.content.decode()
    assert worklist(second).context["tabs"][3] == {
        "name": "signed",
        "label": "Signed by me",
        "count": 1,
        "current": False,
    }


def _tab_ids(client, tab):
    response = worklist(client, tab=tab)
    if tab == "signed":
        return [v.pk for v in response.context["signed_visits"]]
    return ids(response)


def test_signed_tab_is_searchable_and_only_the_signers(signed_visit, doctor, doctor2, patient):
    client = login(doctor)
    assert [v.pk for v in worklist(client, tab="signed", q=patient.mrn).context["signed_visits"]]
    assert worklist(client, tab="signed", q="zzz").context["signed_visits"] == []
    assert worklist(login(doctor2), tab="signed").context["signed_visits"] == []


def test_signed_tab_hides_other_sites(signed_visit, doctor, other_site):
    doctor.sites.set([other_site])
    assert worklist(login(doctor), tab="signed").context["signed_visits"] == []
    assert Visit.objects.filter(pk=signed_visit.pk).exists()


def test_worklist_wrong_role_is_refused(nurse):
    assert login(nurse).get(reverse("screening:worklist"), {"tab": "signed"}).status_code == 403


def test_worklist_tabs_query_budget(nurse, patient, doctor, doctor2, django_assert_max_num_queries):
    for grade in range(4):
        visit = make_graded_visit(nurse=nurse, patient=patient, right=grade, left=0)
        read_visit(doctor, visit, right=str(grade), left="0")
        review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    for grade in range(3):
        visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0)
        read_visit(doctor2, visit, right=str(grade), left="0")  # some need a second reader
    client = login(doctor)
    for tab in ("to_read", "mine", "second", "signed"):
        client.get(reverse("screening:worklist"), {"tab": tab})
        with django_assert_max_num_queries(16):
            response = client.get(reverse("screening:worklist"), {"tab": tab})
        assert response.status_code == 200
    assert len(response.context["signed_visits"]) == 4

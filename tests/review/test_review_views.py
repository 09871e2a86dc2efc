"""The review pages end to end through the test client: worklist, one-click agreement, override,
submit, sign-off with the password, blind second reading, report, letter and addenda."""

import datetime

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from screening.models import EyeReading, Review, SignOff, Visit
from tests.conftest import login
from tests.factories import PASSWORD, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db


def url(name, visit):
    return reverse(f"screening:{name}", kwargs={"pk": visit.pk})


def test_worklist_urgent_first_then_oldest_with_counts(nurse, patient, doctor, outsider):
    old = make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    new = make_graded_visit(nurse=nurse, patient=patient, right=1, left=None)
    urgent = make_graded_visit(nurse=nurse, patient=patient, right=4, left=0)
    Visit.objects.filter(pk=old.pk).update(ai_rolled_up_at=old.ai_rolled_up_at.replace(year=2025))
    response = login(doctor).get(reverse("screening:worklist"))
    assert response.status_code == 200
    order = [row["visit"].pk for row in response.context["rows"]]
    # by the urgency of the suggested outcome: urgent, re-image (an ungradable eye), rescreen
    assert order == [urgent.pk, new.pk, old.pk]
    assert response.context["counts"]["total"] == 3
    assert response.context["counts"]["ungradable"] == 1
    assert response.context["urgent_count"] == 1
    filtered = login(doctor).get(reverse("screening:worklist"), {"ungradable": "on"})
    assert [r["visit"].pk for r in filtered.context["rows"]] == [new.pk]
    later = login(doctor).get(reverse("screening:worklist"), {"date_from": "2030-01-01"})
    assert later.context["rows"] == []


def test_worklist_query_budget(nurse, patient, doctor, django_assert_max_num_queries):
    for grade in range(4):
        make_graded_visit(nurse=nurse, patient=patient, right=grade, left=0)
    client = login(doctor)
    client.get(reverse("screening:worklist"))
    with django_assert_max_num_queries(14):
        response = client.get(reverse("screening:worklist"))
    assert len(response.context["rows"]) == 4


def test_doctor_agrees_in_one_click_overrides_submits_and_signs(graded_visit, doctor):
    client = login(doctor)
    assert client.post(url("review_start", graded_visit)).status_code == 302
    page = client.get(url("review", graded_visit))
    assert b"Agree with AI: 2" in page.content
    client.post(
        url("review", graded_visit),
        {"eye": "right", "right-gradable": "yes", "right-dme": "absent", "agree": "1"},
    )
    client.post(
        url("review", graded_visit),
        {
            "eye": "left",
            "left-gradable": "yes",
            "left-grade": "1",
            "left-dme": "present",
            "left-comment": "Exudates near fovea",
        },
    )
    readings = {r.eye: r for r in EyeReading.objects.filter(review__visit=graded_visit)}
    assert (readings["right"].code, readings["right"].agrees_with_ai) == ("2", True)
    assert (readings["left"].code, readings["left"].dme) == ("1", "present")
    response = client.post(url("review_submit", graded_visit), {"outcome": "", "comment": ""})
    assert response["Location"] == url("sign_off", graded_visit)
    wrong = client.post(url("sign_off", graded_visit), {"password": "nope"})
    assert wrong.status_code == 200 and not SignOff.objects.exists()
    signed = client.post(url("sign_off", graded_visit), {"password": PASSWORD})
    assert signed["Location"] == url("report", graded_visit)
    graded_visit.refresh_from_db()
    assert graded_visit.status == Visit.Status.SIGNED


def test_second_readers_page_does_not_show_the_first_readers_grades(graded_visit, doctor, doctor2):
    read_visit(doctor, graded_visit, right="0", left="1", comment="PRIMARY-SECRET-NOTE")
    client = login(doctor2)
    client.post(url("review_start", graded_visit))
    page = client.get(url("review", graded_visit)).content.decode()
    assert "Second (blind) grading" in page and "reading blind" in page
    assert "PRIMARY-SECRET-NOTE" not in page
    assert "Primary grading</strong> by" not in page
    assert doctor.get_full_name() not in page
    # The first reader's own page does not show the draft of the second either.
    worklist = client.get(reverse("screening:worklist")).content.decode()
    assert "PRIMARY-SECRET-NOTE" not in worklist


def test_arbiter_sees_both_readings(graded_visit, doctor, doctor2, doctor3):
    read_visit(doctor, graded_visit, right="0", left="1", comment="FIRST-NOTE")
    read_visit(doctor2, graded_visit, right="3", left="1", comment="SECOND-NOTE")
    client = login(doctor3)
    client.post(url("review_start", graded_visit))
    page = client.get(url("review", graded_visit)).content.decode()
    assert "Arbitration" in page and "FIRST-NOTE" in page and "SECOND-NOTE" in page


@pytest.fixture
def signed_visit(graded_visit, doctor):
    from screening.services.review import review_sign_off

    read_visit(doctor, graded_visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=graded_visit, password=PASSWORD)
    graded_visit.refresh_from_db()
    return graded_visit


def test_addendum_is_added_and_shown_on_the_report_in_order(signed_visit, doctor):
    client = login(doctor)
    for reason, text in [("Correction", "Left eye grade 1 confirmed."), ("Letter", "Posted.")]:
        response = client.post(url("addendum_add", signed_visit), {"reason": reason, "text": text})
        assert response.status_code == 302
    page = client.get(url("report", signed_visit)).content.decode()
    assert "Amended" in page
    assert page.index("Left eye grade 1 confirmed.") < page.index("Posted.")


def test_nurse_reads_the_signed_report_but_cannot_review_or_add(signed_visit, nurse):
    client = login(nurse)
    assert client.get(url("report", signed_visit)).status_code == 200
    assert client.get(url("letter", signed_visit)).status_code == 200
    assert client.get(url("review", signed_visit)).status_code == 403
    assert (
        client.post(url("addendum_add", signed_visit), {"reason": "x", "text": "y"}).status_code
        == 403
    )


def test_unsigned_visit_has_no_report(graded_visit, doctor):
    assert login(doctor).get(url("report", graded_visit)).status_code == 404


def test_letter_is_plain_language(signed_visit, doctor):
    page = login(doctor).get(url("letter", signed_visit)).content.decode()
    assert "eye specialist" in page and "13 weeks" in page


def test_dashboard_counts_kappa_and_svg(signed_visit, doctor, admin_user, nurse):
    response = login(doctor).get(reverse("screening:review_dashboard"))
    assert response.status_code == 200
    assert response.context["total_signed"] == 1 and response.context["referred"] == 1
    assert response.context["kappa"] == pytest.approx(1.0)
    assert response.context["eyes_compared"] == 2
    assert b"<svg" in response.content and b"<rect" in response.content
    assert login(admin_user).get(reverse("screening:review_dashboard")).status_code == 200
    assert login(nurse).get(reverse("screening:review_dashboard")).status_code == 403


def test_reads_and_writes_are_audited(signed_visit, doctor, patient):
    client = login(doctor)
    client.get(reverse("patients:detail", kwargs={"pk": patient.pk}))
    client.get(reverse("screening:visit_detail", kwargs={"pk": signed_visit.pk}))
    client.get(url("report", signed_visit))
    client.get(url("report_pdf", signed_visit))
    client.post(url("addendum_add", signed_visit), {"reason": "r", "text": "t"})
    actions = set(AuditEvent.objects.filter(actor=doctor).values_list("action", flat=True))
    assert {
        "patient.view",
        "visit.view",
        "review.start",
        "eye_reading.record",
        "review.submit",
        "review.sign_off",
        "report.view",
        "report.download",
        "addendum.add",
    } <= actions
    review = Review.objects.get(visit=signed_visit)
    assert AuditEvent.objects.filter(action="review.submit", object_id=str(review.pk)).exists()


def test_visit_date_filter_accepts_dates(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient)
    day = visit.visit_date
    response = login(doctor).get(
        reverse("screening:worklist"),
        {"date_from": day.isoformat(), "date_to": (day + datetime.timedelta(days=1)).isoformat()},
    )
    assert [r["visit"].pk for r in response.context["rows"]] == [visit.pk]


def test_review_and_report_pages_query_budget(signed_visit, doctor, django_assert_max_num_queries):
    client = login(doctor)
    with django_assert_max_num_queries(20):
        assert client.get(url("review", signed_visit)).status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(url("report", signed_visit)).status_code == 200


def test_dashboard_counts_this_weeks_visits(graded_visit, doctor):
    Visit.objects.filter(pk=graded_visit.pk).update(visit_date=datetime.date.today())
    chart = login(doctor).get(reverse("screening:review_dashboard")).context["weeks_chart"]
    assert [bar.value for bar in chart["bars"]][-1] == 1
    assert sum(bar.value for bar in chart["bars"]) == 1


def test_worklist_can_put_ai_referable_visits_first(nurse, patient, doctor):
    plain = make_graded_visit(nurse=nurse, patient=patient, right=1, left=None)  # re-image
    referable = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0, confidence=0.6)
    client = login(doctor)
    default = client.get(reverse("screening:worklist")).context["rows"]
    assert [r["visit"].pk for r in default] == [plain.pk, referable.pk]  # re-image before routine
    first = client.get(reverse("screening:worklist"), {"referable_first": "on"}).context["rows"]
    assert [r["visit"].pk for r in first] == [referable.pk, plain.pk]


def test_agreeing_with_an_ungradable_ai_eye_records_it_ungradable(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=0, left=None)
    client = login(doctor)
    client.post(url("review_start", visit))
    page = client.get(url("review", visit)).content.decode()
    assert "Agree with AI: U (ungradable)" in page and "What ICDR grade" in page
    client.post(
        url("review", visit),
        {"eye": "left", "left-gradable": "no", "left-dme": "absent", "agree": "1"},
    )
    reading = EyeReading.objects.get(review__visit=visit, eye="left")
    assert (reading.gradable, reading.grade, reading.dme) == (False, "", "not_assessable")
    assert reading.agrees_with_ai


def test_doctor_changes_the_outcome_with_a_reason_on_the_page(graded_visit, doctor):
    from screening.models import OutcomeRule

    read_visit(doctor, graded_visit, right="2", left="1", submit=False)
    client = login(doctor)
    urgent = OutcomeRule.objects.get(key="4")
    client.post(url("review_submit", graded_visit), {"outcome": urgent.pk, "outcome_reason": ""})
    assert not Review.objects.get(visit=graded_visit).is_submitted
    client.post(
        url("review_submit", graded_visit),
        {"outcome": urgent.pk, "outcome_reason": "New floaters reported"},
    )
    review = Review.objects.get(visit=graded_visit)
    assert review.outcome == urgent and review.recommended_outcome.key == "2"
    assert review.outcome_reason == "New floaters reported"


def test_dme_has_no_default_and_agreeing_still_needs_it(graded_visit, doctor):
    client = login(doctor)
    client.post(url("review_start", graded_visit))
    page = client.get(url("review", graded_visit)).content.decode()
    assert 'value="absent" checked' not in page and "checked" not in page.split("right-dme")[1][:80]
    response = client.post(
        url("review", graded_visit), {"eye": "right", "right-gradable": "yes", "agree": "1"}
    )
    assert "Choose whether diabetic macular oedema is present" in response.content.decode()
    assert response.context["eyes"][0]["form"].errors["dme"]
    assert not EyeReading.objects.filter(review__visit=graded_visit).exists()
    client.post(
        url("review", graded_visit),
        {"eye": "right", "right-gradable": "yes", "right-dme": "present", "agree": "1"},
    )
    assert EyeReading.objects.get(review__visit=graded_visit, eye="right").dme == "present"


def test_visit_page_shows_the_signed_decision_and_the_live_status(signed_visit, nurse):
    client = login(nurse)
    page = client.get(reverse("screening:visit_detail", kwargs={"pk": signed_visit.pk}))
    text = page.content.decode()
    review = signed_visit.sign_off.review
    assert "Signed result" in text and review.outcome.label in text
    assert text.index("Signed result") < text.index("AI result")
    live = client.get(reverse("screening:visit_images_live", kwargs={"pk": signed_visit.pk}))
    assert "Report signed" in live.content.decode()  # the status badge refreshes with the section


def test_patient_page_marks_an_amended_report(signed_visit, doctor, patient):
    client = login(doctor)
    page = client.get(reverse("patients:detail", kwargs={"pk": patient.pk})).content.decode()
    assert "(amended)" not in page
    client.post(url("addendum_add", signed_visit), {"reason": "r", "text": "t"})
    page = client.get(reverse("patients:detail", kwargs={"pk": patient.pk})).content.decode()
    assert "Report signed (amended)" in page

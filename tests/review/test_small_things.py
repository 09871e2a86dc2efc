"""Small things seen on the walk (issue 13 §5), each with the behaviour that was wrong before."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Site
from audit.models import AuditEvent
from screening.dashboard import dashboard_context, duration_label
from screening.models import GradingJob, SignOff
from screening.services.review import review_sign_off
from tests.conftest import login
from tests.factories import PASSWORD, VisitFactory, make_graded_visit, read_visit

pytestmark = pytest.mark.django_db


def test_home_recent_visits_newest_first(patient, nurse):
    days = [datetime.date(2026, 1, d) for d in (5, 20, 1, 12)]
    for day in days:
        VisitFactory(patient=patient, captured_by=nurse, visit_date=day)
    response = login(nurse).get(reverse("home"))
    shown = [v.visit_date for v in response.context["recent_visits"]]
    assert shown == sorted(days, reverse=True)


def test_grading_median_is_the_median_not_a_nearest_rank(nurse, patient, admin_user):
    make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    now = timezone.now()
    for job, seconds in zip(
        GradingJob.objects.order_by("pk"), [12.0, 16.2, 45.6, 50.0], strict=True
    ):
        GradingJob.objects.filter(pk=job.pk).update(
            queued_at=now - datetime.timedelta(seconds=seconds), finished_at=now
        )
    response = login(admin_user).get(reverse("screening:grading_dashboard"))
    assert response.context["latency_p50"] == pytest.approx(30.9)  # (16.2 + 45.6) / 2
    assert "median 30.9 s" in response.content.decode()


# --- deactivating a site needs a confirmation, as deactivating a user does ----------------------


def test_site_deactivation_needs_the_confirmation(admin_user, site):
    client = login(admin_user)
    url = reverse("staff:site_deactivate", kwargs={"pk": site.pk})
    refused = client.post(url, follow=True)
    assert Site.objects.get(pk=site.pk).is_active
    assert "tick the box to confirm" in refused.content.decode()
    assert refused.redirect_chain[-1][0] == reverse("staff:site_edit", kwargs={"pk": site.pk})
    client.post(url, {"confirm": "yes"})
    assert not Site.objects.get(pk=site.pk).is_active


def test_site_list_links_to_the_confirmation_instead_of_a_one_click_button(admin_user, site):
    client = login(admin_user)
    listing = client.get(reverse("staff:site_list")).content.decode()
    assert reverse("staff:site_deactivate", kwargs={"pk": site.pk}) not in listing
    edit = client.get(reverse("staff:site_edit", kwargs={"pk": site.pk})).content.decode()
    assert 'name="confirm" value="yes" required' in edit


def test_site_deactivation_wrong_role_is_refused(doctor, site):
    url = reverse("staff:site_deactivate", kwargs={"pk": site.pk})
    assert login(doctor).post(url, {"confirm": "yes"}).status_code == 403
    assert Site.objects.get(pk=site.pk).is_active


# --- dashboard ----------------------------------------------------------------------------------


def test_turnaround_reads_in_minutes_hours_or_days():
    assert duration_label(180) == "3 min"  # was "0.0 h"
    assert duration_label(20) == "1 min"
    assert duration_label(5.25 * 3600) == "5.2 h"
    assert duration_label(3 * 86400) == "3.0 days"


@pytest.fixture
def signed(nurse, patient, doctor):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)
    read_visit(doctor, visit, right="2", left="1")
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    return visit


def test_dashboard_shows_minutes_and_the_kappas_n(signed, doctor):
    uploaded = signed.images.order_by("uploaded_at").first().uploaded_at
    assert (SignOff.objects.get(visit=signed).signed_at - uploaded).total_seconds() < 60
    context = dashboard_context(doctor)
    assert context["median_turnaround"].endswith("min")
    page = login(doctor).get(reverse("screening:review_dashboard")).content.decode()
    assert "n = 2" in page and "Too few eyes for a reliable kappa." in page
    assert " h</strong>" not in page


def test_confusion_matrix_headers_line_up_with_their_cells(signed, doctor):
    page = login(doctor).get(reverse("screening:review_dashboard")).content.decode()
    table = page.split('<table class="confusion"')[1].split("</table>")[0]
    head, body = table.split("<tbody>")
    first_row = body.split("</tr>")[0]
    cells = re.compile(r"<t[hd][ >]")
    assert len(cells.findall(head)) == len(cells.findall(first_row)) == 6


# --- one date and time format; the locale's language -------------------------------------------


def test_pages_use_one_date_format_and_the_locale(signed, doctor, patient):
    client = login(doctor)
    page = client.get(reverse("screening:visit_detail", kwargs={"pk": signed.pk})).content.decode()
    assert '<html lang="en-gb">' in page
    assert "15 Jan 2026" in page and "2026-01-15" not in page
    report = client.get(reverse("screening:report", kwargs={"pk": signed.pk})).content.decode()
    signed_at = timezone.localtime(signed.sign_off.signed_at)
    assert f"{signed_at:%-d %b %Y %H:%M}" in report  # 24-hour clock, no "a.m."
    letter = client.get(reverse("screening:letter", kwargs={"pk": signed.pk})).content.decode()
    assert "15 Jan 2026" in letter and "January" not in letter


# --- human labels, not raw codes ----------------------------------------------------------------


def test_user_list_shows_role_labels(admin_user, api_client_user):
    page = login(admin_user).get(reverse("staff:user_list")).content.decode()
    assert "API client" in page and ">api_client<" not in page and "api_client," not in page


def test_audit_trail_shows_record_types_actions_and_outcome_labels(signed, admin_user):
    page = login(admin_user).get(reverse("audit:list")).content.decode()
    assert "Eye reading #" in page and "screening.eyereading #" not in page
    assert "Review: sign off" in page
    sign_off = AuditEvent.objects.get(action="review.sign_off")
    key = sign_off.changes["outcome"][1]
    label = signed.sign_off.review.outcome.label
    assert f"— → {label}" in page and f"— → {key}<" not in page


# --- layout ---------------------------------------------------------------------------------------


def test_visit_form_pairs_acuity_right_then_left_on_one_row(nurse, patient):
    page = login(nurse).get(reverse("screening:visit_create", kwargs={"patient_pk": patient.pk}))
    text = page.content.decode()
    acuity = text.split('<fieldset class="form-pair acuity">')[1].split("</fieldset>")[0]
    assert acuity.index("visual_acuity_right") < acuity.index("visual_acuity_left")
    assert "visit_date" not in acuity


def test_ungradable_reason_is_tied_to_the_ungradable_answer(graded_visit, doctor):
    client = login(doctor)
    client.post(reverse("screening:review_start", kwargs={"pk": graded_visit.pk}))
    page = client.get(reverse("screening:review", kwargs={"pk": graded_visit.pk})).content.decode()
    box = page.split('data-when-ungradable="right"')[1].split("</div>")[0]
    assert "Why can this eye not be graded?" in box


# --- the API docs page and /favicon.ico ---------------------------------------------------------


def test_api_docs_carry_the_portal_header_and_a_way_back(client):
    page = client.get(reverse("api:docs")).content.decode()
    assert 'class="portal-header"' in page and "Back to the portal" in page
    assert f'href="{reverse("home")}"' in page


def test_favicon_ico_answers(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_home_leads_a_doctor_to_the_reports_they_signed(doctor):
    page = login(doctor).get(reverse("home")).content.decode()
    assert f'href="{reverse("screening:worklist")}?tab=signed"' in page

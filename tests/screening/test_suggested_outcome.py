"""One suggested outcome per visit, urgency included, computed in screening.rules and shown the
same on the worklist, the visit page, the review page and the API (issue 13, part 1); and the AI
result of a photograph: the screening decision apart from the grade the model ranks first."""

import io
import json
import shutil

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from screening.models import GradingJob, OutcomeRule, Visit
from screening.rules import (
    DEFAULT_OUTCOMES,
    UNGRADABLE,
    Grade,
    Urgency,
    ai_eye_result,
    ai_image_result,
    outcome_urgency,
    suggested_outcome,
)
from screening.selectors import review_worklist
from screening.services import grading
from screening.services.grading import visit_rollup
from screening.services.images import image_attach
from tests.conftest import issue_token, login, token_client
from tests.factories import VisitFactory, fundus_like_jpeg, make_graded_visit, probabilities_for

# The issue's photograph: grade 0 at 55 %, P(referable) = P(2) + P(3) + P(4) = 22 %.
DISAGREEING = [0.55, 0.23, 0.15, 0.05, 0.02]
CARD_THRESHOLD = 0.1177


def make_disagreeing_visit(
    *, nurse, patient, threshold: float | None = CARD_THRESHOLD, photos: dict | None = None
) -> Visit:
    """A visit whose right eye is flagged referable (22 % >= 12 %) while no DR is its most probable
    grade, its left eye plainly no DR; stored as the grader stores it (the right eye's grade by the
    card's `referable_first` rule: 2). `photos`: {eye: JPEG bytes} (default: synthetic fundi)."""
    visit = VisitFactory(patient=patient, captured_by=nurse, camera="Topcon TRC-NW400")
    results = {
        "right": (DISAGREEING, 2, 0.22, True, 0.15),
        "left": (probabilities_for(0, 0.9), 0, 0.04, False, 0.9),
    }
    for seed, (eye, (probabilities, grade, p_referable, referable, p_grade)) in enumerate(
        results.items()
    ):
        data = (photos or {}).get(eye) or fundus_like_jpeg(seed=seed + 10)
        upload = SimpleUploadedFile(f"{eye}.jpg", data)
        image, _ = image_attach(actor=nurse, visit=visit, upload=upload, eye=eye, field="macula")
        GradingJob.objects.filter(image=image).update(
            status=GradingJob.Status.SUCCEEDED,
            model_version="test-model-1.0",
            gradable=True,
            probabilities=probabilities,
            predicted_grade=grade,
            referable_probability=p_referable,
            referable=referable,
            confidence=p_grade,
            referable_threshold=threshold,
        )
    assert visit_rollup(visit=visit)
    visit.refresh_from_db()
    return visit


def registered_heatmap(job: GradingJob) -> None:
    """Give the job a real heat layer (ml.explain.heat_layer_png) on its own photograph."""
    from ml.explain import heat_layer_png
    from ml.preprocess import preprocess_bytes

    with job.image.file.open("rb") as handle:
        pre = preprocess_bytes(handle.read())
    yy, xx = np.mgrid[0:8, 0:8]
    cam = np.exp(-((yy - 2.0) ** 2 + (xx - 5.0) ** 2) / 3.0).astype(np.float32)
    name = job.heatmap.storage.save(f"hm/{job.pk}.png", ContentFile(heat_layer_png(pre, cam)))
    GradingJob.objects.filter(pk=job.pk).update(heatmap=name)


# --- the rule -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "urgency"),
    [
        ("0", Urgency.RECALL),
        ("1", Urgency.RECALL),
        ("2", Urgency.ROUTINE),
        ("3", Urgency.SOON),
        ("4", Urgency.URGENT),
        ("DME", Urgency.ROUTINE),
        ("U", Urgency.REIMAGE),
    ],
)
def test_the_default_outcomes_urgency(key, urgency):
    row = next(outcome for outcome in DEFAULT_OUTCOMES if outcome.key == key)
    suggested = suggested_outcome(row)
    assert suggested is not None
    assert (suggested.key, suggested.label, suggested.urgency) == (key, row.label, urgency)
    assert suggested.urgent is (urgency == Urgency.URGENT)


def test_urgency_follows_the_referral_interval_not_the_grade():
    assert outcome_urgency(referral=True, refer_within_weeks=1) == Urgency.URGENT
    assert outcome_urgency(referral=True, refer_within_weeks=3) == Urgency.SOON
    assert outcome_urgency(referral=True, refer_within_weeks=6) == Urgency.ROUTINE
    assert outcome_urgency(referral=False, refer_within_weeks=2) == Urgency.RECALL
    assert suggested_outcome(None) is None
    assert [u.rank for u in Urgency] == [0, 1, 2, 3, 4]


def test_the_issues_photograph_is_flagged_referable_and_most_likely_no_dr():
    result = ai_image_result(
        probabilities=DISAGREEING,
        referable_probability=0.22,
        referable=True,
        threshold=CARD_THRESHOLD,
    )
    assert result is not None
    assert result.referable and result.likely_grade == Grade.NO_DR
    assert result.likely_probability == 0.55 and result.disagrees
    assert [grade.code for grade, _ in result.probability_rows] == ["0", "1", "2", "3", "4"]


def test_agreeing_results_and_missing_ones():
    agree = ai_image_result(
        probabilities=[0.1, 0.1, 0.6, 0.1, 0.1], referable_probability=0.8, referable=True,
        threshold=0.5,
    )  # fmt: skip
    assert agree is not None and agree.likely_grade == Grade.MODERATE and not agree.disagrees
    # a high threshold can leave the most probable grade referable while the flag is not raised
    unflagged = ai_image_result(
        probabilities=[0.3, 0.25, 0.4, 0.03, 0.02], referable_probability=0.45, referable=False,
        threshold=0.5,
    )  # fmt: skip
    assert unflagged is not None and unflagged.disagrees
    assert ai_image_result(
        probabilities=None, referable_probability=None, referable=None, threshold=0.5
    ) is None  # fmt: skip


def test_an_eye_is_referable_when_a_photograph_is_and_takes_its_worst_likely_grade():
    flagged = ai_image_result(
        probabilities=DISAGREEING, referable_probability=0.22, referable=True, threshold=0.12
    )
    mild = ai_image_result(
        probabilities=[0.2, 0.7, 0.06, 0.02, 0.02], referable_probability=0.1, referable=False,
        threshold=0.12,
    )  # fmt: skip
    assert flagged is not None and mild is not None
    eye = ai_eye_result([flagged, mild])
    assert eye.referable and eye.referable_probability == 0.22
    assert eye.likely_grade == Grade.MILD and eye.likely_probability == 0.7 and eye.disagrees
    assert eye.photographs == 2  # the page says the figures are the eye's highest and worst
    none = ai_eye_result([])
    assert none.referable is None and none.likely_grade == UNGRADABLE and not none.disagrees


# --- the worklist's SQL says what the rule says ---------------------------------------------------


@pytest.mark.django_db
def test_worklist_urgency_in_sql_is_the_rule_for_every_outcome_row(doctor, nurse, patient):
    # a programme may edit its table: "soon" referrals within 2 weeks make them urgent
    OutcomeRule.objects.filter(key="3").update(refer_within_weeks=2)
    visits = {
        make_graded_visit(nurse=nurse, patient=patient, right=right, left=left).pk: None
        for right, left in [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (None, 0), (None, None)]
    }
    rows = list(review_worklist(user=doctor))
    assert {v.pk for v in rows} == set(visits)
    for visit in rows:
        suggested = suggested_outcome(visit.ai_outcome)
        assert suggested is not None
        assert visit.urgency_rank == suggested.urgency.rank, visit.ai_outcome.key
        assert visit.urgent is suggested.urgent
    assert [v.urgency_rank for v in rows] == sorted(v.urgency_rank for v in rows)
    assert {v.ai_outcome.key for v in rows[:2]} == {"3", "4"}  # both urgent now


# --- every screen and the API say the same --------------------------------------------------------


@pytest.mark.django_db
def test_a_sure_routine_referral_is_routine_everywhere(
    doctor, nurse, patient, api_client_user, admin_user
):
    """Seen: the worklist marked a visit "urgent" (a referable grade the model was 95 % sure of)
    while its visit page suggested "Refer routine (within ~13 weeks)"."""
    visit = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0, confidence=0.95)
    worklist = login(doctor).get(reverse("screening:worklist"))
    (row,) = worklist.context["rows"]
    assert row["visit"].urgent is False and worklist.context["urgent_count"] == 0
    label = "Refer to ophthalmology, routine (within ~13 weeks)"
    expected = (
        f'<span class="suggested-outcome" data-outcome="2" data-urgency="routine">'
        f'<span class="badge urgency-routine">Routine referral</span> {label}</span>'
    )
    pages = {
        "worklist": worklist,
        "visit": login(doctor).get(reverse("screening:visit_detail", args=[visit.pk])),
        "review": login(doctor).get(reverse("screening:review", args=[visit.pk])),
    }
    for name, page in pages.items():
        html = page.content.decode()
        assert page.status_code == 200 and expected in html, name
        assert "urgent</span>" not in html, name
    api = token_client(issue_token(api_client_user, actor=admin_user))
    for url in ("api:visit-detail", "api:visit-results"):
        body = api.get(reverse(url, kwargs={"pk": visit.pk})).json()
        assert body["ai_suggested_outcome"] == {
            "key": "2",
            "label": label,
            "referral": True,
            "urgency": "routine",
        }, url


@pytest.mark.django_db
def test_proliferative_is_urgent_everywhere(doctor, nurse, patient, api_client_user, admin_user):
    visit = make_graded_visit(nurse=nurse, patient=patient, right=4, left=0)
    routine = make_graded_visit(nurse=nurse, patient=patient, right=2, left=0)
    worklist = login(doctor).get(reverse("screening:worklist"))
    assert [r["visit"].pk for r in worklist.context["rows"]] == [visit.pk, routine.pk]
    assert worklist.context["urgent_count"] == 1
    marker = 'data-outcome="4" data-urgency="urgent"><span class="badge urgency-urgent">'
    for url in ("screening:visit_detail", "screening:review"):
        assert marker in login(doctor).get(reverse(url, args=[visit.pk])).content.decode()
    api = token_client(issue_token(api_client_user, actor=admin_user))
    body = api.get(reverse("api:visit-results", kwargs={"pk": visit.pk})).json()
    assert body["ai_suggested_outcome"]["urgency"] == "urgent"


# --- what the pages and the API say about a disagreeing photograph --------------------------------


@pytest.mark.django_db
def test_visit_and_review_pages_never_name_a_grade_the_model_does_not_rank_first(
    doctor, nurse, patient
):
    visit = make_disagreeing_visit(nurse=nurse, patient=patient)
    assert visit.ai_grade_right == Grade.MODERATE  # the stored, referable-first grade
    for url in ("screening:visit_detail", "screening:review"):
        html = login(doctor).get(reverse(url, args=[visit.pk])).content.decode()
        assert "Refer: yes</strong> · P(referable) 22%, threshold 12%" in html, url
        assert "Most likely grade: <strong>0 · No apparent DR</strong> (55%)" in html, url
        assert "Flagged as possibly referable; most likely grade: no apparent DR." in html, url
        assert "Moderate NPDR" not in html.replace('title="Moderate NPDR"', ""), url
        assert "confidence" not in html.lower(), url
        assert "model probabilities (not calibrated)" in html, url


@pytest.mark.django_db
def test_the_api_gives_the_most_likely_grade_and_the_threshold_beside_the_flag(
    nurse, patient, api_client_user, admin_user
):
    visit = make_disagreeing_visit(nurse=nurse, patient=patient)
    api = token_client(issue_token(api_client_user, actor=admin_user))
    body = api.get(reverse("api:visit-results", kwargs={"pk": visit.pk})).json()
    right = next(image for image in body["images"] if image["eye"] == "right")["grading"]
    assert right["referable"] is True and right["referable_probability"] == 0.22
    assert right["referable_threshold"] == CARD_THRESHOLD
    assert (right["most_likely_grade"], right["most_likely_probability"]) == (0, 0.55)
    assert right["predicted_grade"] == 2 and right["calibration"] == ""


@pytest.mark.django_db
def test_the_signed_report_and_its_pdf_say_the_same(doctor, nurse, patient):
    from pypdf import PdfReader

    from screening.services.review import review_sign_off
    from tests.factories import PASSWORD, read_visit

    visit = make_disagreeing_visit(nurse=nurse, patient=patient)
    for job in GradingJob.objects.filter(image__visit=visit):
        registered_heatmap(job)
    read_visit(doctor, visit, right="2", left="0")
    review_sign_off(actor=doctor, visit=visit, password=PASSWORD)
    client = login(doctor)
    html = client.get(reverse("screening:report", args=[visit.pk])).content.decode()
    words = "Refer: yes · P(referable) 22%, threshold 12% · most likely grade 0 · No apparent DR"
    assert f"{words} (55%)" in html
    assert "Flagged as possibly referable; most likely grade: no apparent DR." in html
    assert 'data-outcome="2" data-urgency="routine"' in html  # the signed outcome, same partial
    assert html.count('class="heat-layer"') == 2  # laid over its photograph
    pdf = client.get(reverse("screening:report_pdf", args=[visit.pk]))
    reader = PdfReader(io.BytesIO(pdf.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "most likely grade 0 · No apparent DR (55%) (flagged as possibly referable)" in text
    assert "AI grade" not in text
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 4  # a photograph and its heatmap (composited on it) per eye
    heat = np.asarray(images[1].image.convert("RGB"), dtype=float)
    photo = np.asarray(images[0].image.convert("RGB").resize(images[1].image.size), dtype=float)
    assert heat.shape == photo.shape and 2 < np.abs(heat - photo).mean() < 60  # the photo shows


# --- what a grading stores: the threshold, the calibration and a registered heatmap ---------------


@pytest.fixture
def calibrated_grader(tmp_path, settings):
    """A tiny real Keras grader whose card names a threshold and a temperature calibration."""
    from tests.ml.tiny import build_tiny_grader

    build_tiny_grader(tmp_path / "built")
    folder = shutil.copytree(tmp_path / "built", tmp_path / "calibrated")
    card = json.loads((folder / "model_card.json").read_text())
    card.update(referable_threshold=0.3, calibration={"method": "temperature", "temperature": 1.5})
    (folder / "model_card.json").write_text(json.dumps(card))
    settings.GRADING_WEIGHTS_DIR = str(folder)
    settings.GRADING_BATCH_WAIT_SECONDS = 0
    grading.model_card.cache_clear()
    grading._grader = None
    yield
    grading.model_card.cache_clear()
    grading._grader = None


@pytest.mark.django_db
def test_a_grading_stores_its_threshold_calibration_and_a_heatmap_on_the_photographs_frame(
    calibrated_grader, nurse, visit, doctor
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from screening.services.images import image_attach
    from tests.factories import fundus_like_jpeg

    photo = Image.open(io.BytesIO(fundus_like_jpeg(seed=3)))
    wide = io.BytesIO()
    photo.resize((640, 480)).save(wide, "JPEG")
    upload = SimpleUploadedFile("wide.jpg", wide.getvalue())
    image = image_attach(actor=nurse, visit=visit, upload=upload, eye="right", field="macula")[0]
    job = image.grading_jobs.get()
    assert grading.grading_run(job_id=job.pk) == 1
    job.refresh_from_db()
    assert job.status == GradingJob.Status.SUCCEEDED and job.gradable
    assert job.referable_threshold == 0.3
    assert job.calibration == "temperature scaling, T = 1.50"
    assert job.heatmap_registered
    with job.heatmap.open("rb") as handle:
        layer = Image.open(io.BytesIO(handle.read()))
    assert layer.mode == "RGBA" and layer.size == (640, 480)
    html = login(doctor).get(reverse("screening:visit_detail", args=[visit.pk])).content.decode()
    assert "threshold 30%" in html
    assert "calibrated probabilities (temperature scaling, T = 1.50)" in html
    assert "data-heat-layer" in html and "data-heat-opacity" in html and "data-heat-side" in html


def test_the_eye_line_says_its_figures_come_from_several_photographs():
    """With two photographs the eye's P(referable) and grade may come from different ones: the
    line says so instead of reading like one photograph's result (found on a walk-through)."""
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    from screening.models import GradingJob

    def row(probabilities, p_referable, referable):
        job = GradingJob(
            status=GradingJob.Status.SUCCEEDED,
            gradable=True,
            probabilities=probabilities,
            referable_probability=p_referable,
            referable=referable,
            referable_threshold=0.12,
        )
        return SimpleNamespace(job=job)

    disc = row([0.32, 0.1, 0.3, 0.2, 0.08], 0.52, True)
    macula = row([0.83, 0.1, 0.04, 0.02, 0.01], 0.07, False)
    two = render_to_string("screening/_ai_eye_result.html", {"rows": [disc, macula]})
    assert "highest P(referable) of its 2 photographs 52%" in two
    assert "worst most likely grade of its photographs" in two
    one = render_to_string("screening/_ai_eye_result.html", {"rows": [macula]})
    assert "P(referable) 7%" in one and "of its" not in one

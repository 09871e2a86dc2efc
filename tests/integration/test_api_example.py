"""The README's worked example, end to end: scripts/api_example.py against a live server with a
real Celery worker grading the shipped sample photographs."""

import json
import subprocess
import sys

import pytest
from django.conf import settings

from screening.models import Visit
from tests.conftest import issue_token
from tests.workers import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
# The README's photograph: a left eye (every shipped sample is one), uploaded as the left eye.
LEFT_EYE = settings.BASE_DIR / "ml" / "samples" / "natural_177_left_grade0.jpg"


def test_worked_example_registers_uploads_waits_and_reads_the_results(
    live_server, start_worker, api_client_user, admin_user
):
    start_worker()
    token = issue_token(api_client_user, actor=admin_user)
    command = [sys.executable, "scripts/api_example.py", "--url", live_server.url]
    run = subprocess.run(
        [*command, "--token", token, "--left", str(LEFT_EYE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    results = summary["results"]
    assert results["grading_finished"] is True
    [image] = results["images"]
    assert image["eye"] == "left" and image["grading"]["status"] == "succeeded"
    # What the README says to expect: grade 0 (no apparent DR), not referable, P(referable) ~11 %.
    assert image["grading"]["predicted_grade"] == 0
    assert image["grading"]["referable"] is False
    assert image["grading"]["referable_probability"] < 0.2
    assert "left  succeeded: grade 0" in run.stdout
    visit = Visit.objects.get(pk=summary["visit"])  # rolled up with the last result stored
    assert visit.status == Visit.Status.AWAITING_REVIEW
    assert visit.ai_overall_grade == "U"  # no right-eye photograph: the visit cannot be graded

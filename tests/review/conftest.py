"""Fixtures of the doctors' review tests: a graded visit (tests.factories.make_graded_visit) and
more doctors at the home site for the two-reader workflow."""

import pytest

from tests.factories import UserFactory, make_graded_visit


@pytest.fixture
def graded_visit(nurse, patient):
    return make_graded_visit(nurse=nurse, patient=patient, right=2, left=1)


@pytest.fixture
def doctor2(site):
    return UserFactory(username="doctor2", roles=["doctor"], sites=[site], last_name="Second")


@pytest.fixture
def doctor3(site):
    return UserFactory(username="doctor3", roles=["doctor"], sites=[site], last_name="Third")

"""The clinical rules (screening.rules), pure: grades and their codes, eye -> visit roll-up,
outcome, urgency, 'agree with the AI', and the second-reader test (CLINICAL.md)."""

from dataclasses import dataclass

import pytest

from screening.rules import (
    DEFAULT_OUTCOMES,
    UNGRADABLE,
    EyeGrade,
    Grade,
    SecondReaderPolicy,
    Summary,
    agree_with_ai,
    disagreeing_eyes,
    disagreeing_eyes_with_ai,
    eye_grade,
    grade_code,
    grade_label,
    grade_of_level,
    grades_disagree,
    parse_grade,
    review_summary,
    visit_summary,
)
from screening.selectors import second_reader_policy

G0, G1, G2, G3, G4 = Grade
U = UNGRADABLE
DEFAULT_POLICY = SecondReaderPolicy()


@dataclass(frozen=True)
class Reading:
    eye: str
    eye_grade: EyeGrade
    dme: str = "absent"


# --- grades and their codes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "grade"),
    [("0", G0), ("2", G2), ("4", G4), ("U", U), ("", None), (None, None), (3, G3), (G1, G1)],
)
def test_codes_parse_to_one_grade_type_and_back(code, grade):
    assert parse_grade(code) is grade
    if isinstance(code, str):
        assert grade_code(grade) == code


@pytest.mark.parametrize("code", ["5", "-1", "u", "2.0", "x", True])
def test_a_code_that_is_not_a_grade_is_refused(code):
    with pytest.raises(ValueError):
        parse_grade(code)


def test_grade_zero_is_a_finding_not_nothing():
    # `{{ grade|default:"—" }}` and `if grade:` must not hide grade 0.
    assert G0 and bool(U) and G0 != U
    assert str(G0) == "0" and str(U) == "U" and f"{G2}" == "2"


def test_labels_and_referable_follow_the_icdr_scale():
    assert [g.label for g in Grade] == [
        "No apparent DR",
        "Mild NPDR",
        "Moderate NPDR",
        "Severe NPDR",
        "Proliferative DR",
    ]
    assert [g.referable for g in Grade] == [False, False, True, True, True]
    assert not U.referable
    assert grade_label("3") == "Severe NPDR" and grade_label(2) == "Moderate NPDR"
    assert grade_label("U") == "Ungradable" and grade_label("") == "" and grade_label("9") == ""


# --- eye -> visit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ([G1, G3, G0], G3),  # the worst gradable image
        ([None, G1], G1),  # an ungradable image does not make the eye ungradable
        ([None, None], U),  # no gradable image: U, never grade 0
        ([], U),
    ],
)
def test_eye_grade_is_the_worst_gradable_image(images, expected):
    assert eye_grade(images) is expected


@pytest.mark.parametrize(
    ("right", "left", "expected"),
    [
        (G0, G0, Summary(G0, False, "0")),
        (G1, G0, Summary(G1, False, "1")),
        (G0, G2, Summary(G2, True, "2")),
        (G4, G3, Summary(G4, True, "4")),
        (U, G0, Summary(U, None, "U")),  # an ungradable eye never becomes grade 0
        (U, G1, Summary(U, None, "U")),
        (U, G3, Summary(G3, True, "3")),  # a referable eye is never hidden behind U
        (U, U, Summary(U, None, "U")),
    ],
)
def test_visit_summary_is_the_worse_eye(right, left, expected):
    assert visit_summary(right, left) == expected
    assert visit_summary(left, right) == expected


@pytest.mark.parametrize(
    ("right", "left", "dme", "expected"),
    [
        (G0, G0, "absent", Summary(G0, False, "0")),
        (G1, G0, "absent", Summary(G1, False, "1")),
        (G1, G0, "present", Summary(G1, True, "DME")),
        (G3, G0, "present", Summary(G3, True, "3")),  # a worse referral is kept
        (U, G1, "absent", Summary(U, None, "U")),
        (U, G2, "absent", Summary(G2, True, "2")),
        (U, U, "not_assessable", Summary(U, None, "U")),
        (U, G0, "present", Summary(U, True, "DME")),
    ],
)
def test_review_summary(right, left, dme, expected):
    readings = [Reading("right", right, dme), Reading("left", left)]
    assert review_summary(readings) == expected


def test_an_eye_without_a_reading_counts_as_ungradable():
    assert review_summary([Reading("right", G0)]) == Summary(U, None, "U")


def test_every_outcome_a_rule_can_lead_to_has_a_default():
    keys = {outcome.key for outcome in DEFAULT_OUTCOMES}
    reachable = {g.code for g in Grade} | {"U", "DME"}
    assert keys == reachable
    by_key = {outcome.key: outcome for outcome in DEFAULT_OUTCOMES}
    assert [by_key[k].refer_within_weeks for k in "234"] == [13, 4, 2]
    assert not by_key["0"].referral and not by_key["1"].referral and by_key["U"].referral


# --- agree with the AI ----------------------------------------------------------------------------


def test_agreeing_with_a_gradable_ai_grade_keeps_the_doctors_dme():
    agreed = agree_with_ai(G2)
    assert (agreed.gradable, agreed.grade, agreed.ungradable_reason, agreed.dme) == (
        True,
        G2,
        "",
        None,
    )


@pytest.mark.parametrize("ai", [U, None])
def test_agreeing_with_an_ungradable_ai_result_marks_the_eye_ungradable(ai):
    agreed = agree_with_ai(ai)
    assert (agreed.gradable, agreed.grade, agreed.dme) == (False, None, "not_assessable")
    assert agreed.ungradable_reason == "Ungradable (agrees with the AI)"


def test_agreeing_with_grade_zero_records_grade_zero():
    assert agree_with_ai(G0).grade is G0 and agree_with_ai(G0).gradable


# --- second reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (G0, G0, False),
        (G0, G1, False),
        (G2, G3, False),
        (G0, G2, True),  # two steps, and crosses the referable line
        (G1, G2, True),  # crosses the referable line
        (G2, G4, True),  # two steps
        (U, G0, True),
        (None, G0, True),  # no AI grade counts as ungradable
        (U, None, False),
    ],
)
def test_grades_disagree_with_the_default_policy(a, b, expected):
    assert grades_disagree(a, b, DEFAULT_POLICY) is expected
    assert grades_disagree(b, a, DEFAULT_POLICY) is expected


def test_the_default_policy_is_the_default_settings():
    assert second_reader_policy() == DEFAULT_POLICY


def test_the_policy_follows_the_settings(settings):
    settings.REVIEW_SECOND_READER_STEP_DIFF = 3
    settings.REVIEW_SECOND_READER_ON_REFERABLE_CHANGE = False
    settings.REVIEW_SECOND_READER_ON_GRADABILITY_CHANGE = False
    policy = second_reader_policy()
    assert not grades_disagree(G1, G2, policy) and not grades_disagree(G2, G4, policy)
    assert not grades_disagree(U, G3, policy) and grades_disagree(G0, G3, policy)


def test_eyes_disagreeing_with_the_ai():
    readings = [Reading("right", G2), Reading("left", U)]
    assert disagreeing_eyes_with_ai(readings, {"right": G2, "left": G0}, DEFAULT_POLICY) == ["left"]
    assert disagreeing_eyes_with_ai(readings, {"right": G0, "left": U}, DEFAULT_POLICY) == ["right"]


def test_doctors_disagreeing_on_dme_go_to_arbitration():
    first = [Reading("right", G1, "present"), Reading("left", G1)]
    second = [Reading("right", G1, "absent"), Reading("left", G1)]
    assert disagreeing_eyes(first, second, DEFAULT_POLICY) == ["right"]
    assert disagreeing_eyes(first, first, DEFAULT_POLICY) == []
    assert disagreeing_eyes(first, second[:1], DEFAULT_POLICY) == ["right", "left"]


def test_a_grader_level_is_a_grade():
    assert [grade_of_level(level) for level in range(5)] == list(Grade)
    with pytest.raises(ValueError):
        grade_of_level(5)

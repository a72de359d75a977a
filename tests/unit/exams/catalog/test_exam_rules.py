from __future__ import annotations

from typing import Any

import pytest

from exams.catalog.exam_rules import Exam, needs_device_check, needs_second_camera
from exams.shared.errors import DeadlinePassed, InvalidInput, NotFound, NotOpenYet
from tests.unit.exams.builders import CLOSES, OPENS, exam_of, offline, online


def exam_data(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "e1",
        "unit_id": "u1",
        "title": "Piano performance",
        "instructions": "Tune the piano before you start.",
        "time_requirements": "Submit every question within 40 minutes of starting it.",
        "opens_at": OPENS,
        "closes_at": CLOSES,
        "questions": [online().to_dict(), offline().to_dict()],
    }
    return base | fields


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as err:
        Exam.from_dict(data)
    return {p["field"]: p["message"] for p in err.value.details}


def test_exam_from_dict() -> None:
    exam = Exam.from_dict(exam_data())
    assert (exam.id, exam.unit_id, exam.title) == ("e1", "u1", "Piano performance")
    assert exam.instructions.startswith("Tune") and "40 minutes" in exam.time_requirements
    assert [q.id for q in exam.questions] == ["q1", "q9"]
    assert exam.upload_grace_s == 7200


def test_upload_may_finish_until_two_hours_after_the_exam_ends() -> None:
    assert exam_of(online()).upload_deadline == CLOSES + 2 * 3600


def test_exam_must_close_after_it_opens() -> None:
    assert "closes_at" in problems(exam_data(closes_at=OPENS))
    assert "opens_at" in problems(exam_data(opens_at="tomorrow"))


def test_questions_are_listed_in_their_order() -> None:
    exam = Exam.from_dict(
        exam_data(questions=[online("b", order=2).to_dict(), online("a", order=1).to_dict()])
    )
    assert [q.id for q in exam.questions] == ["a", "b"]


def test_question_ids_and_places_are_unique() -> None:
    found = problems(
        exam_data(
            questions=[
                online("q1", order=1).to_dict(),
                online("q1", order=2).to_dict(),
                online("q3", order=1).to_dict(),
            ]
        )
    )
    assert set(found) == {"questions[1].id", "questions[2].order"}


def test_question_problems_carry_their_place_in_the_exam() -> None:
    bad = online().to_dict() | {"recording_limit_s": 0}
    found = problems(exam_data(questions=[offline().to_dict(), bad], title=""))
    assert set(found) == {"title", "questions[1].recording_limit_s"}


def test_exam_body_must_be_an_object() -> None:
    assert set(problems("exam")) == {"(body)"}


def test_round_trip() -> None:
    exam = Exam.from_dict(exam_data())
    assert Exam.from_dict(exam.to_dict()) == exam


def test_question_lookup() -> None:
    exam = exam_of(online("q1"))
    assert exam.question("q1").id == "q1"
    with pytest.raises(NotFound):
        exam.question("q2")


def test_device_check_is_skipped_when_the_exam_has_only_offline_questions() -> None:
    assert not needs_device_check(exam_of(offline("a", 1), offline("b", 2)))
    assert needs_device_check(exam_of(offline("a", 1), online("b", 2)))
    assert needs_device_check(exam_of(online()))


def test_second_camera_is_offered_when_a_question_needs_it() -> None:
    assert not needs_second_camera(exam_of(online(), offline()))
    assert needs_second_camera(exam_of(online(second_camera_required=True), offline()))


def test_exam_window_is_half_open() -> None:
    exam = exam_of(online())
    with pytest.raises(NotOpenYet) as err:
        exam.require_open(OPENS - 1)
    assert err.value.details == {"opens_at": OPENS}
    assert err.value.code == "not_open_yet"
    exam.require_open(OPENS)
    exam.require_open(CLOSES - 0.001)
    with pytest.raises(DeadlinePassed):
        exam.require_open(CLOSES)
    assert exam.is_open(OPENS) and not exam.is_open(CLOSES)

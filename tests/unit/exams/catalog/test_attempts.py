from __future__ import annotations

import json
from dataclasses import replace

import pytest

from exams.answering.materials import attach_file, attach_text
from exams.answering.offline import add_file, open_question
from exams.answering.recording import begin_rehearsal, enter_formal, start_take, stop_take
from exams.answering.submissions import choose_take
from exams.catalog.attempts import Attempt, FileRef, TakeKind, file_problem, new_attempt, phase
from exams.catalog.questions import QuestionMode
from exams.shared.errors import InvalidInput, NotFound
from tests.unit.exams.builders import FakeClock, attempt, exam_of, offline, online

QUESTION = online(
    reading_limit_s=30,
    rehearsal_allowed=True,
    rehearsal_count=1,
    formal_count=2,
    materials=[
        {"kind": "text", "max_chars": 100},
        {"key": "score", "kind": "image", "max_bytes": 100, "formats": ["png"]},
    ],
)


def test_new_attempt_takes_the_mode_of_its_question() -> None:
    exam = exam_of(online(), offline())
    assert attempt(exam, "q1").mode is QuestionMode.ONLINE
    assert attempt(exam, "q9").mode is QuestionMode.OFFLINE
    with pytest.raises(NotFound):
        new_attempt("a1", exam, "nope", "c1")


def test_attempt_of_another_exam_is_refused(clock: FakeClock) -> None:
    a = attempt(exam_of(online()))
    other = replace(exam_of(online()), id="e2")
    with pytest.raises(InvalidInput, match="another exam"):
        enter_formal(a, other, clock())


def test_everything_survives_a_save_and_load(clock: FakeClock) -> None:
    exam = exam_of(QUESTION)
    a = begin_rehearsal(attempt(exam), exam, clock())
    a = start_take(a, exam, TakeKind.REHEARSAL, "r1", clock.advance(5))
    a = stop_take(a, "r1", clock.advance(10))
    a = enter_formal(a, exam, clock.advance(5))
    a = start_take(a, exam, TakeKind.FORMAL, "f1", clock.advance(1))
    a = stop_take(a, "f1", clock.advance(60), "interrupted")
    a = start_take(a, exam, TakeKind.FORMAL, "f2", clock.advance(1))
    a = choose_take(a, exam, "f1", clock())
    a = attach_text(a, exam, "text", "Chopin, Op. 10 No. 3", clock())
    a = attach_file(a, exam, "score", FileRef("img1", "image", "png", 50), clock())
    saved = json.loads(json.dumps(a.to_dict()))
    assert Attempt.from_dict(saved) == a
    assert saved["reading"] is None and saved["takes"][2]["stopped_at"] is None

    off_exam = exam_of(offline())
    b = open_question(attempt(off_exam, "q9"), off_exam, clock())
    b = add_file(b, off_exam, FileRef("v1", "video", "mp4", 1000), clock())
    assert Attempt.from_dict(json.loads(json.dumps(b.to_dict()))) == b


def test_a_pending_reading_survives_a_save_and_load(clock: FakeClock) -> None:
    exam = exam_of(QUESTION)
    a = enter_formal(attempt(exam), exam, clock())
    assert Attempt.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_works_are_finished_formal_takes_only(clock: FakeClock) -> None:
    exam = exam_of(QUESTION)
    a = begin_rehearsal(attempt(exam), exam, clock())
    a = start_take(a, exam, TakeKind.REHEARSAL, "r1", clock())
    a = stop_take(a, "r1", clock.advance(10))
    a = enter_formal(a, exam, clock())
    a = start_take(a, exam, TakeKind.FORMAL, "f1", clock())
    assert a.works == ()
    a = stop_take(a, "f1", clock.advance(10))
    a = start_take(a, exam, TakeKind.FORMAL, "f2", clock())
    assert [t.id for t in a.works] == ["f1"]
    assert a.used(TakeKind.REHEARSAL) == 1 and a.used(TakeKind.FORMAL) == 2


def test_phase_follows_the_journey(clock: FakeClock) -> None:
    exam = exam_of(online(reading_limit_s=30, submission_limit_s=600))
    a = attempt(exam)
    assert phase(a, clock()) == "not_started"
    a = enter_formal(a, exam, clock())
    assert phase(a, clock()) == "reading"
    a = start_take(a, exam, TakeKind.FORMAL, "f1", clock.advance(5))
    assert phase(a, clock()) == "recording"
    a = stop_take(a, "f1", clock.advance(5))
    assert phase(a, clock()) == "answering"
    assert phase(a, clock.advance(600)) == "closed"


def test_unknown_take_is_not_found(clock: FakeClock) -> None:
    a = attempt(exam_of(online()))
    with pytest.raises(NotFound, match="no such recording"):
        a.take("t-of-someone-else")


def test_file_problem_names_what_is_wrong() -> None:
    f = FileRef("x", "video", ".MP4", 10)
    assert file_problem(f, ("video",), ("mp4",), 0, 10) is None
    assert "not accepted here" in (file_problem(f, ("audio",), ("mp4",), 0, 10) or "")
    assert "format" in (file_problem(f, ("video",), ("webm",), 0, 10) or "")
    assert "most allowed" in (file_problem(f, ("video",), ("mp4",), 0, 9) or "")
    assert "at least" in (file_problem(f, ("video",), ("mp4",), 11, 99) or "")

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from exams.answering.materials import attach_text
from exams.answering.offline import add_file, open_question
from exams.answering.recording import (
    begin_rehearsal,
    enter_formal,
    mark_take_failed,
    start_take,
    stop_take,
)
from exams.answering.submissions import (
    auto_submit,
    auto_submit_take,
    choose_take,
    exam_finished,
    submit,
)
from exams.catalog.attempts import Attempt, FileRef, TakeKind
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict, DeadlinePassed, InvalidInput, NotFound
from tests.unit.exams.builders import CLOSES, FakeClock, attempt, exam_of, offline, online

FORMAL, REHEARSAL = TakeKind.FORMAL, TakeKind.REHEARSAL


def recorded(clock: FakeClock, *take_ids: str, **settings: Any) -> tuple[Exam, Attempt]:
    """An entered formal answer with these formal takes recorded and stopped."""
    settings.setdefault("formal_count", max(1, len(take_ids)))
    exam = exam_of(online(**settings))
    a = enter_formal(attempt(exam), exam, clock())
    for take_id in take_ids:
        a = start_take(a, exam, FORMAL, take_id, clock())
        a = stop_take(a, take_id, clock.advance(30))
    return exam, a


# -- choosing -----------------------------------------------------------------------------


def test_choose_a_take_right_after_it_stops(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    # its files may still be finalising or uploading (M3.7): the choice does not wait
    a = choose_take(a, exam, "f1", clock())
    assert a.chosen_take_id == "f1"


def test_choosing_again_replaces_the_choice(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", "f2")
    a = choose_take(choose_take(a, exam, "f1", clock()), exam, "f2", clock())
    assert a.chosen_take_id == "f2"


def test_a_rehearsal_cannot_be_chosen(clock: FakeClock) -> None:
    exam = exam_of(online(rehearsal_allowed=True, rehearsal_count=1))
    a = begin_rehearsal(attempt(exam), exam, clock())
    a = stop_take(start_take(a, exam, REHEARSAL, "r1", clock()), "r1", clock.advance(10))
    a = enter_formal(a, exam, clock())
    with pytest.raises(Conflict, match="rehearsal cannot be submitted"):
        choose_take(a, exam, "r1", clock())


def test_another_attempts_take_cannot_be_chosen(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    other = enter_formal(attempt(exam, attempt_id="a2"), exam, clock())
    other = stop_take(start_take(other, exam, FORMAL, "theirs", clock()), "theirs", clock())
    with pytest.raises(NotFound):
        choose_take(a, exam, "theirs", clock())


def test_a_take_still_recording_cannot_be_chosen(clock: FakeClock) -> None:
    exam, a = recorded(clock, formal_count=1)
    a = start_take(a, exam, FORMAL, "f1", clock())
    with pytest.raises(Conflict, match="still recording"):
        choose_take(a, exam, "f1", clock())


def test_cannot_choose_after_submitting(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", "f2")
    a = submit(choose_take(a, exam, "f1", clock()), exam, clock())
    with pytest.raises(Conflict, match="submitted"):
        choose_take(a, exam, "f2", clock())


def test_cannot_choose_after_the_deadline(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", submission_limit_s=600)
    with pytest.raises(DeadlinePassed):
        choose_take(a, exam, "f1", clock.advance(600))


# -- submitting ---------------------------------------------------------------------------


def test_submit_the_chosen_formal_take(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    a = submit(choose_take(a, exam, "f1", clock()), exam, clock())
    assert (a.submitted_at, a.submitted_by, a.chosen_take_id) == (clock(), "candidate", "f1")


def test_submit_needs_a_chosen_take(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    with pytest.raises(Conflict, match="choose one of your recordings"):
        submit(a, exam, clock())


def test_submit_needs_the_formal_answer(clock: FakeClock) -> None:
    exam = exam_of(online())
    with pytest.raises(Conflict, match="enter the formal answer"):
        submit(attempt(exam), exam, clock())


def test_a_rehearsal_slipped_in_as_the_choice_is_still_refused(clock: FakeClock) -> None:
    exam = exam_of(online(rehearsal_allowed=True, rehearsal_count=1))
    a = begin_rehearsal(attempt(exam), exam, clock())
    a = stop_take(start_take(a, exam, REHEARSAL, "r1", clock()), "r1", clock.advance(10))
    a = replace(enter_formal(a, exam, clock()), chosen_take_id="r1")  # a forged record
    with pytest.raises(Conflict, match="rehearsal cannot be submitted"):
        submit(a, exam, clock())


def test_another_attempts_take_slipped_in_as_the_choice_is_refused(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    with pytest.raises(NotFound):
        submit(replace(a, chosen_take_id="theirs"), exam, clock())


def test_submit_late_is_refused(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", submission_limit_s=600)
    a = choose_take(a, exam, "f1", clock())
    assert a.submission_deadline is not None
    assert submit(a, exam, a.submission_deadline - 0.001).submitted
    with pytest.raises(DeadlinePassed, match="submission time") as err:
        submit(a, exam, a.submission_deadline)
    assert err.value.details == {"deadline": a.submission_deadline}
    assert err.value.code == "deadline_passed"


def test_without_a_limit_submit_before_the_exam_ends(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    a = choose_take(a, exam, "f1", clock())
    assert submit(a, exam, CLOSES - 1).submitted
    with pytest.raises(DeadlinePassed):
        submit(a, exam, CLOSES)


def test_submit_without_required_materials_is_refused(clock: FakeClock) -> None:
    intro = {"key": "intro", "label": "Introduction", "kind": "text", "required": True}
    exam, a = recorded(clock, "f1", materials=[intro | {"max_chars": 100}])
    a = choose_take(a, exam, "f1", clock())
    with pytest.raises(Conflict, match="Introduction") as err:
        submit(a, exam, clock())
    assert err.value.details == {"missing": ["intro"]}
    a = attach_text(a, exam, "intro", "My name is…", clock())
    assert submit(a, exam, clock()).submitted


def test_submit_while_recording_is_refused(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", formal_count=2)
    a = start_take(choose_take(a, exam, "f1", clock()), exam, FORMAL, "f2", clock())
    with pytest.raises(Conflict, match="stop it before submitting"):
        submit(a, exam, clock())


def test_submit_once(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    a = submit(choose_take(a, exam, "f1", clock()), exam, clock())
    with pytest.raises(Conflict, match="has been submitted"):
        submit(a, exam, clock.advance(1))


def test_a_failed_take_cannot_be_submitted(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    a = replace(mark_take_failed(a, "f1"), chosen_take_id="f1")
    with pytest.raises(Conflict, match="nothing of this take"):
        submit(a, exam, clock())


# -- auto-submit --------------------------------------------------------------------------


def test_auto_submit_when_the_single_take_ends(clock: FakeClock) -> None:
    exam = exam_of(online(auto_submit=True))
    a = enter_formal(attempt(exam), exam, clock())
    a = start_take(a, exam, FORMAL, "f1", clock())
    assert auto_submit_take(a, exam) is None  # still recording
    a = stop_take(a, "f1", clock.advance(30))
    take = auto_submit_take(a, exam)
    assert take is not None and take.id == "f1"
    a = auto_submit(a, exam, clock())
    assert (a.submitted_by, a.chosen_take_id) == ("auto", "f1")
    assert auto_submit_take(a, exam) is None


def test_no_auto_submit_without_the_setting(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1")
    assert auto_submit_take(a, exam) is None
    with pytest.raises(Conflict, match="not waiting"):
        auto_submit(a, exam, clock())


def test_no_auto_submit_of_a_failed_take(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", auto_submit=True)
    assert auto_submit_take(mark_take_failed(a, "f1"), exam) is None


def test_an_interrupted_single_take_is_still_submitted_automatically(clock: FakeClock) -> None:
    exam = exam_of(online(auto_submit=True))
    a = enter_formal(attempt(exam), exam, clock())
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(9), "interrupted")
    assert auto_submit(a, exam, clock()).submitted


def test_several_recordings_offer_submit_or_record_again(clock: FakeClock) -> None:
    exam, a = recorded(clock, "f1", formal_count=3)
    assert auto_submit_take(a, exam) is None
    again = start_take(a, exam, FORMAL, "f2", clock())  # record again...
    assert again.recording_take is not None
    assert submit(choose_take(a, exam, "f1", clock()), exam, clock()).submitted  # ...or submit


# -- offline dispatch and the whole exam --------------------------------------------------


def test_submit_dispatches_offline_questions(clock: FakeClock) -> None:
    exam = exam_of(offline())
    a = open_question(attempt(exam, "q9"), exam, clock())
    a = add_file(a, exam, FileRef("v1", "video", "mp4", 100), clock())
    assert submit(a, exam, clock()).submitted


def test_exam_is_finished_when_every_question_is_submitted(clock: FakeClock) -> None:
    exam = exam_of(online("q1", 1), offline("q9", 9))
    a = enter_formal(attempt(exam, "q1"), exam, clock())
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(30))
    b = open_question(attempt(exam, "q9", "a2"), exam, clock())
    b = add_file(b, exam, FileRef("v1", "video", "mp4", 100), clock())
    assert not exam_finished(exam, [a, b])
    a = submit(choose_take(a, exam, "f1", clock()), exam, clock())
    assert not exam_finished(exam, [a, b])
    b = submit(b, exam, clock())
    assert exam_finished(exam, [a, b])
    assert not exam_finished(exam, [a])


def test_exam_finished_is_asked_per_candidate(clock: FakeClock) -> None:
    exam = exam_of(online())
    mine, theirs = attempt(exam), replace(attempt(exam, attempt_id="a2"), candidate_id="c2")
    with pytest.raises(InvalidInput):
        exam_finished(exam, [mine, theirs])


def test_an_exam_without_questions_is_never_finished() -> None:
    assert not exam_finished(exam_of(), [])

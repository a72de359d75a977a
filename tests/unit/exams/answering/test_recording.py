from __future__ import annotations

from typing import Any

import pytest

from exams.answering.recording import (
    begin_rehearsal,
    check_formal_playback,
    discardable_rehearsals,
    enter_formal,
    leave_rehearsal,
    mark_take_failed,
    rehearsal_playback,
    remaining,
    start_take,
    stop_take,
)
from exams.answering.submissions import choose_take, submit
from exams.catalog.attempts import Attempt, TakeKind
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict, DeadlinePassed, InvalidInput, NotFound, NotOpenYet
from tests.unit.exams.builders import CLOSES, OPENS, FakeClock, attempt, exam_of, offline, online

FORMAL, REHEARSAL = TakeKind.FORMAL, TakeKind.REHEARSAL


def setup(**settings: Any) -> tuple[Exam, Attempt]:
    exam = exam_of(online(**settings), offline())
    return exam, attempt(exam)


def entered(clock: FakeClock, **settings: Any) -> tuple[Exam, Attempt]:
    exam, a = setup(**settings)
    return exam, enter_formal(a, exam, clock())


def rehearse(
    a: Attempt, exam: Exam, clock: FakeClock, take_id: str, seconds: float = 10
) -> Attempt:
    a = begin_rehearsal(a, exam, clock())
    a = start_take(a, exam, REHEARSAL, take_id, clock())
    return stop_take(a, take_id, clock.advance(seconds))


# -- entering the formal answer ----------------------------------------------------------


def test_entering_the_formal_answer_starts_the_submission_clock(clock: FakeClock) -> None:
    _exam, a = entered(clock, submission_limit_s=2400)
    assert a.entered_at == clock()
    assert a.submission_deadline == clock() + 2400


def test_without_a_submission_limit_the_deadline_is_the_exam_end(clock: FakeClock) -> None:
    _exam, a = entered(clock)
    assert a.submission_deadline == CLOSES


def test_submission_deadline_never_passes_the_exam_end(clock: FakeClock) -> None:
    clock.set(CLOSES - 600)
    _exam, a = entered(clock, submission_limit_s=2400)
    assert a.submission_deadline == CLOSES


def test_the_formal_answer_is_entered_once(clock: FakeClock) -> None:
    exam, a = entered(clock, submission_limit_s=2400)
    clock.advance(100)
    with pytest.raises(Conflict, match="already entered"):
        enter_formal(a, exam, clock())


def test_cannot_enter_before_the_exam_opens_or_after_it_closes(clock: FakeClock) -> None:
    exam, a = setup()
    with pytest.raises(NotOpenYet):
        enter_formal(a, exam, OPENS - 1)
    with pytest.raises(DeadlinePassed):
        enter_formal(a, exam, CLOSES)


def test_offline_questions_have_no_recording(clock: FakeClock) -> None:
    exam = exam_of(online(), offline())
    with pytest.raises(InvalidInput, match="upload your prepared files"):
        enter_formal(attempt(exam, "q9"), exam, clock())


# -- reading and starting -----------------------------------------------------------------


def test_reading_limit_sets_when_recording_must_start(clock: FakeClock) -> None:
    _exam, a = entered(clock, reading_limit_s=180)
    assert a.reading is not None
    assert (a.reading.kind, a.reading.deadline) == (FORMAL, clock() + 180)


def test_unlimited_reading_waits_for_the_candidate(clock: FakeClock) -> None:
    exam, a = entered(clock)
    assert a.reading is not None and a.reading.deadline is None
    a = start_take(a, exam, FORMAL, "f1", clock.advance(3000))
    assert a.recording_take is not None and a.reading is None


def test_candidate_may_start_before_the_reading_time_runs_out(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=180)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(30))
    assert a.takes[0].started_by == "candidate"


def test_server_starts_only_once_the_reading_time_is_over(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=180)
    with pytest.raises(Conflict, match="reading time is not over"):
        start_take(a, exam, FORMAL, "f1", clock.advance(179), by_server=True)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(1), by_server=True)
    assert a.takes[0].started_by == "server"


def test_formal_take_needs_the_formal_answer_entered(clock: FakeClock) -> None:
    exam, a = setup()
    with pytest.raises(Conflict, match="enter the formal answer"):
        start_take(a, exam, FORMAL, "f1", clock())


def test_take_records_until_its_limit(clock: FakeClock) -> None:
    exam, a = entered(clock, recording_limit_s=180)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(5))
    assert a.takes[0].deadline == clock() + 180


def test_take_is_cut_at_the_submission_deadline(clock: FakeClock) -> None:
    exam, a = entered(clock, recording_limit_s=180, submission_limit_s=300)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(250))
    assert a.takes[0].deadline == a.submission_deadline


def test_cannot_start_while_another_take_records(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    a = start_take(a, exam, FORMAL, "f1", clock())
    with pytest.raises(Conflict, match="stop it first"):
        start_take(a, exam, FORMAL, "f2", clock.advance(1))


def test_take_ids_are_not_reused(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(5))
    with pytest.raises(Conflict, match="new id"):
        start_take(a, exam, FORMAL, "f1", clock())
    with pytest.raises(InvalidInput):
        start_take(a, exam, FORMAL, "", clock())


# -- counts -------------------------------------------------------------------------------


def test_one_formal_take_too_many(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    for take_id in ("f1", "f2"):
        a = start_take(a, exam, FORMAL, take_id, clock())
        a = stop_take(a, take_id, clock.advance(20))
    assert remaining(a, exam, FORMAL) == 0
    with pytest.raises(Conflict, match="all 2 formal recording"):
        start_take(a, exam, FORMAL, "f3", clock())


def test_interrupted_take_counts_and_remaining_recordings_decide(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    a = start_take(a, exam, FORMAL, "f1", clock())
    a = stop_take(a, "f1", clock.advance(20), "interrupted")
    assert a.takes[0].stop_reason == "interrupted"
    assert remaining(a, exam, FORMAL) == 1
    a = start_take(a, exam, FORMAL, "f2", clock.advance(30))  # record again
    assert a.recording_take is not None and a.recording_take.id == "f2"


def test_interrupted_single_recording_cannot_be_redone(clock: FakeClock) -> None:
    exam, a = entered(clock)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(5), "interrupted")
    with pytest.raises(Conflict, match="all 1 formal"):
        start_take(a, exam, FORMAL, "f2", clock())


# -- stopping -----------------------------------------------------------------------------


def test_stopped_take_cannot_be_continued(clock: FakeClock) -> None:
    exam, a = entered(clock)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(20))
    with pytest.raises(Conflict, match="cannot be continued"):
        stop_take(a, "f1", clock.advance(1))


def test_recording_past_the_limit_is_stopped_at_the_deadline(clock: FakeClock) -> None:
    exam, a = entered(clock, recording_limit_s=180)
    a = start_take(a, exam, FORMAL, "f1", clock())
    deadline = a.takes[0].deadline
    a = stop_take(a, "f1", clock.advance(500), "stopped")
    take = a.takes[0]
    assert (take.stopped_at, take.stop_reason) == (deadline, "time_limit")


def test_stop_by_hand_before_the_limit(clock: FakeClock) -> None:
    exam, a = entered(clock)
    a = start_take(a, exam, FORMAL, "f1", clock())
    a = stop_take(a, "f1", clock.advance(42))
    assert (a.takes[0].stopped_at, a.takes[0].stop_reason) == (clock(), "stopped")


def test_stopping_an_unknown_take(clock: FakeClock) -> None:
    _exam, a = entered(clock)
    with pytest.raises(NotFound):
        stop_take(a, "f-other", clock())


# -- time and state guards ---------------------------------------------------------------


def test_cannot_record_after_the_submission_deadline(clock: FakeClock) -> None:
    exam, a = entered(clock, submission_limit_s=600, formal_count=2)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(30))
    assert a.submission_deadline is not None
    with pytest.raises(DeadlinePassed, match="submission time"):
        start_take(a, exam, FORMAL, "f2", clock.set(a.submission_deadline))


def test_cannot_record_after_the_exam_closes(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    with pytest.raises(DeadlinePassed):
        start_take(a, exam, FORMAL, "f1", CLOSES)


def test_cannot_record_after_submitting(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(30))
    a = submit(choose_take(a, exam, "f1", clock()), exam, clock())
    with pytest.raises(Conflict, match="has been submitted"):
        start_take(a, exam, FORMAL, "f2", clock())


# -- second camera ------------------------------------------------------------------------


def test_formal_take_waits_for_the_second_camera(clock: FakeClock) -> None:
    exam, a = entered(clock, second_camera_required=True)
    with pytest.raises(Conflict, match="second camera"):
        start_take(a, exam, FORMAL, "f1", clock())
    a = start_take(a, exam, FORMAL, "f1", clock(), secondary_ready=True)
    assert a.takes[0].secondary_ready


def test_second_camera_is_not_needed_without_the_setting(clock: FakeClock) -> None:
    exam, a = entered(clock)
    assert start_take(a, exam, FORMAL, "f1", clock()).recording_take is not None


def test_reading_time_running_out_starts_recording_without_the_second_camera(
    clock: FakeClock,
) -> None:
    exam, a = entered(clock, second_camera_required=True, reading_limit_s=60)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(60), by_server=True)
    assert not a.takes[0].secondary_ready and a.takes[0].started_by == "server"


def test_rehearsal_waits_for_the_second_camera_too(clock: FakeClock) -> None:
    """The manual: 排练 with 需二机位 is the same flow — the phone taps Ready (就绪) first."""
    exam, a = setup(second_camera_required=True, rehearsal_allowed=True, rehearsal_count=1)
    a = begin_rehearsal(a, exam, clock())
    with pytest.raises(Conflict, match="二机位"):
        start_take(a, exam, REHEARSAL, "r1", clock())
    a = start_take(a, exam, REHEARSAL, "r1", clock(), secondary_ready=True)
    assert a.recording_take is not None and a.takes[0].secondary_ready


# -- rehearsals ---------------------------------------------------------------------------


def test_rehearsal_follows_the_formal_flow(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1, reading_limit_s=60)
    a = begin_rehearsal(a, exam, clock())
    assert a.reading is not None and a.reading.kind is REHEARSAL
    assert a.reading.deadline == clock() + 60
    assert a.entered_at is None and a.submission_deadline is None  # no clock for rehearsals
    a = start_take(a, exam, REHEARSAL, "r1", clock.advance(60), by_server=True)
    assert a.takes[0].kind is REHEARSAL


def test_rehearsals_only_when_allowed(clock: FakeClock) -> None:
    exam, a = setup()
    with pytest.raises(Conflict, match="does not allow rehearsals"):
        begin_rehearsal(a, exam, clock())


def test_one_rehearsal_too_many(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=2)
    a = rehearse(a, exam, clock, "r1")
    a = rehearse(a, exam, clock, "r2")
    with pytest.raises(Conflict, match="all 2 rehearsal"):
        begin_rehearsal(a, exam, clock())


def test_rehearsal_recording_needs_rehearse_tapped_first(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=2)
    with pytest.raises(Conflict, match="Rehearse"):
        start_take(a, exam, REHEARSAL, "r1", clock())


def test_no_rehearsal_after_entering_the_formal_answer(clock: FakeClock) -> None:
    exam, a = entered(clock, rehearsal_allowed=True, rehearsal_count=2)
    with pytest.raises(Conflict, match="before the formal answer"):
        begin_rehearsal(a, exam, clock())
    with pytest.raises(Conflict, match="Rehearse"):
        start_take(a, exam, REHEARSAL, "r1", clock())


def test_tapping_rehearse_again_keeps_the_countdown(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1, reading_limit_s=60)
    a = begin_rehearsal(a, exam, clock())
    assert begin_rehearsal(a, exam, clock.advance(30)) == a


def test_rehearsal_is_cut_at_the_exam_end(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1)
    clock.set(CLOSES - 60)
    a = start_take(begin_rehearsal(a, exam, clock()), exam, REHEARSAL, "r1", clock())
    assert a.takes[0].deadline == CLOSES


def test_no_rehearsal_before_the_exam_opens(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1)
    with pytest.raises(NotOpenYet):
        begin_rehearsal(a, exam, OPENS - 10)


def test_entering_the_formal_answer_ends_a_pending_rehearsal_unused(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1)
    a = enter_formal(begin_rehearsal(a, exam, clock()), exam, clock())
    assert a.reading is not None and a.reading.kind is FORMAL
    assert remaining(a, exam, REHEARSAL) == 1


def test_cannot_enter_the_formal_answer_while_a_rehearsal_records(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1)
    a = start_take(begin_rehearsal(a, exam, clock()), exam, REHEARSAL, "r1", clock())
    with pytest.raises(Conflict, match="stop it first"):
        enter_formal(a, exam, clock())


# -- playback -----------------------------------------------------------------------------


def test_rehearsal_plays_back_exactly_once(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=2)
    a = rehearse(a, exam, clock, "r1")
    assert discardable_rehearsals(a) == ()
    a = rehearsal_playback(a, "r1")
    with pytest.raises(Conflict, match="once"):
        rehearsal_playback(a, "r1")
    assert discardable_rehearsals(a) == ("r1",)


def test_rehearsal_playback_is_gone_once_the_candidate_moves_on(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=2)
    a = rehearse(a, exam, clock, "r1")
    for moved_on in (
        leave_rehearsal(a),
        begin_rehearsal(a, exam, clock()),
        enter_formal(a, exam, clock()),
    ):
        with pytest.raises(Conflict, match="gone"):
            rehearsal_playback(moved_on, "r1")
        assert discardable_rehearsals(moved_on) == ("r1",)


def test_rehearsal_playback_waits_for_the_end_of_recording(clock: FakeClock) -> None:
    exam, a = setup(rehearsal_allowed=True, rehearsal_count=1)
    a = start_take(begin_rehearsal(a, exam, clock()), exam, REHEARSAL, "r1", clock())
    with pytest.raises(Conflict, match="still recording"):
        rehearsal_playback(a, "r1")


def test_formal_take_has_no_rehearsal_playback(clock: FakeClock) -> None:
    exam, a = entered(clock)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(5))
    with pytest.raises(Conflict, match="formal recording"):
        rehearsal_playback(a, "f1")


def test_formal_playback_only_when_the_question_allows_it(clock: FakeClock) -> None:
    for allowed in (True, False):
        exam, a = entered(clock, formal_playback_allowed=allowed)
        a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(5))
        if allowed:
            assert check_formal_playback(a, exam, "f1").id == "f1"
        else:
            with pytest.raises(Conflict, match="does not allow playing back"):
                check_formal_playback(a, exam, "f1")


def test_formal_playback_of_a_rehearsal_or_a_running_take(clock: FakeClock) -> None:
    exam, a = setup(formal_playback_allowed=True, rehearsal_allowed=True, rehearsal_count=1)
    a = rehearse(a, exam, clock, "r1")
    with pytest.raises(Conflict, match="rehearsals are played back once"):
        check_formal_playback(a, exam, "r1")
    a = start_take(enter_formal(a, exam, clock()), exam, FORMAL, "f1", clock())
    with pytest.raises(Conflict, match="still recording"):
        check_formal_playback(a, exam, "f1")


# -- failed media -------------------------------------------------------------------------


def test_failed_take_loses_its_choice(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(5))
    a = mark_take_failed(choose_take(a, exam, "f1", clock()), "f1")
    assert a.chosen_take_id is None and a.takes[0].media_failed
    with pytest.raises(Conflict, match="nothing of this take was stored"):
        choose_take(a, exam, "f1", clock())


def test_a_running_take_cannot_be_marked_failed(clock: FakeClock) -> None:
    exam, a = entered(clock)
    a = start_take(a, exam, FORMAL, "f1", clock())
    with pytest.raises(Conflict):
        mark_take_failed(a, "f1")

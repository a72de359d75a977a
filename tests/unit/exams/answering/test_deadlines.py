from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from exams.answering.deadlines import (
    Action,
    AutoSubmit,
    CloseAttempt,
    StartRecording,
    StopRecording,
    close_expired,
    due_actions,
    due_on_restart,
    next_deadline,
)
from exams.answering.offline import add_file, open_question
from exams.answering.recording import begin_rehearsal, enter_formal, start_take, stop_take
from exams.answering.submissions import auto_submit, choose_take, submit
from exams.catalog.attempts import Attempt, FileRef, TakeKind
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict, DeadlinePassed
from tests.unit.exams.builders import CLOSES, FakeClock, attempt, exam_of, offline, online

FORMAL, REHEARSAL = TakeKind.FORMAL, TakeKind.REHEARSAL


def entered(clock: FakeClock, **settings: Any) -> tuple[Exam, Attempt]:
    exam = exam_of(online(**settings))
    return exam, enter_formal(attempt(exam), exam, clock())


def restarted(a: Attempt) -> Attempt:
    """What a new process loads: the attempt as storage saved it."""
    return Attempt.from_dict(json.loads(json.dumps(a.to_dict())))


def apply(a: Attempt, exam: Exam, action: Action, now: float, ids: itertools.count[int]) -> Attempt:
    """The service's side of an action, without the media."""
    if isinstance(action, StopRecording):
        return stop_take(a, action.take_id, now, action.reason)
    if isinstance(action, AutoSubmit):
        return auto_submit(a, exam, now)
    if isinstance(action, StartRecording):
        return start_take(a, exam, action.kind, f"t{next(ids)}", now, by_server=True)
    return close_expired(a, exam, now)


def settle(a: Attempt, exam: Exam, now: float) -> tuple[Attempt, list[Action]]:
    """Apply what is due, one action at a time, asking again after each (the service loop)."""
    ids = itertools.count(100)
    applied: list[Action] = []
    for _ in range(10):
        due = due_actions(a, exam, now)
        if not due:
            return a, applied
        a = apply(a, exam, due[0], now, ids)
        applied.append(due[0])
    raise AssertionError(f"still due after 10 steps: {due_actions(a, exam, now)}")


# -- reading ------------------------------------------------------------------------------


def test_recording_starts_by_itself_when_the_reading_time_runs_out(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=180, submission_limit_s=1200)
    start = clock() + 180
    assert next_deadline(a, exam) == start
    assert due_actions(a, exam, start - 0.001) == []
    assert due_actions(a, exam, start) == [StartRecording("a1", FORMAL, start)]
    a, applied = settle(a, exam, clock.set(start))
    assert applied == [StartRecording("a1", FORMAL, start)]
    assert a.recording_take is not None and a.recording_take.started_by == "server"


def test_unlimited_reading_schedules_no_start(clock: FakeClock) -> None:
    exam, a = entered(clock)
    assert [type(x) for x in due_actions(a, exam, CLOSES)] == [CloseAttempt]
    assert next_deadline(a, exam) == CLOSES


def test_rehearsal_reading_also_starts_recording(clock: FakeClock) -> None:
    exam = exam_of(online(reading_limit_s=60, rehearsal_allowed=True, rehearsal_count=1))
    a = begin_rehearsal(attempt(exam), exam, clock())
    assert next_deadline(a, exam) == clock() + 60
    a, _ = settle(a, exam, clock.advance(60))
    assert a.takes[0].kind is REHEARSAL and a.takes[0].started_by == "server"


def test_no_start_is_scheduled_when_time_runs_out_during_reading(clock: FakeClock) -> None:
    clock.set(CLOSES - 100)
    exam, a = entered(clock, reading_limit_s=180)  # the exam ends before reading does
    assert due_actions(a, exam, CLOSES + 100) == [CloseAttempt("a1", CLOSES)]


def test_starting_by_hand_removes_the_scheduled_start(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=180, recording_limit_s=60)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(10))
    assert next_deadline(a, exam) == clock() + 60
    assert [type(x) for x in due_actions(a, exam, clock() + 60)] == [StopRecording]


# -- recording ----------------------------------------------------------------------------


def test_recording_stops_at_its_limit(clock: FakeClock) -> None:
    exam, a = entered(clock, recording_limit_s=180)
    a = start_take(a, exam, FORMAL, "f1", clock())
    end = clock() + 180
    assert next_deadline(a, exam) == end
    assert due_actions(a, exam, end) == [StopRecording("a1", "f1", end, "time_limit")]
    a, _ = settle(a, exam, clock.set(end))
    assert (a.takes[0].stopped_at, a.takes[0].stop_reason) == (end, "time_limit")
    with pytest.raises(Conflict, match="cannot be continued"):
        stop_take(a, "f1", clock())


def test_auto_submit_when_the_take_ends(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=60, recording_limit_s=120, auto_submit=True)
    a, applied = settle(a, exam, clock.advance(60))
    assert [type(x) for x in applied] == [StartRecording]
    a, applied = settle(a, exam, clock.advance(120))
    assert [type(x) for x in applied] == [StopRecording, AutoSubmit]
    assert a.submitted and a.submitted_by == "auto"
    assert next_deadline(a, exam) is None


def test_auto_submit_after_a_stop_by_hand(clock: FakeClock) -> None:
    exam, a = entered(clock, auto_submit=True)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(20))
    assert due_actions(a, exam, clock()) == [AutoSubmit("a1", "f1", clock())]


def test_auto_submit_at_the_very_submission_deadline(clock: FakeClock) -> None:
    exam, a = entered(clock, auto_submit=True, submission_limit_s=200)
    a = start_take(a, exam, FORMAL, "f1", clock.advance(100))  # cut to 100 s by the deadline
    assert a.submission_deadline is not None
    a, applied = settle(a, exam, clock.set(a.submission_deadline))
    assert [type(x) for x in applied] == [StopRecording, AutoSubmit]
    assert a.submitted and a.closed_at is None


# -- closing ------------------------------------------------------------------------------


def test_submission_deadline_closes_the_attempt(clock: FakeClock) -> None:
    exam, a = entered(clock, submission_limit_s=600)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(30))
    a, applied = settle(a, exam, clock.advance(600))
    assert applied == [CloseAttempt("a1", a.submission_deadline or 0)]
    assert a.closed_at == a.submission_deadline
    assert next_deadline(a, exam) is None
    with pytest.raises(DeadlinePassed):
        choose_take(a, exam, "f1", clock())


def test_close_is_not_early_and_is_idempotent(clock: FakeClock) -> None:
    exam, a = entered(clock, submission_limit_s=600)
    with pytest.raises(Conflict, match="not over"):
        close_expired(a, exam, clock.advance(599))
    closed = close_expired(a, exam, clock.advance(1))
    assert close_expired(closed, exam, clock()) is closed


def test_a_submitted_attempt_has_nothing_scheduled(clock: FakeClock) -> None:
    exam, a = entered(clock, submission_limit_s=600)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(30))
    a = submit(choose_take(a, exam, "f1", clock()), exam, clock())
    assert next_deadline(a, exam) is None
    assert close_expired(a, exam, clock.advance(600)) is a


def test_offline_question_closes_at_its_deadline(clock: FakeClock) -> None:
    exam = exam_of(offline(submission_limit_s=1800))
    a = open_question(attempt(exam, "q9"), exam, clock())
    a = add_file(a, exam, FileRef("v1", "video", "mp4", 10), clock())
    assert next_deadline(a, exam) == clock() + 1800
    a, applied = settle(a, exam, clock.advance(1800))
    assert [type(x) for x in applied] == [CloseAttempt] and a.closed_at is not None


def test_untouched_attempt_has_no_timer(clock: FakeClock) -> None:
    exam = exam_of(online(reading_limit_s=60), offline())
    assert next_deadline(attempt(exam), exam) is None
    assert next_deadline(attempt(exam, "q9"), exam) is None


# -- restart ------------------------------------------------------------------------------


def test_restart_in_the_middle_of_reading(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=180, recording_limit_s=120, submission_limit_s=900)
    reading_end = clock() + 180
    clock.advance(100)  # the server stops here and comes back 30 s later
    a = restarted(a)
    assert due_on_restart([a], {"e1": exam}, clock.advance(30)) == []
    assert next_deadline(a, exam) == reading_end
    a, applied = settle(a, exam, clock.set(reading_end))
    assert applied == [StartRecording("a1", FORMAL, reading_end)]


def test_reading_that_ran_out_during_an_outage_starts_recording_now(clock: FakeClock) -> None:
    exam, a = entered(clock, reading_limit_s=180, recording_limit_s=120, submission_limit_s=900)
    reading_end = clock() + 180
    a = restarted(a)
    now = clock.advance(300)  # down from 100 s to 300 s
    assert due_on_restart([a], {"e1": exam}, now) == [StartRecording("a1", FORMAL, reading_end)]
    a, _ = settle(a, exam, now)
    take = a.takes[0]
    # the candidate gets the whole recording limit from when recording really starts
    assert (take.started_at, take.deadline) == (now, now + 120)


def test_restart_in_the_middle_of_recording(clock: FakeClock) -> None:
    exam, a = entered(clock, recording_limit_s=180)
    a = start_take(a, exam, FORMAL, "f1", clock())
    end = clock() + 180
    a = restarted(a)
    assert due_on_restart([a], {"e1": exam}, clock.advance(60)) == []
    assert next_deadline(a, exam) == end  # the timer is rebuilt from the saved deadline


def test_recording_limit_passed_during_an_outage_stops_the_take_at_its_deadline(
    clock: FakeClock,
) -> None:
    exam, a = entered(clock, recording_limit_s=180, auto_submit=True)
    a = start_take(a, exam, FORMAL, "f1", clock())
    end = clock() + 180
    a = restarted(a)
    now = clock.advance(1000)
    assert due_on_restart([a], {"e1": exam}, now) == [StopRecording("a1", "f1", end, "time_limit")]
    a, applied = settle(a, exam, now)
    assert [type(x) for x in applied] == [StopRecording, AutoSubmit]
    assert (a.takes[0].stopped_at, a.takes[0].stop_reason) == (end, "time_limit")
    assert a.submitted_by == "auto"


def test_server_restart_stop_counts_as_an_interrupted_take(clock: FakeClock) -> None:
    exam, a = entered(clock, formal_count=2)
    a = start_take(a, exam, FORMAL, "f1", clock())
    a = stop_take(restarted(a), "f1", clock.advance(40), "server_restart")
    assert a.takes[0].stop_reason == "server_restart"
    assert start_take(a, exam, FORMAL, "f2", clock()).recording_take is not None  # record again


def test_deadline_passed_during_an_outage_closes_after_an_auto_submit(clock: FakeClock) -> None:
    exam, a = entered(clock, submission_limit_s=600, auto_submit=True)
    a = stop_take(start_take(a, exam, FORMAL, "f1", clock()), "f1", clock.advance(30))
    stopped = clock()
    a = restarted(a)  # the server died between the stop and the auto-submit
    now = clock.advance(5000)
    due = due_on_restart([a], {"e1": exam}, now)
    assert due == [AutoSubmit("a1", "f1", stopped), CloseAttempt("a1", a.submission_deadline or 0)]
    a, applied = settle(a, exam, now)
    assert [type(x) for x in applied] == [AutoSubmit] and a.submitted


def test_restart_collects_what_is_due_across_attempts(clock: FakeClock) -> None:
    exam = exam_of(
        online(reading_limit_s=60, submission_limit_s=600), offline(submission_limit_s=900)
    )
    a = enter_formal(attempt(exam, "q1", "a1"), exam, clock())
    b = open_question(attempt(exam, "q9", "a2"), exam, clock.advance(10))
    due = due_on_restart([restarted(b), restarted(a)], {"e1": exam}, clock.advance(10_000))
    assert [(x.attempt_id, type(x)) for x in due] == [
        ("a1", StartRecording),
        ("a1", CloseAttempt),
        ("a2", CloseAttempt),
    ]

"""What the server must do, and when: the timers of an attempt, from its own data.

Timers belong to the server (DESIGN.md). An attempt keeps every deadline as
a timestamp, so the timers are not state of their own: :func:`scheduled`
derives them from the attempt each time. The service layer keeps one timer
per attempt at :func:`next_deadline`; when it fires (and after every step
the candidate takes) it asks :func:`due_actions`, applies the first action,
saves the attempt and asks again until nothing is due, then sets the timer
anew. Applying an action always removes it from the schedule, so this
loop ends.

The actions and the step that applies each one:

- :class:`StopRecording` (a take reached its limit) → start the media stop
  and :func:`exams.answering.recording.stop_take` with ``reason``;
- :class:`AutoSubmit` (an auto-submit question's take ended) →
  :func:`exams.answering.submissions.auto_submit`;
- :class:`StartRecording` (a reading time ran out) → start the recorder and
  :func:`exams.answering.recording.start_take` with ``by_server=True``;
- :class:`CloseAttempt` (the submission time ran out) → :func:`close_expired`.

Restart (:func:`due_on_restart`) is the same question asked of every loaded
attempt, with these decisions:

- reading ran out while the server was down: recording starts now, and the
  take gets its whole recording limit from now (cut at the submission
  deadline): the outage was the server's, not the candidate's;
- a recording limit passed while down: the take is stopped with reason
  ``time_limit``, as of its deadline (:func:`~exams.answering.recording.stop_take`
  never records a stop later than the deadline);
- a take still within its limit: nothing is due, its timer is rebuilt. If
  the media cannot continue it (its peer connection died with the process),
  the service stops it with reason ``server_restart``; that counts as an
  interrupted take (M5: record again if recordings remain);
- an auto-submit take that ended before the outage is submitted now;
- a submission deadline that passed while down closes the attempt, after
  the steps above (an auto-submit whose take ended in time still happens).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from exams.answering.submissions import auto_submit_take
from exams.catalog.attempts import Attempt, TakeKind, question_of
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import QuestionMode
from exams.shared.errors import Conflict


@dataclass(frozen=True)
class StopRecording:
    attempt_id: str
    take_id: str
    due_at: float
    reason: str = "time_limit"


@dataclass(frozen=True)
class AutoSubmit:
    attempt_id: str
    take_id: str
    due_at: float


@dataclass(frozen=True)
class StartRecording:
    attempt_id: str
    kind: TakeKind
    due_at: float


@dataclass(frozen=True)
class CloseAttempt:
    attempt_id: str
    due_at: float


Action = StopRecording | AutoSubmit | StartRecording | CloseAttempt

# Same instant: stop before submitting, submit before closing.
_ORDER: dict[type, int] = {StopRecording: 0, AutoSubmit: 1, StartRecording: 2, CloseAttempt: 3}


def scheduled(a: Attempt, exam: Exam) -> list[Action]:
    """Every action pending on the attempt, due or not, soonest first."""
    out: list[Action] = []
    recording = a.recording_take
    if recording is not None:
        out.append(StopRecording(a.id, recording.id, recording.deadline))
    take = auto_submit_take(a, exam)
    if take is not None:
        assert take.stopped_at is not None
        out.append(AutoSubmit(a.id, take.id, take.stopped_at))
    live = not a.submitted and a.closed_at is None
    reading = a.reading
    if live and reading is not None and reading.deadline is not None:
        if _can_start_at(a, exam, reading.kind, reading.deadline):
            out.append(StartRecording(a.id, reading.kind, reading.deadline))
    if live and a.submission_deadline is not None:
        out.append(CloseAttempt(a.id, a.submission_deadline))
    return sorted(out, key=lambda x: (x.due_at, _ORDER[type(x)]))


def due_actions(a: Attempt, exam: Exam, now: float) -> list[Action]:
    """The actions due at ``now`` (overdue ones too), in the order to apply them."""
    return [x for x in scheduled(a, exam) if x.due_at <= now]


def next_deadline(a: Attempt, exam: Exam) -> float | None:
    """When the server must next act on this attempt; ``None``: only the candidate can."""
    pending = scheduled(a, exam)
    return pending[0].due_at if pending else None


def close_expired(a: Attempt, exam: Exam, now: float) -> Attempt:
    """The submission time ran out unsubmitted: close the attempt as of its deadline.
    A submitted or closed attempt is returned as it is."""
    question_of(a, exam)
    if a.submitted or a.closed_at is not None:
        return a
    deadline = a.submission_deadline
    if deadline is None or now < deadline:
        raise Conflict("the submission time of this question is not over")
    if a.recording_take is not None:
        raise Conflict("a take is still recording; stop it before closing the attempt")
    return replace(a, closed_at=deadline, reading=None)


def due_on_restart(
    attempts: Iterable[Attempt], exams: Mapping[str, Exam], now: float
) -> list[Action]:
    """At start-up: what is due now across the loaded attempts, soonest first.
    Apply them as :func:`due_actions` says, then set each attempt's timer."""
    out: list[Action] = []
    for a in attempts:
        out.extend(due_actions(a, exams[a.exam_id], now))
    return sorted(out, key=lambda x: (x.due_at, _ORDER[type(x)]))


def _can_start_at(a: Attempt, exam: Exam, kind: TakeKind, when: float) -> bool:
    """Whether the server could start a take of ``kind`` when the reading runs out;
    if not (the exam or the submission time is over by then), nothing is scheduled."""
    question = question_of(a, exam)
    if question.mode is not QuestionMode.ONLINE or when >= exam.closes_at:
        return False
    s = question.online
    if kind is TakeKind.REHEARSAL:
        return a.used(kind) < s.rehearsal_count
    return (
        a.submission_deadline is not None
        and when < a.submission_deadline
        and a.used(kind) < a.formal_allowed(s.formal_count)
    )

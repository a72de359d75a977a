"""What a proctor's actions do to an attempt, as plain steps (``step(a, now) -> a``).

:func:`give_time` moves the deadlines running on the candidate's open question
later: the submission deadline (the formal answer's clock) and a reading
deadline. A take that is recording keeps its own length limit (a rule of the
question, kept by the media layer). Time is never given past the exam's close:
nothing can be recorded or submitted after it, whatever an attempt says.

:func:`end_now` closes the open question at once, with the proctor's reason: a
take recording is stopped as the deadline stops one (its recording is kept),
and the attempt is settled like one whose time ran out (``closed_at``), so no
timer acts on it again. The media stop follows outside the attempt's lock
(:meth:`exams.answering.attempt_runner.AttemptRunner.stop_media`).

Both run inside :meth:`~exams.answering.attempt_runner.AttemptRunner.run`, which
saves the attempt and sets its timer again from the moved deadlines.
"""

from __future__ import annotations

from dataclasses import replace

from exams.answering.recording import stop_take
from exams.catalog.attempts import Attempt, phase
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict

OPEN_PHASES = ("reading", "recording", "answering")
ENDED_BY_PROCTOR = "ended_by_proctor"  # a take's stop reason when a proctor ended the answer
MAX_EXTRA_S = 120 * 60.0  # the most time all extensions of one answer may add together


def require_open(a: Attempt, now: float) -> None:
    if phase(a, now) not in OPEN_PHASES:
        raise Conflict(
            "the candidate's question is not open any more (submitted or over); "
            "reload the wall to see where they are"
        )


def give_time(a: Attempt, exam: Exam, seconds: float, now: float) -> Attempt:
    """``a`` with its running deadlines ``seconds`` later (cut at the exam's close)."""
    require_open(a, now)
    if a.extra_s + seconds > MAX_EXTRA_S:
        raise Conflict(
            f"this answer has {round(a.extra_s / 60)} extra minutes already; at most "
            f"{round(MAX_EXTRA_S / 60)} may be given in all"
        )
    deadline = a.submission_deadline
    reading = a.reading
    given = 0.0  # the most any deadline moved (less than asked when cut at the exam's close)
    if deadline is not None:
        later = min(deadline + seconds, exam.closes_at)
        given = max(given, later - deadline)
        deadline = later
    if reading is not None and reading.deadline is not None:
        cut = exam.closes_at if deadline is None else deadline
        later = min(reading.deadline + seconds, cut)
        if later > reading.deadline:
            given = max(given, later - reading.deadline)
            reading = replace(reading, deadline=later)
    if given <= 0:
        if a.submission_deadline is None and (reading is None or reading.deadline is None):
            raise Conflict("no time limit runs on the candidate's question now; nothing to extend")
        raise Conflict("the exam closes then; time cannot be given past the exam's close")
    return replace(
        a,
        submission_deadline=deadline,
        reading=reading,
        extra_s=round(a.extra_s + given, 3),
    )


def end_now(a: Attempt, now: float, by: str, reason: str) -> Attempt:
    """``a`` closed now by proctor ``by`` with ``reason``; a take recording is stopped."""
    require_open(a, now)
    take = a.recording_take
    if take is not None:
        a = stop_take(a, take.id, now, ENDED_BY_PROCTOR)
    return replace(a, closed_at=now, reading=None, ended_by=by, end_reason=reason)

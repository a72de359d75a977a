"""Where an alert lands: the candidate's current answer, the take recording at the onset
and the onset's position in it; or, between questions, the exam of their latest answer.

The rules are those of :mod:`exams.proctoring.incidents` ("Where the candidate is").
"""

from __future__ import annotations

from dataclasses import dataclass

from exams.catalog.attempts import Attempt, AttemptTake, phase
from exams.catalog.exam_ports import CandidateAttempts, ExamSource
from exams.catalog.exam_rules import Exam

LIVE_PHASES = ("reading", "recording", "answering")


@dataclass(frozen=True)
class Place:
    exam: Exam
    attempt: Attempt | None
    take: AttemptTake | None
    offset: float | None  # the onset on the take's clock


async def place_of(
    attempts: CandidateAttempts, exams: ExamSource, candidate_id: str, onset: float, now: float
) -> Place | None:
    """The candidate's answer in a live phase (the one recording, else the latest to move);
    else the open exam of their latest answer, with no answer; else None."""
    found = await attempts.of_candidate(candidate_id)
    live = [a for a in found if phase(a, now) in LIVE_PHASES]
    if live:
        attempt = max(live, key=lambda a: (a.recording_take is not None, _last(a)))
        exam = await exams.get(attempt.exam_id)
        if exam is None:
            return None
        take, offset = _position(attempt, onset, now)
        return Place(exam, attempt, take, offset)
    for a in sorted(found, key=_last, reverse=True):
        exam = await exams.get(a.exam_id)
        if exam is not None and exam.is_open(now):
            return Place(exam, None, None, None)
    return None


def _last(a: Attempt) -> float:
    """When the attempt last moved (for choosing the current one)."""
    times = [a.opened_at, a.entered_at, a.submitted_at, a.closed_at]
    if a.reading is not None:
        times.append(a.reading.began_at)
    for t in a.takes:
        times += [t.started_at, t.stopped_at]
    return max((t for t in times if t is not None), default=0.0)


def _position(a: Attempt, onset: float, now: float) -> tuple[AttemptTake | None, float | None]:
    """The take recording at the onset and the onset's offset into it; a take begun after
    the onset but recording now: its start (offset 0)."""
    for t in a.takes:
        if t.started_at <= onset and (t.stopped_at is None or onset < t.stopped_at):
            return t, round(onset - t.started_at, 3)
    take = a.recording_take
    if take is not None and take.started_at <= now:
        return take, 0.0
    return None, None

"""Choosing a take and submitting an answer (MISSION M3.4, M3.7, M3.8).

- Only a formal take of this attempt can be chosen (选择已录视频 → 已选) and
  submitted; a rehearsal never can. It may be chosen and submitted as soon as
  it stops, before its files are finalised or uploaded (M3.7). Choosing
  again replaces the choice until the answer is submitted.
- Submitting needs a chosen take, every required material, no recording
  running, and ``now`` before the submission deadline (after it nothing can
  be submitted; without a submission limit, the deadline is the exam close).
- A single-recording question with auto-submit submits itself when its take
  ends: :func:`auto_submit` is the server's step for the due
  :class:`~exams.answering.deadlines.AutoSubmit`. It is judged by when the take ended,
  not by when the server got to it, so a restart does not cost the
  candidate the submission. Other questions wait for the candidate, who
  may submit or record again while recordings remain.
- The exam is finished when every one of its questions is submitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from exams.answering.materials import missing_materials
from exams.answering.offline import submit_offline
from exams.catalog.attempts import (
    Attempt,
    AttemptTake,
    TakeKind,
    check_live,
    online_settings,
    question_of,
)
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import QuestionMode
from exams.shared.errors import Conflict, InvalidInput


def choose_take(a: Attempt, exam: Exam, take_id: str, now: float) -> Attempt:
    online_settings(a, exam)
    check_live(a, exam, now)
    _require_submittable(a.take(take_id))
    return replace(a, chosen_take_id=take_id)


def submit(a: Attempt, exam: Exam, now: float) -> Attempt:
    """The candidate submits (提交) the answer: online or offline by the question's mode."""
    question = question_of(a, exam)
    if question.mode is QuestionMode.OFFLINE:
        return submit_offline(a, exam, now)
    s = question.online
    check_live(a, exam, now)
    if a.entered_at is None:
        raise Conflict("enter the formal answer (正式答题) and record it before submitting")
    if a.recording_take is not None:
        raise Conflict("a recording is running; stop it before submitting")
    if a.chosen_take_id is None:
        raise Conflict("choose one of your recordings (选择已录视频) before submitting")
    _require_submittable(a.take(a.chosen_take_id))
    missing = missing_materials(a, s)
    if missing:
        names = ", ".join(rule.label or rule.key for rule in missing)
        raise Conflict(
            f"add the required materials before submitting: {names}",
            details={"missing": [rule.key for rule in missing]},
        )
    return replace(a, submitted_at=now, submitted_by="candidate")


def auto_submit_take(a: Attempt, exam: Exam) -> AttemptTake | None:
    """The take an auto-submit question submits by itself now, if any: its single formal
    take has ended, with something stored, and the answer is neither submitted nor closed."""
    question = question_of(a, exam)
    if question.mode is not QuestionMode.ONLINE or not question.online.auto_submit:
        return None
    if a.submitted or a.closed_at is not None:
        return None
    formal = [t for t in a.takes if t.kind is TakeKind.FORMAL]
    if len(formal) != 1 or formal[0].recording or formal[0].media_failed:
        return None
    return formal[0]


def auto_submit(a: Attempt, exam: Exam, now: float) -> Attempt:
    take = auto_submit_take(a, exam)
    if take is None:
        raise Conflict("this answer is not waiting to be submitted automatically")
    return replace(a, chosen_take_id=take.id, submitted_at=now, submitted_by="auto")


def exam_finished(exam: Exam, attempts: Iterable[Attempt]) -> bool:
    """Whether one candidate has submitted every question of the exam (M3.7).
    An exam without questions is never finished: there was nothing to take."""
    mine = [a for a in attempts if a.exam_id == exam.id]
    if len({a.candidate_id for a in mine}) > 1:
        raise InvalidInput("exam_finished takes the attempts of one candidate")
    submitted = {a.question_id for a in mine if a.submitted}
    return bool(exam.questions) and all(q.id in submitted for q in exam.questions)


def _require_submittable(take: AttemptTake) -> None:
    if take.kind is not TakeKind.FORMAL:
        raise Conflict("a rehearsal cannot be submitted; choose one of your formal recordings")
    if take.recording:
        raise Conflict("this take is still recording; stop it, then choose it")
    if take.media_failed:
        raise Conflict("nothing of this take was stored; choose another or record again")

"""What candidates, admins and proctors are shown of exams and attempts, as JSON-ready dicts.

Times are the server's wall clock (Unix seconds) and every page carries the
server's ``now``: a page whose own clock is wrong shows a countdown as
``deadline - now`` measured against the moment it received the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exams.answering.deadlines import (
    AutoSubmit,
    CloseAttempt,
    StartRecording,
    StopRecording,
    scheduled,
)
from exams.answering.recording import rehearsal_playable, remaining
from exams.answering.submissions import exam_finished
from exams.catalog.attempts import Attempt, AttemptTake, TakeKind, phase
from exams.catalog.exam_rules import Exam, needs_device_check
from exams.catalog.questions import OnlineSettings, Question


def exam_state(exam: Exam, now: float) -> str:
    if now < exam.opens_at:
        return "upcoming"
    return "open" if now < exam.closes_at else "closed"


def exam_header(exam: Exam, now: float) -> dict[str, Any]:
    return {
        "exam_id": exam.id,
        "unit_id": exam.unit_id,
        "title": exam.title,
        "instructions": exam.instructions,
        "time_requirements": exam.time_requirements,
        "opens_at": exam.opens_at,
        "closes_at": exam.closes_at,
        "upload_deadline": exam.upload_deadline,
        "state": exam_state(exam, now),
        "questions": len(exam.questions),
        "online": needs_device_check(exam),
    }


def exam_card(
    exam: Exam, attempts: Iterable[Attempt], now: float, verified: bool
) -> dict[str, Any]:
    """An entry of the candidate's exam list."""
    mine = [a for a in attempts if a.exam_id == exam.id]
    return {
        **exam_header(exam, now),
        "verified": verified,
        "submitted": sum(1 for a in mine if a.submitted),
        "finished": exam_finished(exam, mine),
    }


def exam_page(exam: Exam, attempts: Iterable[Attempt], now: float) -> dict[str, Any]:
    """The question list (after per-exam verification)."""
    mine = {a.question_id: a for a in attempts if a.exam_id == exam.id}
    return {
        "now": now,
        "exam": exam_header(exam, now),
        "finished": exam_finished(exam, mine.values()),
        "questions": [question_card(exam, q, mine.get(q.id), now) for q in exam.questions],
    }


def question_page(exam: Exam, question: Question, a: Attempt | None, now: float) -> dict[str, Any]:
    return {
        "now": now,
        "exam": exam_header(exam, now),
        "question": question_card(exam, question, a, now),
    }


def settings_of(question: Question) -> dict[str, Any]:
    return {
        k: v
        for k, v in question.to_dict().items()
        if k not in ("id", "title", "prompt", "order", "mode")
    }


def question_card(exam: Exam, q: Question, a: Attempt | None, now: float) -> dict[str, Any]:
    return {
        "question_id": q.id,
        "title": q.title,
        "prompt": q.prompt,
        "order": q.order,
        "mode": q.mode.value,
        "settings": settings_of(q),
        "phase": "not_started" if a is None else phase(a, now),
        "attempt": None if a is None else attempt_view(a, exam, q),
    }


def attempt_view(a: Attempt, exam: Exam, q: Question) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attempt_id": a.id,
        "opened_at": a.opened_at,
        "entered_at": a.entered_at,
        "submission_deadline": a.submission_deadline,
        "reading": None
        if a.reading is None
        else {
            "kind": a.reading.kind.value,
            "began_at": a.reading.began_at,
            "deadline": a.reading.deadline,
        },
        "recording": None,
        "takes": [],
        "chosen_take_id": a.chosen_take_id,
        "materials": [material_view(m.key, m.text, m.file) for m in a.materials],
        "files": [file_view(f) for f in a.files],
        "saved_at": a.saved_at,
        "submitted_at": a.submitted_at,
        "submitted_by": a.submitted_by,
        "closed_at": a.closed_at,
        "extra_s": a.extra_s,  # extra time a proctor gave
        "end_reason": a.end_reason,  # a proctor ended the answer, and why (else null)
        "next_action": describe_timer(a, exam),
    }
    if isinstance(q.settings, OnlineSettings):
        s = q.settings
        recording = a.recording_take
        out["recording"] = None if recording is None else take_view(a, recording, s)
        out["takes"] = [take_view(a, t, s) for t in a.takes]
        out["rehearsals"] = _count(a, exam, TakeKind.REHEARSAL, s.rehearsal_count)
        out["formal"] = _count(a, exam, TakeKind.FORMAL, a.formal_allowed(s.formal_count))
        # extra formal takes granted for takes damaged by the system, and why (issue #18)
        out["retakes"] = [
            {
                "take_id": r.take_id,
                "granted_at": r.granted_at,
                "damage": [d.to_dict() for d in r.damage],
            }
            for r in a.retakes
        ]
    return out


def _count(a: Attempt, exam: Exam, kind: TakeKind, allowed: int) -> dict[str, int]:
    return {"allowed": allowed, "used": a.used(kind), "remaining": remaining(a, exam, kind)}


def take_view(a: Attempt, t: AttemptTake, s: OnlineSettings) -> dict[str, Any]:
    if t.kind is TakeKind.REHEARSAL:
        playback = "available" if rehearsal_playable(a, t) else "gone"
    else:
        playback = "allowed" if s.formal_playback_allowed and not t.recording else "not_allowed"
    return {
        "take_id": t.id,
        "kind": t.kind.value,
        "started_at": t.started_at,
        "deadline": t.deadline,
        "started_by": t.started_by,
        "secondary_ready": t.secondary_ready,  # the second camera was ready when it started
        "stopped_at": t.stopped_at,
        "stop_reason": t.stop_reason,
        "recording": t.recording,
        "media_failed": t.media_failed,
        "chosen": a.chosen_take_id == t.id,
        "playback": playback,
    }


def works_view(a: Attempt, s: OnlineSettings) -> list[dict[str, Any]]:
    """The candidate's works: finished formal takes (rehearsals never appear)."""
    return [take_view(a, t, s) for t in a.works]


def file_view(f: Any) -> dict[str, Any]:
    """A file of an answer; ``pending``: a resumable upload still arriving (its upload is
    ``/api/uploads/{file_id}``), counted with its declared size."""
    return {
        "file_id": f.id,
        "name": f.name,
        "kind": f.kind,
        "format": f.format,
        "size": f.size,
        "pending": f.pending,
    }


def material_view(key: str, text: str | None, file: Any) -> dict[str, Any]:
    if file is not None:
        return {"key": key, "file": file_view(file)}
    return {"key": key, "text": text}


# -- admins and proctors -------------------------------------------------------------------


def progress(
    exam: Exam, attempts: Iterable[Attempt], people: Mapping[str, dict[str, Any]], now: float
) -> dict[str, Any]:
    """Each candidate who started the exam: where they are, what they submitted."""
    by_candidate: dict[str, dict[str, Attempt]] = {}
    for a in attempts:
        by_candidate.setdefault(a.candidate_id, {})[a.question_id] = a
    rows = []
    for candidate_id, mine in by_candidate.items():
        phases = {
            q.id: ("not_started" if q.id not in mine else phase(mine[q.id], now))
            for q in exam.questions
        }
        current = next(
            (qid for qid, p in phases.items() if p in ("reading", "recording", "answering")), None
        )
        rows.append(
            {
                "candidate": people.get(candidate_id, {"account_id": candidate_id}),
                "current_question_id": current,
                "current_phase": None if current is None else phases[current],
                "submitted": sum(1 for a in mine.values() if a.submitted),
                "finished": exam_finished(exam, mine.values()),
                "questions": [
                    {
                        "question_id": q.id,
                        "phase": phases[q.id],
                        "submitted_at": mine[q.id].submitted_at if q.id in mine else None,
                        "submitted_by": mine[q.id].submitted_by if q.id in mine else None,
                        "closed_at": mine[q.id].closed_at if q.id in mine else None,
                    }
                    for q in exam.questions
                ],
            }
        )
    return {"now": now, "exam": exam_header(exam, now), "candidates": rows}


def describe_timer(a: Attempt, exam: Exam) -> dict[str, Any] | None:
    """The next server action on an attempt, for pages and admins."""
    pending = scheduled(a, exam)
    if not pending:
        return None
    x = pending[0]
    return {"action": _ACTION_NAMES[type(x)], "at": x.due_at}


_ACTION_NAMES: dict[type, str] = {
    StopRecording: "stop_recording",
    AutoSubmit: "auto_submit",
    StartRecording: "start_recording",
    CloseAttempt: "close",
}

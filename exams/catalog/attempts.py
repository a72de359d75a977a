"""An attempt: one candidate answering one question, as plain data.

Everything an attempt knows is on it, deadlines included, as timestamps from
the server clock, so storage can save :meth:`Attempt.to_dict` and a restarted
server can rebuild every timer from what it loads (:mod:`exams.answering.deadlines`).
Attempts are immutable: each step of the journey is a function in
:mod:`exams.answering.recording`, :mod:`exams.answering.materials`,
:mod:`exams.answering.submissions` or :mod:`exams.answering.offline` that takes an
attempt, the exam and ``now`` and returns the next attempt, or raises an
:mod:`exams.shared.errors` class saying what to do.
The caller reads its clock once per request and passes that ``now`` to the
step, so every check in one step sees the same instant.

Windows are half open: something allowed "until" a deadline is allowed while
``now < deadline``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from exams.catalog.exam_rules import Exam
from exams.catalog.questions import (
    OfflineSettings,
    OnlineSettings,
    Question,
    QuestionMode,
    normalise_format,
)
from exams.catalog.take_quality import Damage, read_damage
from exams.shared.errors import Conflict, DeadlinePassed, InvalidInput, NotFound


class TakeKind(StrEnum):
    REHEARSAL = "rehearsal"  # 排练: never a work, played back once, then deleted
    FORMAL = "formal"  # 正式答题: a work that may be chosen and submitted


@dataclass(frozen=True)
class Reading:
    """The reading period (阅题) before a take; ``deadline`` None: the candidate starts."""

    kind: TakeKind
    began_at: float
    deadline: float | None


@dataclass(frozen=True)
class AttemptTake:
    """One recording within an attempt; its id is the media take's id
    (:mod:`exams.catalog.takes`)."""

    id: str
    kind: TakeKind
    started_at: float
    deadline: float  # the server stops it then
    started_by: str = "candidate"  # or "server", when the reading time ran out
    secondary_ready: bool = False
    stopped_at: float | None = None
    stop_reason: str | None = None  # stopped, time_limit, interrupted, server_restart...
    media_failed: bool = False  # nothing usable was stored
    played_back: bool = False  # rehearsals: the single playback is used (or forfeited)

    @property
    def recording(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True)
class Retake:
    """An extra formal take the server granted because ``take_id`` (a formal take) was
    damaged by the system (:mod:`exams.answering.retakes`): ``damage`` says how."""

    take_id: str
    damage: tuple[Damage, ...]
    granted_at: float

    @property
    def reasons(self) -> list[str]:
        return [d.text for d in self.damage]


@dataclass(frozen=True)
class FileRef:
    """A file stored elsewhere, described by what the rules check: kind, format, size.

    ``pending``: a resumable upload whose bytes are still arriving; it counts as a file
    of the answer (it may be submitted, M3.7) with its declared size and kind, until it
    completes (:mod:`exams.answering.pending_files`) or is refused and dropped.
    """

    id: str
    kind: str
    format: str
    size: int
    pending: bool = False
    name: str = ""  # the candidate's file name, for people; never a path


@dataclass(frozen=True)
class Material:
    """An extra material of an online answer: typed ``text`` or one uploaded ``file``."""

    key: str
    text: str | None = None
    file: FileRef | None = None


@dataclass(frozen=True)
class Attempt:
    id: str
    exam_id: str
    question_id: str
    candidate_id: str
    mode: QuestionMode
    opened_at: float | None = None  # offline: the question was opened, its clock started
    entered_at: float | None = None  # online: the formal answer was entered, its clock started
    submission_deadline: float | None = None  # set when the clock starts
    reading: Reading | None = None
    takes: tuple[AttemptTake, ...] = ()
    chosen_take_id: str | None = None
    materials: tuple[Material, ...] = ()
    files: tuple[FileRef, ...] = ()  # offline answer files
    saved_at: float | None = None  # offline: last saved as a draft (保存)
    submitted_at: float | None = None
    submitted_by: str | None = None  # "candidate" or "auto"
    closed_at: float | None = None  # the submission time ran out before a submission
    extra_s: float = 0.0  # extra time proctors gave (exams.proctoring.attempt_steps)
    ended_by: str | None = None  # the proctor who ended the answer (closed_at: when) ...
    end_reason: str | None = None  # ... and why, as the candidate is told
    retakes: tuple[Retake, ...] = ()  # extra formal takes for damaged ones (issue #18)

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None

    @property
    def recording_take(self) -> AttemptTake | None:
        return next((t for t in self.takes if t.recording), None)

    @property
    def works(self) -> tuple[AttemptTake, ...]:
        """The candidate's works: finished formal takes. Rehearsals never appear here."""
        return tuple(t for t in self.takes if t.kind is TakeKind.FORMAL and not t.recording)

    def take(self, take_id: str) -> AttemptTake:
        for t in self.takes:
            if t.id == take_id:
                return t
        raise NotFound("this question has no such recording; choose one from its list")

    def used(self, kind: TakeKind) -> int:
        """Takes of ``kind`` started so far; interrupted ones count too."""
        return sum(1 for t in self.takes if t.kind is kind)

    def formal_allowed(self, formal_count: int) -> int:
        """The question's formal takes plus those granted for damaged takes."""
        return formal_count + len(self.retakes)

    def with_take(self, take: AttemptTake) -> Attempt:
        return replace(self, takes=tuple(take if t.id == take.id else t for t in self.takes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        """Load what :meth:`to_dict` saved (trusted storage, not user input)."""
        d = dict(data)
        d["mode"] = QuestionMode(d["mode"])
        r = d.get("reading")
        d["reading"] = None if r is None else Reading(**{**r, "kind": TakeKind(r["kind"])})
        d["takes"] = tuple(
            AttemptTake(**{**t, "kind": TakeKind(t["kind"])}) for t in d.get("takes", ())
        )
        d["materials"] = tuple(
            Material(
                m["key"], m.get("text"), None if m.get("file") is None else FileRef(**m["file"])
            )
            for m in d.get("materials", ())
        )
        d["files"] = tuple(FileRef(**f) for f in d.get("files", ()))
        d["retakes"] = tuple(
            Retake(r["take_id"], tuple(read_damage(x) for x in r["damage"]), r["granted_at"])
            for r in d.get("retakes", ())
        )
        return cls(**d)


def new_attempt(attempt_id: str, exam: Exam, question_id: str, candidate_id: str) -> Attempt:
    question = exam.question(question_id)
    return Attempt(attempt_id, exam.id, question.id, candidate_id, question.mode)


def question_of(a: Attempt, exam: Exam) -> Question:
    if a.exam_id != exam.id:
        raise InvalidInput("this attempt belongs to another exam")
    return exam.question(a.question_id)


def online_settings(a: Attempt, exam: Exam) -> OnlineSettings:
    return question_of(a, exam).online


def offline_settings(a: Attempt, exam: Exam) -> OfflineSettings:
    return question_of(a, exam).offline


def check_live(a: Attempt, exam: Exam, now: float) -> None:
    """Raise unless the answer can still change: not submitted, in time, exam open."""
    if a.submitted:
        raise Conflict("this question has been submitted; its answer can no longer change")
    deadline = a.submission_deadline
    if a.closed_at is not None or (deadline is not None and now >= deadline):
        raise DeadlinePassed(
            "the submission time for this question is over; nothing more can be recorded, "
            "chosen or submitted",
            details={"deadline": deadline},
        )
    exam.require_open(now)


def phase(a: Attempt, now: float) -> str:
    """Where the candidate is, for display: ``not_started``, ``reading``, ``recording``,
    ``answering`` (clock running, not recording), ``submitted`` or ``closed``."""
    if a.submitted:
        return "submitted"
    deadline = a.submission_deadline
    if a.closed_at is not None or (deadline is not None and now >= deadline):
        return "closed"
    if a.recording_take is not None:
        return "recording"
    if a.reading is not None:
        return "reading"
    if a.entered_at is not None or a.opened_at is not None:
        return "answering"
    return "not_started"


def holds_camera(a: Attempt) -> bool:
    """The attempt's stored state claims the candidate's camera: reading or recording, not
    yet settled. Storage keeps at most one such attempt per candidate x exam (the server's
    one-question-at-a-time rule, held by a unique index), whatever ``now`` is; an attempt
    whose time ran out is settled (:meth:`AttemptRunner.run`) to let go of it."""
    if a.submitted or a.closed_at is not None:
        return False
    return a.reading is not None or a.recording_take is not None


def file_problem(
    file: FileRef, kinds: tuple[str, ...], formats: tuple[str, ...], min_bytes: int, max_bytes: int
) -> str | None:
    """What is wrong with a file's declared kind, format and size, if anything."""
    if file.kind not in kinds:
        return f"a {file.kind} file is not accepted here; upload {' or '.join(kinds)}"
    if normalise_format(file.format) not in formats:
        return f"the .{file.format} format is not accepted; use one of {', '.join(formats)}"
    if file.size > max_bytes:
        return f"the file is {file.size} bytes; the most allowed is {max_bytes} bytes"
    if file.size < min_bytes:
        return f"the file is {file.size} bytes; it must be at least {min_bytes} bytes"
    return None

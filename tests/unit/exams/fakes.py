"""In-memory stand-ins for the exam service's ports, and a bench that wires them up.

The media layer is faked (no camera here); attempts go through their JSON
round trip as storage does; the scheduler runs timers only when the test
moves the clock, so nothing sleeps.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exams.answering.attempt_runner import AttemptRunner
from exams.answering.playback import Playback
from exams.catalog.attempts import Attempt, holds_camera
from exams.catalog.exam_rules import Exam
from exams.catalog.monitoring import AlertKind
from exams.catalog.takes import Take, TakeListener, TakeState
from exams.shared.errors import CameraBusy, Conflict, NotFound, StepRequired
from tests.unit.exams.builders import FakeClock


@dataclass
class Timer:
    when: float
    callback: Callable[[], Any]
    cancelled: bool = False


class FakeScheduler:
    def __init__(self) -> None:
        self.timers: list[Timer] = []

    def call_at(self, when: float, callback: Callable[[], Any]) -> Callable[[], None]:
        timer = Timer(when, callback)
        self.timers.append(timer)

        def cancel() -> None:
            timer.cancelled = True

        return cancel

    @property
    def live(self) -> list[Timer]:
        return [t for t in self.timers if not t.cancelled]

    async def run_until(self, now: float) -> None:
        """Fire every live timer due by ``now``, soonest first (new ones too)."""
        while True:
            due = sorted((t for t in self.live if t.when <= now), key=lambda t: t.when)
            if not due:
                return
            timer = due[0]
            timer.cancelled = True
            result = timer.callback()
            if inspect.isawaitable(result):
                await result


class FakeTakes:
    """``TakeControl`` and ``TakeRecords``: takes that "record" without media."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.takes: dict[str, Take] = {}
        self.listeners: list[TakeListener] = []
        self.events: list[tuple[str, str]] = []
        self.hold = False  # stop() leaves takes finalising until finish()
        self.fail = False  # takes store nothing
        self.refuse_start: Exception | None = None
        self.quality: dict[str, Any] | None = None  # the report a stored take gets (#18)
        self.discarded: list[str] = []
        self._n = 0

    def add_listener(self, listener: TakeListener) -> None:
        self.listeners.append(listener)

    async def _emit(self, event: str, take: Take) -> None:
        self.events.append((event, take.id))
        for listener in self.listeners:
            await listener(event, take)

    async def start(
        self,
        owner: str,
        session_id: str | None,
        purpose: str,
        *,
        limit_s: float | None = None,
        attempt_id: str | None = None,
        started_at: float | None = None,
    ) -> Take:
        if self.refuse_start is not None:
            raise self.refuse_start
        if any(t.owner == owner and t.state is TakeState.RECORDING for t in self.takes.values()):
            raise Conflict("this device is already recording; stop that take first")
        self._n += 1
        take = Take(
            f"take{self._n}",
            owner,
            session_id or f"primary-{owner}",
            purpose,
            TakeState.RECORDING,
            self.clock() if started_at is None else started_at,
            limit_s=limit_s,
            attempt_id=attempt_id,
        )
        self.takes[take.id] = take
        await self._emit("take_started", take)
        return take

    async def stop(self, take_id: str, reason: str = "stopped", owner: str | None = None) -> Take:
        take = self.takes.get(take_id)
        if take is None or (owner is not None and take.owner != owner):
            raise NotFound("no such take")
        if take.state is not TakeState.RECORDING:
            raise Conflict("this take has already stopped and cannot be continued")
        take = replace(
            take, state=TakeState.FINALIZING, stopped_at=self.clock(), stop_reason=reason
        )
        self.takes[take_id] = take
        await self._emit("take_stopped", take)
        if self.hold:
            return take
        return await self.finish(take_id)

    async def finish(self, take_id: str) -> Take:
        take = self.takes[take_id]
        recorded = (take.stopped_at or self.clock()) - take.started_at
        segments = [] if self.fail else [{"index": 0, "file": "segment-000.webm"}]
        state = TakeState.FAILED if self.fail else TakeState.STORED
        manifest = {"segments": segments, "recorded_s": recorded}
        take = replace(take, state=state, manifest=manifest, quality=self.quality)
        self.takes[take_id] = take
        await self._emit("take_failed" if self.fail else "take_stored", take)
        return take

    async def discard(self, take_id: str) -> Take:
        take = self.takes[take_id]
        if take.state in (TakeState.RECORDING, TakeState.FINALIZING):
            raise Conflict("a take is discarded only once it has been stored")
        take = replace(take, state=TakeState.DISCARDED)
        self.takes[take_id] = take
        self.discarded.append(take_id)
        return take

    async def get(self, take_id: str) -> Take | None:
        return self.takes.get(take_id)


class MemoryAttempts:
    """``AttemptRepository``; every attempt goes through JSON, as storage does."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.saves = 0

    async def save(self, attempt: Attempt, now: float) -> None:
        for other in map(_load, self.rows.values()):
            same = (other.exam_id, other.question_id, other.candidate_id)
            if other.id != attempt.id and same == (
                attempt.exam_id,
                attempt.question_id,
                attempt.candidate_id,
            ):
                raise Conflict("this question has an attempt already")
            if (
                other.id != attempt.id
                and (other.exam_id, other.candidate_id) == (attempt.exam_id, attempt.candidate_id)
                and holds_camera(other)
                and holds_camera(attempt)
            ):
                raise CameraBusy("another question of this exam holds the camera")
        self.rows[attempt.id] = json.dumps(attempt.to_dict())
        self.saves += 1

    async def get(self, attempt_id: str) -> Attempt | None:
        row = self.rows.get(attempt_id)
        return None if row is None else _load(row)

    async def find(self, exam_id: str, question_id: str, candidate_id: str) -> Attempt | None:
        return next(
            (
                a
                for a in self.all()
                if (a.exam_id, a.question_id, a.candidate_id)
                == (exam_id, question_id, candidate_id)
            ),
            None,
        )

    async def of_candidate(self, candidate_id: str, exam_id: str | None = None) -> list[Attempt]:
        return [
            a for a in self.all() if a.candidate_id == candidate_id and exam_id in (None, a.exam_id)
        ]

    async def of_exam(self, exam_id: str) -> list[Attempt]:
        return [a for a in self.all() if a.exam_id == exam_id]

    async def unsettled(self) -> list[Attempt]:
        return [a for a in self.all() if not a.submitted and a.closed_at is None]

    async def any_for_exam(self, exam_id: str) -> bool:
        return any(a.exam_id == exam_id for a in self.all())

    def all(self) -> list[Attempt]:
        return [_load(row) for row in self.rows.values()]


def _load(row: str) -> Attempt:
    return Attempt.from_dict(json.loads(row))


class MemoryExams:
    def __init__(self, *exams: Exam) -> None:
        self.exams = {e.id: e for e in exams}
        self.removed: set[str] = set()

    async def get(self, exam_id: str) -> Exam | None:
        return self.exams.get(exam_id)

    async def exam_of(self, candidate_id: str, exam_id: str) -> Exam:
        """``ExamReach``: every candidate reaches every exam, unless ``removed``."""
        exam = self.exams.get(exam_id)
        if exam is None:
            raise NotFound("no such exam in your admission unit")
        if candidate_id in self.removed:
            raise StepRequired("removed", {"reason": "removed_from_admitted_list"})
        return exam


@dataclass
class Bench:
    """The runner and playback on fakes; ``advance`` moves the clock and fires timers."""

    exam: Exam
    clock: FakeClock
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)
    attempts: MemoryAttempts = field(default_factory=MemoryAttempts)
    takes: FakeTakes = field(init=False)
    runner: AttemptRunner = field(init=False)
    playback: Playback = field(init=False)
    exams: MemoryExams = field(init=False)  # whom it reaches: ``exams.removed`` refuses

    def __post_init__(self) -> None:
        self.takes = FakeTakes(self.clock)
        self.restart()

    def restart(self) -> None:
        """A new process over the same records: new runner, new timers, no listeners."""
        self.scheduler = FakeScheduler()
        self.takes.listeners.clear()
        self.exams = exams = MemoryExams(self.exam)
        self.runner = AttemptRunner(
            self.attempts, exams, self.takes, self.takes, self.clock, self.scheduler
        )
        self.playback = Playback(self.runner, exams)
        self.runner.after_run.append(self.playback.discard_unplayable)
        self.takes.add_listener(self.runner.on_take_event)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.scheduler.run_until(self.clock())

    async def attempt(self, question_id: str = "q1", candidate: str = "candidate-1") -> Attempt:
        found = await self.attempts.find(self.exam.id, question_id, candidate)
        assert found is not None
        return found


@dataclass
class RecordingAlerts:
    """The detectors' alerts port (:class:`exams.proctoring.page_events.Alerts`), recording
    each call as ``(op, candidate_id, kind, camera, at, detail)``; ``detail`` is None on an
    end. The views below keep the fields a test looks at."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def raise_alert(
        self,
        candidate_id: str,
        kind: AlertKind,
        *,
        camera: str | None = None,
        started_at: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.calls.append(("raise", candidate_id, kind, camera, started_at, detail))

    async def end_alert(
        self,
        candidate_id: str,
        kind: AlertKind,
        *,
        camera: str | None = None,
        ended_at: float | None = None,
    ) -> None:
        self.calls.append(("end", candidate_id, kind, camera, ended_at, None))

    def by_candidate(self) -> list[tuple[str, str, AlertKind, float | None]]:
        """``(op, candidate_id, kind, at)`` a call."""
        return [(c[0], c[1], c[2], c[4]) for c in self.calls]

    def by_camera(self) -> list[tuple[str, AlertKind, str | None, float | None]]:
        """``(op, kind, camera, at)`` a call."""
        return [(c[0], c[2], c[3], c[4]) for c in self.calls]

    def brief(self) -> list[tuple[str, str, str | None, float | None]]:
        """``(op, kind's value, camera, at)`` a call."""
        return [(c[0], c[2].value, c[3], c[4]) for c in self.calls]


@dataclass
class NullRecorder:
    """The take service's recorder port, recording nothing: ``sessions`` (session -> owner)
    are the cameras it knows; a stopped (or recovered) take has 5 s of media from its start."""

    sessions: dict[str, str] = field(default_factory=dict)

    def session_owner(self, session_id: str) -> str | None:
        return self.sessions.get(session_id)

    def primary_session(self, owner: str) -> str:
        return next(s for s, o in self.sessions.items() if o == owner)

    def start(self, take_id: str, cameras: Mapping[str, str], limit_s: float | None = None) -> None:
        pass

    def add_camera(self, take_id: str, camera: str, session_id: str) -> None:
        pass

    async def stop(self, take_id: str) -> dict[str, Any]:
        return {"segments": [{"index": 0, "start_s": 0.0, "duration_s": 5.0}]}

    async def recover(self, take_id: str) -> dict[str, Any]:
        return await self.stop(take_id)

    async def resume(
        self,
        take_id: str,
        cameras: Mapping[str, str],
        started_at: float,
        limit_s: float | None = None,
    ) -> None:
        pass

    async def discard(self, take_id: str) -> None:
        pass

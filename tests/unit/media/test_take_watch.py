"""The picture detectors' take-watcher: a recording take's picture claim held for its length,
the detector's state made at the start and stopped at the end, one take per candidate."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take, TakeState
from media.detectors.take_watch import TakeWatcher
from tests.unit.media.test_vision_runner import Claims, Found

T0 = 1_700_000_000.0
OWNER = "cand-1"


@dataclass(eq=False)
class State:
    take_id: str


@dataclass
class Detector:
    """Records what the watcher asks of a detector; ``wants`` False: the exam asks for none."""

    wants: bool = True
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, take: Take, exam: Exam) -> State | None:
        assert exam.id == "e1"
        self.started.append(take.id)
        return State(take.id) if self.wants else None

    async def stop(self, state: State) -> None:
        self.stopped.append(state.take_id)


def watcher(detector: Detector, attempts: Any = None) -> tuple[TakeWatcher[State], Claims]:
    claims = Claims()
    attempts = attempts or Found(SimpleNamespace(id="a1", exam_id="e1"))
    exam = SimpleNamespace(id="e1")
    return TakeWatcher(claims, attempts, Found(exam), detector.start, detector.stop), claims


def take(take_id: str = "t1", attempt_id: str | None = "a1", started_at: float = T0) -> Take:
    return Take(
        take_id, OWNER, "s1", "formal", TakeState.RECORDING, started_at, attempt_id=attempt_id
    )


@pytest.mark.parametrize("end", ["take_stopped", "take_stored", "take_failed"])
async def test_a_take_is_watched_from_its_start_to_its_end(end: str) -> None:
    d = Detector()
    w, claims = watcher(d)
    await w.on_take_event("take_started", take())
    assert [h.owners for h in claims.held] == [frozenset({OWNER})]
    state = w.of_owner(OWNER)
    assert state is not None and w.of_take("t1") is state
    assert w.watching(OWNER) == "t1" and len(w) == 1
    await w.on_take_event(end, take())
    assert claims.held == [] and d.stopped == ["t1"]
    assert w.of_owner(OWNER) is None and w.watching(OWNER) is None and len(w) == 0


async def test_a_take_of_no_question_or_not_asked_for_is_not_watched() -> None:
    d = Detector()
    w, claims = watcher(d)
    await w.on_take_event("take_started", take(attempt_id=None))  # a device check
    assert d.started == [] and claims.held == []
    d.wants = False
    await w.on_take_event("take_started", take())
    assert d.started == ["t1"] and claims.held == [] and len(w) == 0
    await w.on_take_event("take_stopped", take())
    assert d.stopped == []


async def test_a_new_take_replaces_one_that_never_said_it_stopped() -> None:
    d = Detector()
    w, claims = watcher(d)
    await w.on_take_event("take_started", take("t1"))
    await w.on_take_event("take_started", take("t2"))
    assert d.stopped == ["t1"] and len(claims.held) == 1 and w.watching(OWNER) == "t2"
    await w.on_take_event("take_stopped", take("t1"))  # late: nothing more
    assert d.stopped == ["t1"] and w.watching(OWNER) == "t2"


async def test_an_older_takes_start_told_late_does_not_replace_the_newer_take() -> None:
    """Told after the candidate's next take started (its start was still being handled when
    it stopped: the take service tells its end only after): the newer take stays watched."""
    d = Detector()
    w, claims = watcher(d)
    await w.on_take_event("take_started", take("t2", started_at=T0 + 30))
    await w.on_take_event("take_started", take("t1"))
    assert d.started == ["t2"] and len(claims.held) == 1 and w.watching(OWNER) == "t2"
    await w.on_take_event("take_stopped", take("t1"))
    assert d.stopped == [] and w.watching(OWNER) == "t2"


async def test_closed_it_gives_every_claim_back_ends_nothing_and_watches_no_more() -> None:
    d = Detector()
    w, claims = watcher(d)
    await w.on_take_event("take_started", take())
    w.close()
    assert claims.held == [] and d.stopped == [] and len(w) == 0
    await w.on_take_event("take_started", take("t2"))
    assert claims.held == [] and w.watching(OWNER) is None

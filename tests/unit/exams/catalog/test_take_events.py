"""A take's events told in order (:mod:`exams.catalog.take_events`): each listener hears a
take's end only once it has handled the take's start, even when the end comes while a listener
is still handling the start (the signal detectors reading the exam); other takes go on
meanwhile.

The take service with the listeners of production that keep a take (the signal detectors, a
picture detector's take-watcher, the drain). Its repository and recorder stand in and answer at
once, so a stop runs as far as it can in one go: before the fix its end reached every listener
while the start was held, every run. The start is held with an :class:`asyncio.Event`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from exams.catalog.exam_rules import Exam
from exams.catalog.takes import MOVED, Take, TakeListener, TakeService, TakeState
from media.detectors.signals import SignalDetectors
from media.detectors.take_watch import TakeWatcher
from media.hub import MediaSession
from tests.unit.exams.builders import FakeClock, attempt, exam_of, online
from tests.unit.exams.fakes import FakeScheduler, NullRecorder, RecordingAlerts
from tests.unit.media.test_vision_runner import Claims
from web.drain import Drain

OWNER, OTHER = "cand-1", "cand-2"
SESSIONS = {"s1": OWNER, "s2": OTHER}


class MemoryTakes:
    """The take repository, in a dict; ``finalizing`` is set once a take is saved stopping."""

    def __init__(self) -> None:
        self.takes: dict[str, Take] = {}
        self.finalizing = asyncio.Event()

    async def save(self, take: Take) -> None:
        self.takes[take.id] = take
        if take.state is TakeState.FINALIZING:
            self.finalizing.set()

    async def get(self, take_id: str) -> Take | None:
        return self.takes.get(take_id)

    async def unfinished(self, node: str | None = None) -> list[Take]:
        return []

    async def recording_of(self, owner: str) -> list[Take]:
        return []

    async def claim(
        self,
        take_id: str,
        from_node: str | None,
        to_node: str,
        *,
        state: TakeState = TakeState.RECORDING,
    ) -> bool:
        return False


@dataclass
class Heard:
    """The owner's pages (the notifier), and a listener: what each was told, in order."""

    events: list[tuple[str, str]] = field(default_factory=list)

    async def take_event(self, event: str, take: Take) -> None:
        self.events.append((event, take.id))


class Sources:
    """Attempts and exams; an attempt in ``held`` is read only once ``gate`` is set."""

    def __init__(self, exam: Exam) -> None:
        self.exam = exam
        self.attempts = {a: attempt(exam, attempt_id=a) for a in ("a1", "a2")}
        self.held: set[str] = set()
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()  # a held read waits at the gate

    async def get(self, some_id: str) -> Any:
        if some_id in self.held:
            self.reading.set()
            await self.gate.wait()
        return {self.exam.id: self.exam, **self.attempts}.get(some_id)


class NoCameras:
    """The media hub's sessions: none, so a take watched a while is "camera lost"."""

    def sessions_of(self, owner: str) -> list[MediaSession]:
        return []


@dataclass
class Rig:
    takes: TakeService
    repo: MemoryTakes
    clock: FakeClock
    sources: Sources
    pages: Heard
    last: Heard  # the last listener
    signals: SignalDetectors
    alerts: RecordingAlerts
    watcher: TakeWatcher[str]
    claims: Claims
    drain: Drain


def rig(*first: TakeListener) -> Rig:
    """``first`` hear first, then the signal detectors (their reads are the ones held), the
    drain, a take-watcher and a last listener."""
    clock, repo, pages = FakeClock(), MemoryTakes(), Heard()
    ids = iter(f"t{n}" for n in range(1, 100))
    takes = TakeService(
        repo,
        NullRecorder(SESSIONS),
        pages,
        clock,
        FakeScheduler(),
        limits={},
        new_id=lambda: next(ids),
    )
    sources = Sources(exam_of(online()))
    alerts = RecordingAlerts()
    signals = SignalDetectors(
        NoCameras(),
        sources,
        sources,
        alerts,
        lambda attempt_id: None,
        clock,
        media_clock=lambda: 1000.0,
    )
    claims = Claims()

    async def stop_watching(state: str) -> None:
        pass

    watcher: TakeWatcher[str] = TakeWatcher(
        claims, sources, sources, lambda take, exam: take.id, stop_watching
    )
    drain = Drain(SimpleNamespace(draining=False), 60.0)  # type: ignore[arg-type]
    last = Heard()
    for listener in (
        *first,
        signals.on_take_event,
        drain.take_event,
        watcher.on_take_event,
        last.take_event,
    ):
        takes.add_listener(listener)
    return Rig(takes, repo, clock, sources, pages, last, signals, alerts, watcher, claims, drain)


async def let_go(r: Rig) -> None:
    """Nothing here holds the owner's take any more: no detector watches it, no picture claim,
    the drain waits for nothing, and a minute later no "camera lost" is raised on it."""
    assert r.signals.watched == 0 and r.watcher.watching(OWNER) is None and r.claims.held == []
    assert r.drain.in_flight == 0
    r.clock.advance(120)
    await r.signals.tick()
    assert r.alerts.calls == []


def told(*take_ids: str) -> list[tuple[str, str]]:
    return [(e, t) for t in take_ids for e in ("take_started", "take_stopped", "take_stored")]


async def test_an_end_that_comes_while_a_listener_handles_the_start_waits_for_it() -> None:
    """The bug: the end was told to every listener while the signal detectors still read the
    exam for the start; they, the take-watcher after them and the drain then took the start
    for a take that records, kept watching a finished take (a "camera lost" incident on it
    a minute later) and counted it in flight for ever."""
    r = rig()
    r.sources.held.add("a1")
    starting = asyncio.ensure_future(r.takes.start(OWNER, "s1", "formal", attempt_id="a1"))
    await r.sources.reading.wait()  # the start waits in the signal detectors
    stopping = asyncio.ensure_future(r.takes.stop("t1"))
    await r.repo.finalizing.wait()  # the stop has run as far as it can
    assert not stopping.done(), "the end was told while a listener still handled the start"
    assert r.pages.events == [("take_started", "t1")] and r.last.events == []

    r.sources.gate.set()
    await starting
    assert (await stopping).state is TakeState.STORED
    assert r.pages.events == r.last.events == told("t1")
    await let_go(r)


async def test_one_takes_events_do_not_wait_for_anothers() -> None:
    r = rig()
    r.sources.held.add("a1")
    starting = asyncio.ensure_future(r.takes.start(OWNER, "s1", "formal", attempt_id="a1"))
    await r.sources.reading.wait()  # the first candidate's start waits in the signal detectors

    other = await r.takes.start(OTHER, "s2", "formal", attempt_id="a2")  # told meanwhile
    assert r.signals.watched == 1 and r.watcher.watching(OTHER) == other.id
    await r.takes.stop(other.id)
    assert r.last.events == told(other.id) and r.drain.in_flight == 0
    assert not starting.done()

    r.sources.gate.set()
    first = await starting
    assert r.signals.watched == 1 and r.watcher.watching(OWNER) == first.id
    assert r.drain.in_flight == 1
    await r.takes.stop(first.id)
    assert r.signals.watched == 0 and r.drain.in_flight == 0 and r.claims.held == []


async def test_a_listener_that_stops_the_take_it_hears_start_is_told_the_end_after() -> None:
    """Its stop cannot wait for its own listener to return: the end is told after the start,
    to every listener, and the start returns once all of it is told."""
    stopped: list[Take] = []

    async def refuse(event: str, take: Take) -> None:
        if event == "take_started":
            stopped.append(await r.takes.stop(take.id, "refused"))

    r = rig(refuse)
    take = await r.takes.start(OWNER, "s1", "formal", attempt_id="a1")
    assert [t.state for t in stopped] == [TakeState.STORED]
    assert r.pages.events == r.last.events == told(take.id)
    assert r.signals.watched == 0 and r.watcher.watching(OWNER) is None
    assert r.drain.in_flight == 0


async def test_a_caller_cancelled_meanwhile_leaves_the_take_told() -> None:
    r = rig()
    r.sources.held.add("a1")
    starting = asyncio.ensure_future(r.takes.start(OWNER, "s1", "formal", attempt_id="a1"))
    await r.sources.reading.wait()
    starting.cancel()  # a page gone while its start was being told
    stopping = asyncio.ensure_future(r.takes.stop("t1"))
    await r.repo.finalizing.wait()
    r.sources.gate.set()
    assert (await stopping).state is TakeState.STORED
    assert starting.cancelled()
    assert r.pages.events == r.last.events == told("t1")
    assert r.signals.watched == 0 and r.drain.in_flight == 0


async def test_a_take_another_node_continues_is_let_go_by_every_listener_here() -> None:
    """This node was taken for dead and another one claimed its take: a stop here lets it go
    (that node stores it). Before, no listener heard of it: the signal detectors watched it for
    ever (a "camera lost" incident a minute later, though it records on the other node), the
    take-watcher kept its picture claim and the drain counted it in flight. The pages are not
    told: the node that goes on tells them."""
    r = rig()
    take = await r.takes.start(OWNER, "s1", "formal", attempt_id="a1")
    assert r.signals.watched == 1 and r.drain.in_flight == 1
    r.repo.takes[take.id] = replace(take, node="node-b")  # its claim, seen in the records

    assert (await r.takes.stop(take.id)).node == "node-b"
    assert r.last.events == [("take_started", take.id), (MOVED, take.id)]
    assert r.pages.events == [("take_started", take.id)]
    await let_go(r)


async def test_two_stops_at_once_both_get_the_stored_take() -> None:
    """The page's stop and one another node asked for (or a deadline's) at the same moment:
    the second came while the first was under way and was told "already stopped"."""
    r = rig()
    take = await r.takes.start(OWNER, "s1", "formal", attempt_id="a1")
    first, second = await asyncio.gather(r.takes.stop(take.id), r.takes.stop(take.id, owner=OWNER))
    assert first.state is second.state is TakeState.STORED and first == second
    assert r.last.events == told(take.id)

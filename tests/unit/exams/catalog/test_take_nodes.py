"""Takes know their node (issue #15): a node's start-up finishes only its own takes, never
those other live nodes are recording; a gone node's takes are finished by one survivor once
the candidate has had ``orphan_grace_s`` to come back. Takes on the real database (SQLite and
PostgreSQL), the recorder a stand-in, time moved by hand (real media and nodes:
tests/integration/test_take_nodes.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from exams.catalog.takes import Take, TakeService, TakeState
from exams.shared.nodes import SingleNode
from exams.shared.telemetry import Count, NoTelemetry
from storage.takes import SqliteTakes
from tests.support.world import World
from tests.unit.exams.fakes import FakeScheduler, NullRecorder

OWNER = "candidate-1"
GRACE_S = 20.0


@dataclass
class Recorder(NullRecorder):
    """Records nothing; a recovered take has 5 s of media from its start."""

    sessions: dict[str, str] = field(default_factory=lambda: {"s1": OWNER})
    recovered: list[str] = field(default_factory=list)

    async def recover(self, take_id: str) -> dict[str, Any]:
        self.recovered.append(take_id)
        await asyncio.sleep(0)  # another node's sweep may run meanwhile
        return await self.stop(take_id)


class Silent:
    async def take_event(self, event: str, take: Take) -> None:
        pass


@dataclass
class Nodes:
    """Which nodes are alive, as the test says (Redis' heartbeats in production)."""

    node: str
    dead: set[str]

    async def alive(self, node: str) -> bool:
        return node not in self.dead

    async def gone(self) -> list[str] | None:
        return sorted(self.dead)


@dataclass
class Counter(NoTelemetry):
    counted: list[tuple[Count, str]] = field(default_factory=list)

    def count(self, what: Count, label: str = "", amount: float = 1.0) -> None:
        self.counted.append((what, label))


def service(
    w: World,
    node: str,
    dead: set[str] | None = None,
    recorder: Recorder | None = None,
    telemetry: Counter | None = None,
    nodes: Nodes | None = None,
) -> TakeService:
    return TakeService(
        SqliteTakes(w.db),
        recorder or Recorder(),
        Silent(),
        w.clock,
        FakeScheduler(),
        limits={},
        nodes=nodes or Nodes(node, dead if dead is not None else set()),
        orphan_grace_s=GRACE_S,
        clustered=True,
        telemetry=telemetry or Counter(),
    )


def recording(take_id: str, node: str | None, state: TakeState = TakeState.RECORDING) -> Take:
    return Take(take_id, OWNER, "s1", "formal", state, 1_750_000_000.0 - 30, limit_s=600, node=node)


async def state_of(w: World, take_id: str) -> tuple[TakeState, str | None]:
    found = await SqliteTakes(w.db).get(take_id)
    assert found is not None
    return found.state, found.node


async def test_a_take_records_the_node_that_started_it(w: World) -> None:
    takes = service(w, "node-a")
    started = await takes.start(OWNER, "s1", "formal")
    assert started.node == "node-a" == takes.node
    assert await state_of(w, started.id) == (TakeState.RECORDING, "node-a")


async def test_a_start_up_finishes_only_its_own_takes_and_those_of_no_node(w: World) -> None:
    """The bug: a node (re)starting finished every unfinished take of the shared database,
    the ones other live nodes were recording too."""
    repo = SqliteTakes(w.db)
    await repo.save(recording("theirs", "node-a"))
    await repo.save(recording("mine", "node-b"))
    await repo.save(recording("old", None))
    recorder = Recorder()
    done = await service(w, "node-b", recorder=recorder).reconcile()
    assert sorted(t.id for t in done) == ["mine", "old"]
    assert sorted(recorder.recovered) == ["mine", "old"]
    assert await state_of(w, "theirs") == (TakeState.RECORDING, "node-a")
    assert await state_of(w, "mine") == (TakeState.STORED, "node-b")
    assert await state_of(w, "old") == (TakeState.STORED, "node-b")


async def test_two_nodes_starting_at_once_finish_a_take_of_no_node_once(w: World) -> None:
    await SqliteTakes(w.db).save(recording("old", None))
    recorder = Recorder()
    a, b = service(w, "node-a", recorder=recorder), service(w, "node-b", recorder=recorder)
    done = await asyncio.gather(a.reconcile(), b.reconcile())
    assert sorted(len(d) for d in done) == [0, 1]
    assert recorder.recovered == ["old"]


async def test_a_gone_nodes_take_is_finished_once_the_grace_has_passed(w: World) -> None:
    await SqliteTakes(w.db).save(recording("t1", "node-a"))
    recorder, counter = Recorder(), Counter()
    takes = service(w, "node-b", {"node-a"}, recorder, counter)
    assert await takes.adopt_orphans() == []  # seen dead now: the candidate may come back
    w.clock.advance(GRACE_S - 0.5)
    assert await takes.adopt_orphans() == []
    assert await state_of(w, "t1") == (TakeState.RECORDING, "node-a")
    w.clock.advance(0.5)
    [done] = await takes.adopt_orphans()
    assert recorder.recovered == ["t1"]
    assert (done.state, done.node, done.stop_reason) == (
        TakeState.STORED,
        "node-b",
        "server_restart",
    )
    assert done.stopped_at == w.clock()
    # its last 5 s of media up to when it was finished (30 s + the grace): a gap for the
    # page's copy to fill
    assert done.manifest is not None
    assert done.manifest["gaps"] == [
        {"start_s": 5.0, "end_s": 30.0 + GRACE_S, "reason": "server_restart"}
    ]
    assert await state_of(w, "t1") == (TakeState.STORED, "node-b")
    assert counter.counted == [(Count.TAKES_ADOPTED, "finished")]
    assert await takes.adopt_orphans() == []  # finished: nothing more to do


async def test_live_nodes_and_this_nodes_takes_are_left_alone(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(recording("alive", "node-a"))
    await repo.save(recording("mine", "node-b"))
    await repo.save(recording("old", None))  # a start-up's (reconcile's), not a sweep's
    recorder = Recorder()
    takes = service(w, "node-b", set(), recorder)
    for _ in range(3):
        assert await takes.adopt_orphans() == []
        w.clock.advance(GRACE_S)
    assert recorder.recovered == []


async def test_a_node_back_within_the_grace_keeps_its_take_and_the_grace_starts_again(
    w: World,
) -> None:
    await SqliteTakes(w.db).save(recording("t1", "node-a"))
    nodes = Nodes("node-b", {"node-a"})  # the test decides who is alive as time goes
    takes = service(w, "node-b", nodes=nodes)
    await takes.adopt_orphans()
    w.clock.advance(GRACE_S - 1)
    nodes.dead.clear()  # its heartbeat is back (a network blip)
    assert await takes.adopt_orphans() == []
    nodes.dead.add("node-a")
    w.clock.advance(1)
    assert await takes.adopt_orphans() == []  # dead again: a new grace from now
    w.clock.advance(GRACE_S - 1)
    assert await takes.adopt_orphans() == []
    w.clock.advance(1)
    assert [t.id for t in await takes.adopt_orphans()] == ["t1"]


async def test_a_take_continued_on_another_node_within_the_grace_is_left_there(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(recording("t1", "node-a"))
    takes = service(w, "node-b", {"node-a"})
    await takes.adopt_orphans()
    assert await repo.claim("t1", "node-a", "node-c")  # the candidate came back on node-c
    w.clock.advance(GRACE_S)
    assert await takes.adopt_orphans() == []
    assert await state_of(w, "t1") == (TakeState.RECORDING, "node-c")


async def test_parallel_survivors_finish_a_gone_nodes_take_exactly_once(w: World) -> None:
    await SqliteTakes(w.db).save(recording("t1", "node-a"))
    await SqliteTakes(w.db).save(recording("t2", "node-a", TakeState.FINALIZING))
    recorder = Recorder()
    survivors = [service(w, f"node-{n}", {"node-a"}, recorder) for n in "bcde"]
    await asyncio.gather(*(s.adopt_orphans() for s in survivors))
    w.clock.advance(GRACE_S)
    done = await asyncio.gather(*(s.adopt_orphans() for s in survivors))
    assert sorted(t.id for d in done for t in d) == ["t1", "t2"]
    assert sorted(recorder.recovered) == ["t1", "t2"]
    assert (await state_of(w, "t2"))[0] is TakeState.STORED


async def test_one_machine_finishes_every_take_at_start_up_whatever_its_name_was(
    w: World,
) -> None:
    """The single-machine default (no cluster): as before nodes were kept, a start-up
    finishes every unfinished take, one recorded under another port or hostname too."""
    repo = SqliteTakes(w.db)
    await repo.save(recording("t1", "exam-host:8080"))
    await repo.save(recording("t2", None))
    recorder = Recorder()
    takes = TakeService(
        repo,
        recorder,
        Silent(),
        w.clock,
        FakeScheduler(),
        limits={},
        nodes=SingleNode("exam-host:8443"),
    )
    assert sorted(t.id for t in await takes.reconcile()) == ["t1", "t2"]
    assert await state_of(w, "t1") == (TakeState.STORED, "exam-host:8080")
    assert await state_of(w, "t2") == (TakeState.STORED, None)
    assert sorted(recorder.recovered) == ["t1", "t2"]

"""A take follows its candidate to another node (issue #15): continued only once its node is
gone, by one node only, from the candidate's camera there, with its time limit. Takes on
the real database (SQLite and PostgreSQL), the recorder a stand-in, time moved by hand
(real nodes, media and object store: tests/integration/test_take_failover.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from exams.catalog.take_moves import Outcome, TakeMoves
from exams.catalog.takes import Take, TakeService, TakeState
from storage.takes import SqliteTakes
from tests.support.world import World
from tests.unit.exams.fakes import FakeScheduler, NullRecorder

OWNER = "candidate-1"


@dataclass
class Recorder(NullRecorder):
    """Records nothing; remembers what it was asked to continue."""

    sessions: dict[str, str] = field(default_factory=lambda: {"b1": OWNER, "c1": OWNER})
    resumed: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    async def resume(
        self,
        take_id: str,
        cameras: Mapping[str, str],
        started_at: float,
        limit_s: float | None = None,
    ) -> None:
        await asyncio.sleep(0)  # bringing the dead node's part: another node may run meanwhile
        self.resumed.append((take_id, dict(cameras), started_at))


@dataclass
class Events:
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def take_event(self, event: str, take: Take) -> None:
        self.seen.append((event, take.id))


@dataclass
class Nodes:
    node: str
    dead: set[str]

    async def alive(self, node: str) -> bool:
        return node not in self.dead

    async def gone(self) -> list[str] | None:
        return sorted(self.dead)


@dataclass
class Node:
    takes: TakeService
    moves: TakeMoves
    recorder: Recorder
    events: Events
    scheduler: FakeScheduler


def node(w: World, name: str, dead: set[str], recorder: Recorder | None = None) -> Node:
    recorder = recorder or Recorder()
    nodes, events, scheduler, repo = Nodes(name, dead), Events(), FakeScheduler(), SqliteTakes(w.db)
    takes = TakeService(repo, recorder, events, w.clock, scheduler, limits={}, nodes=nodes)
    return Node(takes, TakeMoves(takes, repo, nodes, recorder), recorder, events, scheduler)


async def recording_on_a(w: World, take_id: str = "t1", limit_s: float = 600) -> Take:
    take = Take(
        take_id,
        OWNER,
        "a1",
        "formal",
        TakeState.RECORDING,
        w.clock() - 30,
        limit_s=limit_s,
        node="a",
    )
    await SqliteTakes(w.db).save(take)
    return take


async def node_of(w: World, take_id: str) -> str | None:
    found = await SqliteTakes(w.db).get(take_id)
    assert found is not None
    return found.node


async def test_a_take_continues_here_only_once_its_node_is_gone(w: World) -> None:
    take = await recording_on_a(w)
    dead: set[str] = set()
    b = node(w, "b", dead)
    assert await b.moves.follow(OWNER) is Outcome.WAIT  # a holds its lease: never from it
    assert b.recorder.resumed == [] and await node_of(w, take.id) == "a"
    dead.add("a")
    assert await b.moves.follow(OWNER) is Outcome.CONTINUED
    assert b.recorder.resumed == [(take.id, {"primary": "b1"}, take.started_at)]
    stored = await SqliteTakes(w.db).get(take.id)
    assert stored is not None
    assert (stored.node, stored.session_id, stored.state) == ("b", "b1", TakeState.RECORDING)
    assert b.events.seen == [("take_started", take.id)]
    assert b.takes.recording_in("b1") == take.id
    assert await b.moves.follow(OWNER) is Outcome.NOTHING  # it is this node's now
    done = await b.takes.stop(take.id, owner=OWNER)  # stopped here, as any take of this node
    assert done.state is TakeState.STORED and done.stop_reason == "stopped"


async def test_two_nodes_at_once_one_continues_the_take(w: World) -> None:
    take = await recording_on_a(w)
    dead: set[str] = set()
    b, c = node(w, "b", dead), node(w, "c", dead)
    # The candidate's pages reached both (a test's doing: sockets are routed by candidate).
    assert [await b.moves.follow(OWNER), await c.moves.follow(OWNER)] == [Outcome.WAIT] * 2
    dead.add("a")  # a's lease runs out: both look again at once
    outcomes = await asyncio.gather(b.moves.follow(OWNER), c.moves.follow(OWNER))
    # The other lost the claim, or read the take once it was the winner's: taken either way.
    assert sorted(outcomes) == sorted([Outcome.CONTINUED, Outcome.TAKEN]), outcomes
    winner = b if outcomes[0] is Outcome.CONTINUED else c
    loser = c if winner is b else b
    assert len(winner.recorder.resumed) == 1 and loser.recorder.resumed == []
    assert await node_of(w, take.id) == ("b" if winner is b else "c")
    # Asked again, the loser never claims it from the live winner.
    assert await loser.moves.follow(OWNER) is Outcome.WAIT
    assert await node_of(w, take.id) == ("b" if winner is b else "c")


async def test_its_time_limit_holds_and_one_past_stops_it_at_once(w: World) -> None:
    take = await recording_on_a(w, limit_s=40)  # started 30 s ago: 10 s left
    b = node(w, "b", {"a"})
    assert await b.moves.follow(OWNER) is Outcome.CONTINUED
    [timer] = b.scheduler.live
    assert timer.when == take.started_at + 40
    late = await recording_on_a(w, "t2", limit_s=20)  # its limit passed while nobody recorded
    c = node(w, "c", {"a"}, Recorder({"c1": OWNER}))
    await SqliteTakes(w.db).save(replace(take, state=TakeState.STORED))
    assert await c.moves.follow(OWNER) is Outcome.CONTINUED
    await c.scheduler.run_until(w.clock())
    stopped = await SqliteTakes(w.db).get(late.id)
    assert stopped is not None
    assert (stopped.state, stopped.stop_reason) == (TakeState.STORED, "time_limit")


async def test_takes_of_no_node_and_a_camera_busy_here_are_left_alone(w: World) -> None:
    old = Take("t0", OWNER, "a1", "formal", TakeState.RECORDING, w.clock() - 30)  # node None
    await SqliteTakes(w.db).save(old)
    b = node(w, "b", {"a"})
    assert await b.moves.follow(OWNER) is Outcome.NOTHING  # start-up reconcile's, not ours
    busy = await b.takes.start(OWNER, "b1", "rehearsal")
    take = await recording_on_a(w)
    assert await b.moves.follow(OWNER) is Outcome.NOTHING  # b1 records another take
    assert await node_of(w, take.id) == "a"  # not claimed: the orphan sweep finishes it
    assert b.takes.recording_in("b1") == busy.id


async def test_a_node_taken_for_dead_lets_go_of_the_take_and_writes_nothing(w: World) -> None:
    """a's lease ran out while it still recorded (cut off from Redis): b continued the take.
    When a stops it, b's record stands."""
    repo = SqliteTakes(w.db)
    a = node(w, "a", set(), Recorder({"a1": OWNER}))
    take = await a.takes.start(OWNER, "a1", "formal", limit_s=600)
    b = node(w, "b", {"a"})
    assert await b.moves.follow(OWNER) is Outcome.CONTINUED
    let_go = await a.takes.stop_session("a1", "connection_lost")
    assert let_go is not None and let_go.node == "b"
    assert a.takes.recording_in("a1") is None and a.scheduler.live == []
    stored = await repo.get(take.id)
    assert stored is not None
    assert (stored.state, stored.node, stored.session_id) == (TakeState.RECORDING, "b", "b1")
    done = await b.takes.stop(take.id, owner=OWNER)
    assert done.state is TakeState.STORED

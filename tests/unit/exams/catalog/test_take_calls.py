"""A stop asked here of a take another node records (issue #15): asked of that node, then
answered with the take once the records say it is stored; a gone node or one that does not
answer is a clear 503, and nothing is written here. Takes on the real database (SQLite and
PostgreSQL); the other node a stand-in that stores the take when asked, or never does
(real nodes and Redis: tests/integration/test_take_calls.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from exams.catalog.take_calls import RemoteStops
from exams.catalog.takes import Take, TakeState
from exams.shared.errors import Busy
from storage.takes import SqliteTakes
from tests.support.world import World


@dataclass
class Nodes:
    node: str = "b"
    dead: set[str] = field(default_factory=set)

    async def alive(self, node: str) -> bool:
        return node not in self.dead

    async def gone(self) -> list[str] | None:
        return sorted(self.dead)


@dataclass
class OtherNode:
    """Node a: stores the take when asked (``answers``), or never."""

    repo: SqliteTakes
    answers: bool = True
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    async def ask_stop(self, node: str, take_id: str, reason: str) -> None:
        self.asked.append((node, take_id, reason))
        if self.answers:
            take = await self.repo.get(take_id)
            assert take is not None
            await self.repo.save(replace(take, state=TakeState.STORED, stop_reason=reason))


async def no_wait(seconds: float) -> None:
    pass


async def recording_on_a(repo: SqliteTakes, w: World) -> Take:
    take = Take("t1", "owner", "a1", "formal", TakeState.RECORDING, w.clock(), node="a")
    await repo.save(take)
    return take


async def test_the_recording_node_is_asked_and_its_stored_take_is_the_answer(w: World) -> None:
    repo = SqliteTakes(w.db)
    take = await recording_on_a(repo, w)
    other = OtherNode(repo)
    stored = await RemoteStops(repo, Nodes(), other, no_wait).stop(take, "ended_by_proctor")
    assert other.asked == [("a", "t1", "ended_by_proctor")]
    assert stored.state is TakeState.STORED and stored.stop_reason == "ended_by_proctor"


async def test_a_node_that_does_not_answer_is_a_clear_busy(w: World) -> None:
    repo = SqliteTakes(w.db)
    take = await recording_on_a(repo, w)
    other = OtherNode(repo, answers=False)
    with pytest.raises(Busy, match="did not answer"):
        await RemoteStops(repo, Nodes(), other, no_wait, wait_s=1, poll_s=0.1).stop(take, "x")
    assert len(other.asked) == 1
    assert (await repo.get("t1")) == take  # nothing written here


async def test_a_gone_node_is_not_asked(w: World) -> None:
    repo = SqliteTakes(w.db)
    take = await recording_on_a(repo, w)
    other = OtherNode(repo)
    with pytest.raises(Busy, match="gone"):
        await RemoteStops(repo, Nodes(dead={"a"}), other, no_wait).stop(take, "stopped")
    assert other.asked == [] and (await repo.get("t1")) == take

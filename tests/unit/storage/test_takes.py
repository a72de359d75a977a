"""Takes know their node (issue #15), on SQLite and on PostgreSQL: the node is kept, a
start-up lists only its own node's unfinished takes (and those of no node), and a take
moves from a node to another in one atomic step that exactly one caller wins."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from exams.catalog.takes import Take, TakeState
from storage.takes import SqliteTakes
from tests.support.world import World

ROUNDS = 10


def take(take_id: str, node: str | None, state: TakeState = TakeState.RECORDING) -> Take:
    return Take(
        id=take_id,
        owner="candidate-1",
        session_id="s1",
        purpose="formal",
        state=state,
        started_at=1_750_000_000.0,
        limit_s=600.0,
        node=node,
    )


async def test_a_take_keeps_its_node_and_a_save_moves_it(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(take("t1", "node-a"))
    await repo.save(take("t0", None))
    found = await repo.get("t1")
    assert found is not None and found.node == "node-a"
    legacy = await repo.get("t0")
    assert legacy is not None and legacy.node is None
    await repo.save(replace(take("t1", "node-b"), state=TakeState.FINALIZING))
    moved = await repo.get("t1")
    assert moved is not None and (moved.node, moved.state) == ("node-b", TakeState.FINALIZING)


async def test_a_node_lists_only_its_own_unfinished_takes_and_those_of_no_node(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(take("mine", "node-a"))
    await repo.save(take("mine-closing", "node-a", TakeState.FINALIZING))
    await repo.save(take("mine-done", "node-a", TakeState.STORED))
    await repo.save(take("theirs", "node-b"))
    await repo.save(take("old", None))
    assert sorted(t.id for t in await repo.unfinished("node-a")) == [
        "mine",
        "mine-closing",
        "old",
    ]
    assert sorted(t.id for t in await repo.unfinished("node-b")) == ["old", "theirs"]
    assert sorted(t.id for t in await repo.unfinished()) == [
        "mine",
        "mine-closing",
        "old",
        "theirs",
    ]


async def test_a_claim_moves_a_recording_take_only_from_the_node_that_has_it(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(take("t1", "node-a"))
    assert not await repo.claim("t1", "node-c", "node-b")  # not node-c's
    assert not await repo.claim("t1", None, "node-b")  # it has a node
    assert await repo.claim("t1", "node-a", "node-b")
    assert not await repo.claim("t1", "node-a", "node-c")  # already moved
    found = await repo.get("t1")
    assert found is not None and found.node == "node-b"
    assert not await repo.claim("missing", "node-a", "node-b")


async def test_a_claim_takes_a_take_of_no_node_and_never_a_stopped_one(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(take("old", None))
    await repo.save(take("closing", "node-a", TakeState.FINALIZING))
    await repo.save(take("done", "node-a", TakeState.STORED))
    assert await repo.claim("old", None, "node-b")
    assert not await repo.claim("closing", "node-a", "node-b")  # only a recording one...
    assert await repo.claim("closing", "node-a", "node-b", state=TakeState.FINALIZING)  # asked
    assert not await repo.claim("done", "node-a", "node-b")
    assert not await repo.claim("done", "node-a", "node-b", state=TakeState.FINALIZING)
    found = [await repo.get(t) for t in ("old", "closing", "done")]
    assert [t.node for t in found if t is not None] == ["node-b", "node-b", "node-a"]


async def test_parallel_claims_of_one_take_exactly_one_wins(w: World) -> None:
    repo = SqliteTakes(w.db)
    for n in range(ROUNDS):
        await repo.save(take(f"t{n}", "node-dead"))
        survivors = [f"node-{i}" for i in range(6)]
        won = await asyncio.gather(*(repo.claim(f"t{n}", "node-dead", s) for s in survivors))
        assert won.count(True) == 1, won
        found = await repo.get(f"t{n}")
        assert found is not None and found.node == survivors[won.index(True)]


async def test_a_take_keeps_its_quality_report_and_none_until_it_has_one(w: World) -> None:
    repo = SqliteTakes(w.db)
    await repo.save(take("t1", "node-a"))
    found = await repo.get("t1")
    assert found is not None and found.quality is None
    report = {
        "version": 1,
        "duration_s": 12.5,
        "lost_s": 3.2,
        "cameras": {"primary": {"video": {"frames": 300, "lost": []}, "audio": {"present": True}}},
    }
    await repo.save(replace(take("t1", "node-a", TakeState.STORED), quality=report))
    found = await repo.get("t1")
    assert found is not None and found.quality == report
    assert found.summary()["quality"] == report
    assert (await repo.of_owner("candidate-1", "formal"))[0].quality == report

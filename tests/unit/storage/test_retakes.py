"""Retake grants on SQLite and PostgreSQL: one per damaged take, however many claim it at
once (a unique key, one statement), on both backends."""

from __future__ import annotations

import asyncio

from exams.answering.retakes import RetakeGrant
from exams.catalog.take_quality import Damage, Lost
from storage.retakes import SqliteRetakes
from tests.support.world import World

ROUNDS = 20


def grant(take_id: str, at: float, attempt_id: str = "a1") -> RetakeGrant:
    lost = Damage("lost", "primary", 3.2, (Lost(12.0, 15.2, "network"),))
    return RetakeGrant(take_id, attempt_id, "c1", (lost,), at)


async def test_one_claim_of_many_at_once_wins(w: World) -> None:
    ledger = SqliteRetakes(w.db)
    won = await asyncio.gather(*(ledger.claim(grant("t1", 100.0 + i)) for i in range(ROUNDS)))
    assert sorted(won) == [False] * (ROUNDS - 1) + [True]
    [row] = await ledger.of_attempt("a1")
    assert row["take_id"] == "t1" and row["candidate_id"] == "c1"
    assert row["damage"][0]["text"] == "this take lost 3.2 s to the network (0:12-0:15)"


async def test_each_damaged_take_has_its_own_grant(w: World) -> None:
    ledger = SqliteRetakes(w.db)
    assert await ledger.claim(grant("t1", 1.0))
    assert await ledger.claim(grant("t2", 2.0))
    assert not await ledger.claim(grant("t1", 3.0))
    assert [r["take_id"] for r in await ledger.of_attempt("a1")] == ["t1", "t2"]
    assert await ledger.of_attempt("a2") == []

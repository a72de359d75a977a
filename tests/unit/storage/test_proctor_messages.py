"""Proctors' messages and raised hands in the database: kept across a reload (a new connection), on
the answer's record, and a read receipt written once even when sent many times at once."""

from __future__ import annotations

import asyncio

from exams.proctoring.notes import HAND, MESSAGE, Note
from storage.proctor_messages import SqliteNotes
from tests.support.postgres import another_connection
from tests.support.world import World


def note(note_id: str, kind: str = MESSAGE, at: float = 10.0, candidate: str = "c1") -> Note:
    return Note(note_id, kind, "e1", candidate, "p1", "请调整摄像头", at, "a1", "q1")


async def test_messages_and_receipts_survive_a_reload(w: World) -> None:
    notes = SqliteNotes(w.db)
    await notes.add(note("m1"))
    await notes.add(note("h1", HAND, at=11.0))
    await notes.add(note("m2", at=12.0, candidate="c2"))
    reads = await asyncio.gather(*(notes.mark_read("m1", "c1", 20.0 + i) for i in range(5)))
    receipts = [r.read_at for r in reads if r is not None]
    assert len(receipts) == 1 and receipts[0] in {20.0 + i for i in range(5)}  # one receipt
    assert await notes.mark_read("m2", "c1", 30.0) is None  # not this candidate's
    assert await notes.mark_read("h1", "c1", 30.0) is None  # a hand has no receipt
    assert await notes.answer_hands("e1", "c1", 40.0) == 1

    again = another_connection(w.db)  # another connection: what a restarted server reads
    await again.open()
    try:
        stored = SqliteNotes(again)
        mine = await stored.of_candidate("e1", "c1")
        assert [(n.id, n.kind, n.read_at) for n in mine] == [
            ("m1", MESSAGE, receipts[0]),
            ("h1", HAND, 40.0),
        ]
        assert mine[0] == Note(**{**note("m1").to_json(), "read_at": receipts[0]})
        assert [n.id for n in await stored.of_attempt("a1")] == ["m1", "h1", "m2"]
        assert await stored.get("nope") is None
    finally:
        await again.close()

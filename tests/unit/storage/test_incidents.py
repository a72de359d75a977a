"""Incidents in SQLite: a row round-trips, an end is written once, a decision lands on the row
as it is, and a restart ends what was left active."""

from __future__ import annotations

import asyncio

from exams.catalog.monitoring import AlertKind
from exams.proctoring.incident import Incident
from storage.incidents import SqliteIncidents
from tests.support.world import World

AT = 1_750_000_000.0


def incident(incident_id: str, candidate_id: str = "c1", **extra: object) -> Incident:
    data: dict[str, object] = {
        "id": incident_id,
        "exam_id": "e1",
        "candidate_id": candidate_id,
        "kind": AlertKind.MANY_FACES,
        "camera": "primary",
        "raised_at": AT + 3,
        "started_at": AT,
        "attempt_id": "a1",
        "question_id": "q1",
        "take_id": "t1",
        "take_offset_s": 1.25,
        "detail": {"faces": 2, "说明": "两人"},
    }
    return Incident(**(data | extra))  # type: ignore[arg-type]


async def test_rows_round_trip_and_are_found_by_answer_candidate_and_exam(w: World) -> None:
    store = SqliteIncidents(w.db)
    first = incident("i1")
    later = incident("i2", "c2", started_at=AT + 10, attempt_id="a2", camera=None)
    await store.add(later)
    await store.add(first)
    assert await store.get("i1") == first
    assert (await store.get("i1")).detail == {"faces": 2, "说明": "两人"}  # type: ignore[union-attr]
    assert await store.get("nope") is None
    assert await store.of_attempt("a1") == [first]
    assert await store.of_candidate("e1", "c2") == [later]
    assert [i.id for i in await store.of_exam("e1")] == ["i1", "i2"]
    assert [i.id for i in await store.undecided("e1", "c1")] == ["i1"]


async def test_an_end_is_written_once_and_a_decision_keeps_it(w: World) -> None:
    store = SqliteIncidents(w.db)
    await store.add(incident("i1"))
    ends = await asyncio.gather(*(store.end("i1", AT + 5 + n, "ended") for n in range(5)))
    # One end is written, whichever racer came first (SQLite: the first asked; PostgreSQL:
    # the first to reach the server); every racer is told that one.
    written = list({e.ended_at for e in ends if e is not None})
    assert len(written) == 1 and written[0] in {AT + 5 + n for n in range(5)}
    decided = await store.dispose("i1", "confirmed", "p1", AT + 9, "两个人")
    assert decided is not None
    assert (decided.status, decided.disposed_by, decided.note, decided.ended_at) == (
        "confirmed",
        "p1",
        "两个人",
        written[0],
    )
    assert await store.undecided("e1") == []
    assert await store.dispose("nope", "confirmed", "p1", AT, "") is None


async def test_a_restart_ends_only_what_was_active(w: World) -> None:
    store = SqliteIncidents(w.db)
    await store.add(incident("i1"))
    await store.add(incident("i2", ended_at=AT + 1))
    assert await store.end_active(AT + 100, "server_restart") == 1
    assert (await store.get("i1")).ended_at == AT + 100  # type: ignore[union-attr]
    assert (await store.get("i2")).ended_at == AT + 1  # type: ignore[union-attr]

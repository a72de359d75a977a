"""Retake grants in SQLite/PostgreSQL: implements ``exams.answering.retakes.RetakeLedger``.

One row per damaged take (its id is the primary key): the first claim inserts it, every
later one (the same take stored twice, on another node) finds it there and inserts
nothing, in one statement.
"""

from __future__ import annotations

import json
from typing import Any

from exams.answering.retakes import RetakeGrant
from storage.sql import Connection, Database, Row


class SqliteRetakes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, grant: RetakeGrant) -> bool:
        row = (
            grant.take_id,
            grant.attempt_id,
            grant.candidate_id,
            json.dumps([d.to_dict() for d in grant.damage], ensure_ascii=False),
            grant.granted_at,
        )

        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO retake_grants (take_id, attempt_id, candidate_id, damage, "
                "granted_at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                row,
            )
            return cursor.rowcount == 1

        return await self._db.call(write)

    async def of_attempt(self, attempt_id: str) -> list[dict[str, Any]]:
        """The grants of one attempt, oldest first (for people and tests)."""

        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                "SELECT * FROM retake_grants WHERE attempt_id = ? ORDER BY granted_at, take_id",
                (attempt_id,),
            ).fetchall()

        return [
            {
                "take_id": r["take_id"],
                "attempt_id": r["attempt_id"],
                "candidate_id": r["candidate_id"],
                "damage": json.loads(r["damage"]),
                "granted_at": r["granted_at"],
            }
            for r in await self._db.call(read)
        ]

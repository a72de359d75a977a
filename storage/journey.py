"""Journey steps in SQLite: implements ``exams.admission.journey.JourneyRepository``."""

from __future__ import annotations

import sqlite3

from exams.admission.journey import Step, StepRecord
from storage.db import Database


class SqliteJourney:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def records(self, account_id: str) -> list[StepRecord]:
        def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            return conn.execute(
                "SELECT * FROM journey_steps WHERE account_id = ?", (account_id,)
            ).fetchall()

        return [
            StepRecord(
                row["account_id"], Step(row["step"]), row["done_at"], row["detail"], row["unit_id"]
            )
            for row in await self._db.call(read)
        ]

    async def save(self, record: StepRecord) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO journey_steps (account_id, unit_id, step, done_at, detail) "
                "VALUES (?,?,?,?,?)",
                (
                    record.account_id,
                    record.unit_id,
                    record.step.value,
                    record.done_at,
                    record.detail,
                ),
            )

        await self._db.call(write)

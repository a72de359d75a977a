"""Journey steps in SQLite: implements ``exams.admission.journey.JourneyRepository``."""

from __future__ import annotations

from exams.admission.journey import Step, StepRecord
from storage.sql import Connection, Database, Row


class SqliteJourney:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def records(self, account_id: str) -> list[StepRecord]:
        def read(conn: Connection) -> list[Row]:
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
        def write(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO journey_steps (account_id, unit_id, step, done_at, detail) "
                "VALUES (?,?,?,?,?) ON CONFLICT (account_id, unit_id, step) DO UPDATE SET "
                "done_at = excluded.done_at, detail = excluded.detail",
                (
                    record.account_id,
                    record.unit_id,
                    record.step.value,
                    record.done_at,
                    record.detail,
                ),
            )

        await self._db.call(write)

"""Attempts in SQLite: implements ``exams.answering.attempt_runner.AttemptRepository``.

One row per candidate x question, the attempt as its :meth:`~exams.catalog.attempts.Attempt.to_dict`
JSON. ``settled`` (submitted or closed) marks the rows no timer can concern, so
a restart loads only the others. ``camera`` marks the attempt that reads or
records (:func:`~exams.catalog.attempts.holds_camera`); a unique index lets one
attempt per candidate x exam hold it, across processes too.
"""

from __future__ import annotations

import json

from exams.catalog.attempts import Attempt, holds_camera
from exams.shared.errors import CameraBusy, Conflict
from storage.sql import Connection, Database, IntegrityError, Row


def _attempt(row: Row) -> Attempt:
    return Attempt.from_dict(json.loads(row["data"]))


class SqliteAttempts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, attempt: Attempt, now: float) -> None:
        settled = attempt.submitted or attempt.closed_at is not None
        row = (
            attempt.id,
            attempt.exam_id,
            attempt.question_id,
            attempt.candidate_id,
            json.dumps(attempt.to_dict(), ensure_ascii=False),
            int(settled),
            int(holds_camera(attempt)),
            now,
        )

        def write(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO attempts (id, exam_id, question_id, account_id, data, settled, "
                "camera, updated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "data=excluded.data, settled=excluded.settled, camera=excluded.camera, "
                "updated_at=excluded.updated_at",
                row,
            )

        try:
            await self._db.call(write)
        except IntegrityError as exc:
            if exc.is_unique("attempts", "account_id", "exam_id"):
                raise CameraBusy(
                    "another question of this exam is being read or recorded; finish it first"
                ) from exc
            raise Conflict("this question has an attempt already; reload the question") from exc

    async def get(self, attempt_id: str) -> Attempt | None:
        found = await self._many("SELECT data FROM attempts WHERE id = ?", (attempt_id,))
        return found[0] if found else None

    async def find(self, exam_id: str, question_id: str, candidate_id: str) -> Attempt | None:
        found = await self._many(
            "SELECT data FROM attempts WHERE exam_id = ? AND question_id = ? AND account_id = ?",
            (exam_id, question_id, candidate_id),
        )
        return found[0] if found else None

    async def of_candidate(self, candidate_id: str, exam_id: str | None = None) -> list[Attempt]:
        if exam_id is None:
            return await self._many(
                "SELECT data FROM attempts WHERE account_id = ?", (candidate_id,)
            )
        return await self._many(
            "SELECT data FROM attempts WHERE account_id = ? AND exam_id = ?",
            (candidate_id, exam_id),
        )

    async def of_exam(self, exam_id: str) -> list[Attempt]:
        return await self._many(
            "SELECT data FROM attempts WHERE exam_id = ? ORDER BY account_id", (exam_id,)
        )

    async def unsettled(self) -> list[Attempt]:
        return await self._many("SELECT data FROM attempts WHERE settled = 0", ())

    async def any_for_exam(self, exam_id: str) -> bool:
        def read(conn: Connection) -> bool:
            row = conn.execute("SELECT 1 FROM attempts WHERE exam_id = ? LIMIT 1", (exam_id,))
            return row.fetchone() is not None

        return await self._db.call(read)

    async def _many(self, sql: str, args: tuple[object, ...]) -> list[Attempt]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(sql, args).fetchall()

        return [_attempt(row) for row in await self._db.call(read)]

"""Exams and proctor assignments in SQLite: implements ``exams.catalog.catalog.ExamRepository``.

An exam is stored as the domain's :meth:`~exams.catalog.exam_rules.Exam.to_dict` JSON, with
the columns the queries need beside it (its unit, whether it has an online
question: the device-check hook asks that for every journey check).
"""

from __future__ import annotations

import json

from exams.catalog.exam_rules import Exam, needs_device_check
from storage.sql import Connection, Database, Row


def exam_from_json(text: str) -> Exam:
    """Rebuild an exam from what :class:`SqliteExams` saved (``to_dict`` round-trips)."""
    return Exam.from_dict(json.loads(text))


class SqliteExams:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, exam: Exam, now: float) -> None:
        row = (
            exam.id,
            exam.unit_id,
            json.dumps(exam.to_dict(), ensure_ascii=False),
            int(needs_device_check(exam)),
            now,
            now,
        )

        def write(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO exams (id, unit_id, data, has_online, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET data=excluded.data, "
                "has_online=excluded.has_online, updated_at=excluded.updated_at",
                row,
            )

        await self._db.call(write)

    async def get(self, exam_id: str) -> Exam | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT data FROM exams WHERE id = ?", (exam_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        return None if row is None else exam_from_json(row["data"])

    async def for_unit(self, unit_id: str) -> list[Exam]:
        return await self._many(
            "SELECT data FROM exams WHERE unit_id = ? ORDER BY created_at, id", (unit_id,)
        )

    async def for_proctor(self, account_id: str) -> list[Exam]:
        return await self._many(
            "SELECT e.data FROM exams e JOIN exam_proctors p ON p.exam_id = e.id "
            "WHERE p.account_id = ? ORDER BY e.created_at, e.id",
            (account_id,),
        )

    async def _many(self, sql: str, args: tuple[object, ...]) -> list[Exam]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(sql, args).fetchall()

        return [exam_from_json(row["data"]) for row in await self._db.call(read)]

    async def device_check_required(self, unit_id: str) -> bool:
        """True unless the unit has exams and none of them has an online question."""

        def read(conn: Connection) -> tuple[int, int]:
            row = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(has_online), 0) FROM exams WHERE unit_id = ?",
                (unit_id,),
            ).fetchone()
            return int(row[0]), int(row[1])

        count, online = await self._db.call(read)
        return count == 0 or online > 0

    async def assign_proctor(self, exam_id: str, account_id: str, now: float) -> None:
        await self._db.call(
            lambda conn: conn.execute(
                "INSERT INTO exam_proctors (exam_id, account_id, assigned_at) "
                "VALUES (?,?,?) ON CONFLICT DO NOTHING",
                (exam_id, account_id, now),
            )
        )

    async def unassign_proctor(self, exam_id: str, account_id: str) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM exam_proctors WHERE exam_id = ? AND account_id = ?",
                (exam_id, account_id),
            )
            return cursor.rowcount > 0

        return await self._db.call(write)

    async def proctors(self, exam_id: str) -> list[tuple[str, float]]:
        """(account id, assigned at) of the exam's proctors."""

        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                "SELECT account_id, assigned_at FROM exam_proctors WHERE exam_id = ? "
                "ORDER BY assigned_at",
                (exam_id,),
            ).fetchall()

        return [(row["account_id"], row["assigned_at"]) for row in await self._db.call(read)]

    async def is_proctor(self, exam_id: str, account_id: str) -> bool:
        def read(conn: Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM exam_proctors WHERE exam_id = ? AND account_id = ?",
                (exam_id, account_id),
            ).fetchone()
            return row is not None

        return await self._db.call(read)

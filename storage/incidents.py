"""Incidents in SQLite: implements ``exams.proctoring.incident_ports.IncidentStore``.

One row per incident, its fields as columns (the timeline queries read them:
by attempt, by exam and candidate, by exam), the detector's detail as JSON.
Ending and disposing are single ``UPDATE … RETURNING`` statements, so an end
never overwrites an earlier one and a decision always lands on the row as it is.
"""

from __future__ import annotations

import json
from typing import Any

from exams.proctoring.incident import Incident
from storage.sql import Connection, Database, Row

# The table: storage.db.MIGRATIONS ("incidents").
COLUMNS = (
    "id, exam_id, candidate_id, kind, camera, raised_at, started_at, attempt_id, question_id, "
    "take_id, take_offset_s, ended_at, detail, status, disposed_by, disposed_at, note"
)
ORDER = " ORDER BY started_at, raised_at, id"


def _incident(row: Row) -> Incident:
    data: dict[str, Any] = {k: row[k] for k in row.keys() if k != "end_reason"}
    data["detail"] = json.loads(data["detail"])
    return Incident.from_dict(data)


class SqliteIncidents:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, incident: Incident) -> None:
        i = incident
        row = (
            i.id,
            i.exam_id,
            i.candidate_id,
            i.kind.value,
            i.camera,
            i.raised_at,
            i.started_at,
            i.attempt_id,
            i.question_id,
            i.take_id,
            i.take_offset_s,
            i.ended_at,
            json.dumps(i.detail, ensure_ascii=False),
            i.status,
            i.disposed_by,
            i.disposed_at,
            i.note,
        )
        marks = ",".join("?" * len(row))
        await self._db.call(
            lambda conn: conn.execute(f"INSERT INTO incidents ({COLUMNS}) VALUES ({marks})", row)
        )

    async def get(self, incident_id: str) -> Incident | None:
        found = await self._many(f"SELECT {COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
        return found[0] if found else None

    async def end(self, incident_id: str, ended_at: float, reason: str) -> Incident | None:
        def write(conn: Connection) -> Row | None:
            conn.execute(
                "UPDATE incidents SET ended_at = ?, end_reason = ? "
                "WHERE id = ? AND ended_at IS NULL",
                (ended_at, reason, incident_id),
            )
            row: Row | None = conn.execute(
                f"SELECT {COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            return row

        row = await self._db.call(write)
        return None if row is None else _incident(row)

    async def dispose(
        self, incident_id: str, status: str, by: str, at: float, note: str
    ) -> Incident | None:
        def write(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "UPDATE incidents SET status = ?, disposed_by = ?, disposed_at = ?, note = ? "
                f"WHERE id = ? RETURNING {COLUMNS}",
                (status, by, at, note, incident_id),
            ).fetchone()
            return row

        row = await self._db.call(write)
        return None if row is None else _incident(row)

    async def of_attempt(self, attempt_id: str) -> list[Incident]:
        return await self._many(
            f"SELECT {COLUMNS} FROM incidents WHERE attempt_id = ?" + ORDER, (attempt_id,)
        )

    async def of_candidate(self, exam_id: str, candidate_id: str) -> list[Incident]:
        return await self._many(
            f"SELECT {COLUMNS} FROM incidents WHERE exam_id = ? AND candidate_id = ?" + ORDER,
            (exam_id, candidate_id),
        )

    async def of_exam(self, exam_id: str) -> list[Incident]:
        return await self._many(
            f"SELECT {COLUMNS} FROM incidents WHERE exam_id = ?" + ORDER, (exam_id,)
        )

    async def undecided(self, exam_id: str, candidate_id: str | None = None) -> list[Incident]:
        if candidate_id is None:
            return await self._many(
                f"SELECT {COLUMNS} FROM incidents WHERE exam_id = ? AND status = 'open'" + ORDER,
                (exam_id,),
            )
        return await self._many(
            f"SELECT {COLUMNS} FROM incidents WHERE exam_id = ? AND status = 'open' "
            "AND candidate_id = ?" + ORDER,
            (exam_id, candidate_id),
        )

    async def end_active(self, ended_at: float, reason: str) -> int:
        def write(conn: Connection) -> int:
            cursor = conn.execute(
                "UPDATE incidents SET ended_at = GREATEST(?, started_at), end_reason = ? "
                "WHERE ended_at IS NULL",
                (ended_at, reason),
            )
            return cursor.rowcount

        return await self._db.call(write)

    async def _many(self, sql: str, args: tuple[object, ...]) -> list[Incident]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(sql, args).fetchall()

        return [_incident(row) for row in await self._db.call(read)]

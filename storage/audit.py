"""The audit log in SQLite: implements ``exams.shared.ports.AuditLog`` (append-only)."""

from __future__ import annotations

import json

from exams.shared.ports import Entry, Event
from storage.sql import Connection, Database, Row


class SqliteAudit:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, entry: Entry) -> None:
        row = (
            entry.at,
            entry.event.value,
            entry.account_id,
            entry.client,
            json.dumps(entry.detail, ensure_ascii=False),
        )

        def write(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO audit_log (at, event, account_id, client, detail) VALUES (?,?,?,?,?)",
                row,
            )

        await self._db.call(write)

    async def recent(self, limit: int = 100, account_id: str | None = None) -> list[Entry]:
        def read(conn: Connection) -> list[Row]:
            if account_id is None:
                return conn.execute(
                    "SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            return conn.execute(
                "SELECT * FROM audit_log WHERE account_id = ? ORDER BY id DESC LIMIT ?",
                (account_id, limit),
            ).fetchall()

        return [
            Entry(
                event=Event(row["event"]),
                account_id=row["account_id"],
                client=row["client"],
                detail=json.loads(row["detail"]),
                at=row["at"],
            )
            for row in await self._db.call(read)
        ]

"""Units and admitted lists in SQLite: implements ``exams.admission.units.UnitRepository``."""

from __future__ import annotations

from exams.admission.units import ListInfo, Unit
from exams.identity.admitted_csv import AdmittedEntry
from exams.shared.errors import Conflict
from storage.sql import Connection, Database, IntegrityError, Row


class SqliteUnits:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, unit: Unit) -> None:
        def write(conn: Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO units (id, name, created_at) VALUES (?,?,?)",
                    (unit.id, unit.name, unit.created_at),
                )
            except IntegrityError as exc:  # two creations of one id at once
                raise Conflict(f"unit {unit.id} exists already") from exc

        await self._db.call(write)

    async def get(self, unit_id: str) -> Unit | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT id, name, created_at FROM units WHERE id = ?", (unit_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        return None if row is None else Unit(row["id"], row["name"], row["created_at"])

    async def all(self) -> list[Unit]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute("SELECT id, name, created_at FROM units ORDER BY id").fetchall()

        return [Unit(r["id"], r["name"], r["created_at"]) for r in await self._db.call(read)]

    async def replace_list(self, info: ListInfo, entries: list[AdmittedEntry]) -> None:
        rows = [
            (info.unit_id, e.id_type, e.id_number, e.name, e.name_key, e.line, e.phone)
            for e in entries
        ]

        def write(conn: Connection) -> None:
            conn.execute("DELETE FROM admitted_entries WHERE unit_id = ?", (info.unit_id,))
            conn.executemany(
                "INSERT INTO admitted_entries (unit_id, id_type, id_number, name, name_key, "
                "line, phone) VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            conn.execute(
                "INSERT INTO admitted_lists (unit_id, imported_at, imported_by, entries) "
                "VALUES (?,?,?,?) ON CONFLICT (unit_id) DO UPDATE SET "
                "imported_at = excluded.imported_at, imported_by = excluded.imported_by, "
                "entries = excluded.entries",
                (info.unit_id, info.imported_at, info.imported_by, info.entries),
            )

        await self._db.call(write)

    async def list_info(self, unit_id: str) -> ListInfo | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT * FROM admitted_lists WHERE unit_id = ?", (unit_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        if row is None:
            return None
        return ListInfo(row["unit_id"], row["imported_at"], row["imported_by"], row["entries"])

    async def entries(self, unit_id: str, offset: int, limit: int) -> list[AdmittedEntry]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                "SELECT name, id_type, id_number, line, phone FROM admitted_entries "
                "WHERE unit_id = ? "
                "ORDER BY line LIMIT ? OFFSET ?",
                (unit_id, limit, offset),
            ).fetchall()

        return [
            AdmittedEntry(r["name"], r["id_type"], r["id_number"], r["line"], r["phone"])
            for r in await self._db.call(read)
        ]

    async def holding(self, id_type: str, id_number: str) -> dict[str, AdmittedEntry]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                "SELECT unit_id, name, id_type, id_number, line, phone FROM admitted_entries "
                "WHERE id_type = ? AND id_number = ?",
                (id_type, id_number),
            ).fetchall()

        return {
            r["unit_id"]: AdmittedEntry(
                r["name"], r["id_type"], r["id_number"], r["line"], r["phone"]
            )
            for r in await self._db.call(read)
        }

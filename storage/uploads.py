"""Records of resumable uploads in SQLite (implements ``exams.uploads.ports.UploadRecords``).

The offset is not here: it is the size of the upload's data file
(``storage.tus_store``), so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import astuple

from exams.uploads.ports import Upload, UploadState
from storage.sql import Connection, Database, Row

_COLUMNS = (
    "id, account_id, exam_id, question_id, attempt_id, material, name, format, kind, length, "
    "metadata, device_id, device_name, state, created_at, updated_at, message"
)


def _upload(row: Row) -> Upload:
    values = list(row)
    values[13] = UploadState(values[13])
    return Upload(*values)


class SqliteUploads:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, upload: Upload) -> None:
        row = astuple(upload)
        marks = ",".join("?" * len(row))

        def write(conn: Connection) -> None:
            conn.execute(f"INSERT INTO uploads ({_COLUMNS}) VALUES ({marks})", row)

        await self._db.call(write)

    async def get(self, upload_id: str) -> Upload | None:
        found = await self._many(f"SELECT {_COLUMNS} FROM uploads WHERE id = ?", (upload_id,))
        return found[0] if found else None

    async def delete(self, upload_id: str) -> None:
        def write(conn: Connection) -> None:
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

        await self._db.call(write)

    async def set_state(
        self, upload_id: str, state: UploadState, now: float, message: str | None = None
    ) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                "UPDATE uploads SET state = ?, message = ?, updated_at = ? WHERE id = ?",
                (state.value, message, now, upload_id),
            )

        await self._db.call(write)

    async def uploading(
        self, candidate_id: str | None = None, exam_id: str | None = None
    ) -> list[Upload]:
        sql = f"SELECT {_COLUMNS} FROM uploads WHERE state = ?"
        args: list[object] = [UploadState.UPLOADING.value]
        if candidate_id is not None:
            sql += " AND account_id = ?"
            args.append(candidate_id)
        if exam_id is not None:
            sql += " AND exam_id = ?"
            args.append(exam_id)
        return await self._many(sql + " ORDER BY created_at", tuple(args))

    async def _many(self, sql: str, args: tuple[object, ...]) -> list[Upload]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(sql, args).fetchall()

        return [_upload(row) for row in await self._db.call(read)]

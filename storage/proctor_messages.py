"""Proctors' messages and candidates' raised hands in SQLite: implements
``exams.proctoring.notes.NoteStore``.

One row per note (table ``proctor_notes``, storage/db.py migrations), with the
exam, the candidate and the answer (attempt) open when it was sent. A read receipt
is one ``UPDATE ... WHERE read_at IS NULL RETURNING``, so it is written once.
"""

from __future__ import annotations

from exams.proctoring.notes import HAND, MESSAGE, Note
from storage.sql import Connection, Database, Row

_COLUMNS = (
    "id, kind, exam_id, candidate_id, sender_id, text, sent_at, attempt_id, question_id, read_at"
)


def _note(row: Row) -> Note:
    return Note(
        row["id"],
        row["kind"],
        row["exam_id"],
        row["candidate_id"],
        row["sender_id"],
        row["text"],
        row["sent_at"],
        row["attempt_id"],
        row["question_id"],
        row["read_at"],
    )


class SqliteNotes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, note: Note) -> None:
        row = (
            note.id,
            note.kind,
            note.exam_id,
            note.candidate_id,
            note.sender_id,
            note.text,
            note.sent_at,
            note.attempt_id,
            note.question_id,
            note.read_at,
        )

        def write(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO proctor_notes ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", row
            )

        await self._db.call(write)

    async def get(self, note_id: str) -> Note | None:
        def read(conn: Connection) -> Note | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM proctor_notes WHERE id = ?", (note_id,)
            ).fetchone()
            return None if row is None else _note(row)

        return await self._db.call(read)

    async def mark_read(self, note_id: str, candidate_id: str, at: float) -> Note | None:
        def write(conn: Connection) -> Note | None:
            row = conn.execute(
                "UPDATE proctor_notes SET read_at = ? WHERE id = ? AND candidate_id = ? "
                f"AND kind = ? AND read_at IS NULL RETURNING {_COLUMNS}",
                (at, note_id, candidate_id, MESSAGE),
            ).fetchone()
            return None if row is None else _note(row)

        return await self._db.call(write)

    async def answer_hands(self, exam_id: str, candidate_id: str, at: float) -> int:
        def write(conn: Connection) -> int:
            return conn.execute(
                "UPDATE proctor_notes SET read_at = ? WHERE exam_id = ? AND candidate_id = ? "
                "AND kind = ? AND read_at IS NULL",
                (at, exam_id, candidate_id, HAND),
            ).rowcount

        return await self._db.call(write)

    async def of_candidate(self, exam_id: str, candidate_id: str) -> list[Note]:
        def read(conn: Connection) -> list[Note]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM proctor_notes WHERE exam_id = ? AND candidate_id = ? "
                "ORDER BY sent_at, rowid",
                (exam_id, candidate_id),
            ).fetchall()
            return [_note(r) for r in rows]

        return await self._db.call(read)

    async def of_attempt(self, attempt_id: str) -> list[Note]:
        """The notes sent while this answer was open (its record)."""

        def read(conn: Connection) -> list[Note]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM proctor_notes WHERE attempt_id = ? "
                "ORDER BY sent_at, rowid",
                (attempt_id,),
            ).fetchall()
            return [_note(r) for r in rows]

        return await self._db.call(read)

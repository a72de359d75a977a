"""Verification states and manual reviews in SQLite.

Implements ``exams.verification.VerificationRepository`` and
``exams.reviews.ReviewRepository``.
"""

from __future__ import annotations

import sqlite3

from exams.reviews import Review, ReviewState
from exams.verification import VerificationState
from storage.db import Database

_STATE = (
    "account_id, scope, failures, cancelled_at, passed_at, passed_by, attempt_id, "
    "attempt_expires_at"
)


def _state(row: sqlite3.Row | None) -> VerificationState | None:
    return None if row is None else VerificationState(*(row[k] for k in _STATE.split(", ")))


class SqliteVerifications:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _one(self, where: str, *args: object) -> VerificationState | None:
        def read(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row: sqlite3.Row | None = conn.execute(
                f"SELECT {_STATE} FROM verifications WHERE {where}", args
            ).fetchone()
            return row

        return _state(await self._db.call(read))

    async def get(self, account_id: str, scope: str) -> VerificationState | None:
        return await self._one("account_id = ? AND scope = ?", account_id, scope)

    async def by_attempt(self, account_id: str, attempt_id: str) -> VerificationState | None:
        return await self._one("account_id = ? AND attempt_id = ?", account_id, attempt_id)

    async def save(self, state: VerificationState) -> None:
        row = (
            state.account_id,
            state.scope,
            state.failures,
            state.cancelled_at,
            state.passed_at,
            state.passed_by,
            state.attempt_id,
            state.attempt_expires_at,
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT OR REPLACE INTO verifications ({_STATE}) VALUES (?,?,?,?,?,?,?,?)", row
            )

        await self._db.call(write)


_REVIEW = (
    "id, account_id, scope, photo_file, photo_type, photo_bytes, submitted_at, state, "
    "decided_by, decided_at, note"
)


def _review(row: sqlite3.Row) -> Review:
    values = {k: row[k] for k in _REVIEW.split(", ")}
    values["state"] = ReviewState(values["state"])
    return Review(**values)


class SqliteReviews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _rows(self, where: str, *args: object) -> list[Review]:
        def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            return conn.execute(f"SELECT {_REVIEW} FROM reviews WHERE {where}", args).fetchall()

        return [_review(row) for row in await self._db.call(read)]

    async def add(self, review: Review) -> None:
        row = (
            review.id,
            review.account_id,
            review.scope,
            review.photo_file,
            review.photo_type,
            review.photo_bytes,
            review.submitted_at,
            review.state.value,
            review.decided_by,
            review.decided_at,
            review.note,
        )
        await self._db.call(
            lambda conn: conn.execute(
                f"INSERT INTO reviews ({_REVIEW}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row
            )
        )

    async def get(self, review_id: str) -> Review | None:
        found = await self._rows("id = ?", review_id)
        return found[0] if found else None

    async def pending_for(self, account_id: str, scope: str) -> Review | None:
        found = await self._rows(
            "account_id = ? AND scope = ? AND state = ? LIMIT 1",
            account_id,
            scope,
            ReviewState.PENDING.value,
        )
        return found[0] if found else None

    async def latest_for(self, account_id: str, scope: str) -> Review | None:
        found = await self._rows(
            "account_id = ? AND scope = ? ORDER BY submitted_at DESC, rowid DESC LIMIT 1",
            account_id,
            scope,
        )
        return found[0] if found else None

    async def in_state(self, state: ReviewState, limit: int) -> list[Review]:
        return await self._rows("state = ? ORDER BY submitted_at LIMIT ?", state.value, limit)

    async def decide(self, review: Review) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE reviews SET state = ?, decided_by = ?, decided_at = ?, note = ? "
                "WHERE id = ? AND state = ?",
                (
                    review.state.value,
                    review.decided_by,
                    review.decided_at,
                    review.note,
                    review.id,
                    ReviewState.PENDING.value,
                ),
            )
            return cursor.rowcount == 1

        return await self._db.call(write)

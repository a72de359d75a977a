"""Verification states and manual reviews in SQLite.

Implements ``exams.identity.verification.VerificationRepository``,
``exams.identity.manual_reviews.ReviewRepository`` and
``exams.identity.verification_results.ResultRepository``.
"""

from __future__ import annotations

import json

from exams.identity.manual_reviews import Review, ReviewState
from exams.identity.verification import VerificationState
from exams.identity.verification_results import VerificationResult
from storage.sql import Connection, Database, Row

_STATE = (
    "account_id, scope, failures, cancelled_at, passed_at, passed_by, attempt_id, "
    "attempt_expires_at"
)
_STATE_COLUMNS = [c.strip() for c in _STATE.split(",")]


def _state(row: Row | None) -> VerificationState | None:
    return None if row is None else VerificationState(*(row[k] for k in _STATE.split(", ")))


class SqliteVerifications:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _one(self, where: str, *args: object) -> VerificationState | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                f"SELECT {_STATE} FROM verifications WHERE {where}", args
            ).fetchone()
            return row

        return _state(await self._db.call(read))

    async def get(self, account_id: str, scope: str) -> VerificationState | None:
        return await self._one("account_id = ? AND scope = ?", account_id, scope)

    async def _update(self, sql: str, *args: object) -> VerificationState | None:
        """One ``UPDATE ... RETURNING``: the check and the change are one atomic step."""

        def write(conn: Connection) -> Row | None:
            rows: list[Row] = conn.execute(
                f"UPDATE verifications SET {sql} RETURNING {_STATE}", args
            ).fetchall()
            return rows[0] if rows else None

        return _state(await self._db.call(write))

    async def open_attempt(
        self, account_id: str, scope: str, attempt_id: str, expires_at: float, now: float
    ) -> VerificationState:
        def write(conn: Connection) -> Row:
            conn.execute(
                "INSERT INTO verifications (account_id, scope, attempt_id, attempt_expires_at)"
                " VALUES (?,?,?,?) ON CONFLICT (account_id, scope) DO UPDATE SET"
                " attempt_id = excluded.attempt_id,"
                " attempt_expires_at = excluded.attempt_expires_at"
                " WHERE verifications.attempt_id IS NULL"
                " OR verifications.attempt_expires_at <= ?",
                (account_id, scope, attempt_id, expires_at, now),
            )
            row: Row = conn.execute(
                f"SELECT {_STATE} FROM verifications WHERE account_id = ? AND scope = ?",
                (account_id, scope),
            ).fetchone()
            return row

        state = _state(await self._db.call(write))
        assert state is not None  # just written
        return state

    async def take_attempt(
        self, account_id: str, attempt_id: str, now: float, max_failures: int
    ) -> VerificationState | None:
        return await self._update(
            "attempt_id = NULL, attempt_expires_at = NULL, failures = failures + 1 "
            "WHERE account_id = ? AND attempt_id = ? AND attempt_expires_at > ? "
            "AND passed_at IS NULL AND failures < ?",
            account_id,
            attempt_id,
            now,
            max_failures,
        )

    async def refund_failure(self, account_id: str, scope: str) -> None:
        await self._update(
            "failures = GREATEST(failures - 1, 0) WHERE account_id = ? AND scope = ?",
            account_id,
            scope,
        )

    async def record_pass(
        self, account_id: str, scope: str, at: float, by: str
    ) -> VerificationState:
        state = await self._update(
            "failures = 0, passed_at = ?, passed_by = ?, attempt_id = NULL, "
            "attempt_expires_at = NULL WHERE account_id = ? AND scope = ?",
            at,
            by,
            account_id,
            scope,
        )
        assert state is not None  # only after take_attempt, which needs the row
        return state

    async def cancel_attempt(
        self, account_id: str, attempt_id: str, now: float
    ) -> VerificationState | None:
        return await self._update(
            "cancelled_at = ?, attempt_id = NULL, attempt_expires_at = NULL "
            "WHERE account_id = ? AND attempt_id = ? AND attempt_expires_at > ?",
            now,
            account_id,
            attempt_id,
            now,
        )

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

        def write(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO verifications ({_STATE}) VALUES (?,?,?,?,?,?,?,?) "
                "ON CONFLICT (account_id, scope) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS[2:]),
                row,
            )

        await self._db.call(write)


_REVIEW = (
    "id, account_id, scope, photo_file, photo_type, photo_bytes, submitted_at, state, "
    "decided_by, decided_at, note"
)


def _review(row: Row) -> Review:
    values = {k: row[k] for k in _REVIEW.split(", ")}
    values["state"] = ReviewState(values["state"])
    return Review(**values)


def _review_row(review: Review) -> tuple[object, ...]:
    return (
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


class SqliteReviews:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _rows(self, where: str, *args: object) -> list[Review]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(f"SELECT {_REVIEW} FROM reviews WHERE {where}", args).fetchall()

        return [_review(row) for row in await self._db.call(read)]

    async def add(self, review: Review) -> None:
        row = _review_row(review)
        await self._db.call(
            lambda conn: conn.execute(
                f"INSERT INTO reviews ({_REVIEW}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row
            )
        )

    async def add_within(
        self, review: Review, max_pending: int, max_since: int, since: float
    ) -> str | None:
        """Count and insert in one transaction: parallel uploads (and processes, and nodes)
        run one after another (SQLite's write lock; PostgreSQL's SERIALIZABLE runs a racer
        again), so none passes a bound another one took."""
        pending = ReviewState.PENDING.value

        def write(conn: Connection) -> str | None:
            mine = conn.execute(
                "SELECT scope = ? AND state = ?, state = ?, submitted_at > ? "
                "FROM reviews WHERE account_id = ?",
                (review.scope, pending, pending, since, review.account_id),
            ).fetchall()
            refused = None
            if any(row[0] for row in mine):
                refused = "scope"
            elif sum(row[1] for row in mine) >= max_pending:
                refused = "pending"
            elif sum(row[2] for row in mine) >= max_since:
                refused = "day"
            else:
                conn.execute(
                    f"INSERT INTO reviews ({_REVIEW}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    _review_row(review),
                )
            return refused

        return await self._db.call(write)

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
        def write(conn: Connection) -> bool:
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


_RESULT = "attempt_id, account_id, scope, at, passed, score, model, reason, evidence"


def _result(row: Row) -> VerificationResult:
    return VerificationResult(
        row["attempt_id"],
        row["account_id"],
        row["scope"],
        row["at"],
        bool(row["passed"]),
        row["score"],
        row["model"],
        row["reason"],
        tuple(json.loads(row["evidence"])),
    )


class SqliteVerificationResults:
    """Implements ``exams.identity.verification_results.ResultRepository``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, result: VerificationResult) -> None:
        row = (
            result.attempt_id,
            result.account_id,
            result.scope,
            result.at,
            int(result.passed),
            result.score,
            result.model,
            result.reason,
            json.dumps(list(result.evidence)),
        )
        await self._db.call(
            lambda conn: conn.execute(
                f"INSERT INTO verification_results ({_RESULT}) VALUES (?,?,?,?,?,?,?,?,?)", row
            )
        )

    async def _rows(self, where: str, *args: object) -> list[VerificationResult]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                f"SELECT {_RESULT} FROM verification_results WHERE {where}", args
            ).fetchall()

        return [_result(row) for row in await self._db.call(read)]

    async def for_account(
        self, account_id: str, scope: str | None = None, limit: int = 50
    ) -> list[VerificationResult]:
        if scope is None:
            return await self._rows("account_id = ? ORDER BY at DESC LIMIT ?", account_id, limit)
        return await self._rows(
            "account_id = ? AND scope = ? ORDER BY at DESC LIMIT ?", account_id, scope, limit
        )

    async def with_evidence_before(self, before: float, limit: int) -> list[VerificationResult]:
        return await self._rows("evidence <> '[]' AND at < ? ORDER BY at LIMIT ?", before, limit)

    async def drop_evidence(self, attempt_id: str) -> None:
        await self._db.call(
            lambda conn: conn.execute(
                "UPDATE verification_results SET evidence = '[]' WHERE attempt_id = ?",
                (attempt_id,),
            )
        )

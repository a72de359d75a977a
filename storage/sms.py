"""SMS codes in SQLite (``exams.identity.sms.SmsCodeRepository``) and the built-in SMS sender.

:class:`LogSmsSender` stands in for an SMS gateway: it writes each message to
the server log and keeps the last ones in a bounded in-memory outbox that
tests and a local demo read with :meth:`LogSmsSender.latest` — never the API.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import dataclass

from exams.identity.sms import StoredCode
from storage.sql import Connection, Database, Row

log = logging.getLogger("examcast.sms")


class SqliteSmsCodes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, code: StoredCode) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                "DELETE FROM sms_codes WHERE phone = ? AND purpose = ? "
                "AND (used_at IS NOT NULL OR expires_at < ?)",
                (code.phone, code.purpose, code.created_at - 24 * 3600),
            )
            conn.execute(
                "UPDATE sms_codes SET expires_at = LEAST(expires_at, ?) "
                "WHERE phone = ? AND purpose = ? AND used_at IS NULL",
                (code.created_at, code.phone, code.purpose),
            )
            conn.execute(
                "INSERT INTO sms_codes (phone, purpose, code_hash, created_at, expires_at) "
                "VALUES (?,?,?,?,?)",
                (code.phone, code.purpose, code.code_hash, code.created_at, code.expires_at),
            )

        await self._db.call(write)

    async def latest(self, phone: str, purpose: str) -> StoredCode | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT * FROM sms_codes WHERE phone = ? AND purpose = ? ORDER BY id DESC LIMIT 1",
                (phone, purpose),
            ).fetchone()
            return row

        return _code(await self._db.call(read))

    async def take_guess(
        self, phone: str, purpose: str, max_guesses: int, now: float
    ) -> StoredCode | None:
        def write(conn: Connection) -> Row | None:
            # One statement: the check and the count cannot be separated by another guess.
            rows: list[Row] = conn.execute(
                "UPDATE sms_codes SET guesses = guesses + 1 WHERE id = ("
                "  SELECT id FROM sms_codes WHERE phone = ? AND purpose = ?"
                "  ORDER BY id DESC LIMIT 1"
                ") AND used_at IS NULL AND expires_at > ? AND guesses < ? RETURNING *",
                (phone, purpose, now, max_guesses),
            ).fetchall()
            return rows[0] if rows else None

        return _code(await self._db.call(write))

    async def use(self, code_id: int, at: float) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "UPDATE sms_codes SET used_at = ? WHERE id = ? AND used_at IS NULL", (at, code_id)
            )
            return cursor.rowcount == 1

        return await self._db.call(write)


def _code(row: Row | None) -> StoredCode | None:
    if row is None:
        return None
    return StoredCode(
        row["id"],
        row["phone"],
        row["purpose"],
        row["code_hash"],
        row["created_at"],
        row["expires_at"],
        row["guesses"],
        row["used_at"],
    )


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str

    @property
    def code(self) -> str | None:
        """The first 6-digit number in the text: the verification code."""
        found = re.search(r"(?<!\d)\d{6}(?!\d)", self.text)
        return found.group(0) if found else None


class LogSmsSender:
    """Implements ``exams.identity.sms.SmsSender`` without a gateway: log + bounded outbox."""

    def __init__(self, outbox_size: int = 200) -> None:
        self._outbox: deque[SmsMessage] = deque(maxlen=outbox_size)

    async def send(self, phone: str, text: str) -> None:
        self._outbox.append(SmsMessage(phone, text))
        log.warning("SMS to %s (no SMS gateway configured; shown here): %s", phone, text)

    def latest(self, phone: str) -> SmsMessage | None:
        """The newest message sent to ``phone`` (11 digits), if it is still in the outbox."""
        return next((m for m in reversed(self._outbox) if m.phone == phone), None)

    def messages(self) -> list[SmsMessage]:
        return list(self._outbox)

"""Staff two-step log-in in SQLite: ``exams.identity.two_factor.TwoFactorRepository``.

TOTP secrets are kept as they are (the server must compute codes from them);
recovery codes only as HMACs; log-in challenges only as SHA-256 hashes.
"""

from __future__ import annotations

from exams.identity.two_factor import Challenge, TotpRecord
from storage.sql import Connection, Database, Row


class SqliteTwoFactor:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def totp(self, account_id: str) -> TotpRecord | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT * FROM totp WHERE account_id = ?", (account_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        if row is None:
            return None
        return TotpRecord(row["account_id"], row["secret"], row["confirmed_at"], row["last_step"])

    async def set_pending(self, account_id: str, secret: str) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO totp (account_id, secret) VALUES (?, ?) "
                "ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret "
                "WHERE totp.confirmed_at IS NULL",
                (account_id, secret),
            )
            return cursor.rowcount > 0

        return await self._db.call(write)

    async def confirm(self, account_id: str, secret: str, step: int, now: float) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "UPDATE totp SET confirmed_at = ?, last_step = ? "
                "WHERE account_id = ? AND secret = ? AND confirmed_at IS NULL",
                (now, step, account_id, secret),
            )
            return cursor.rowcount > 0

        return await self._db.call(write)

    async def use_step(self, account_id: str, step: int) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "UPDATE totp SET last_step = ? WHERE account_id = ? AND last_step < ? "
                "AND confirmed_at IS NOT NULL",
                (step, account_id, step),
            )
            return cursor.rowcount > 0

        return await self._db.call(write)

    async def replace_recovery(self, account_id: str, hashes: list[str], now: float) -> None:
        def write(conn: Connection) -> None:
            conn.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            conn.executemany(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES (?,?,?)",
                [(account_id, h, now) for h in hashes],
            )

        await self._db.call(write)

    async def use_recovery(self, account_id: str, code_hash: str, now: float) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "UPDATE recovery_codes SET used_at = ? "
                "WHERE account_id = ? AND code_hash = ? AND used_at IS NULL",
                (now, account_id, code_hash),
            )
            return cursor.rowcount > 0

        return await self._db.call(write)

    async def recovery_left(self, account_id: str) -> int:
        def read(conn: Connection) -> int:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL",
                    (account_id,),
                ).fetchone()[0]
            )

        return await self._db.call(read)

    async def remove(self, account_id: str) -> bool:
        def write(conn: Connection) -> bool:
            removed = conn.execute("DELETE FROM totp WHERE account_id = ?", (account_id,))
            conn.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            conn.execute("DELETE FROM login_challenges WHERE account_id = ?", (account_id,))
            return removed.rowcount > 0

        return await self._db.call(write)

    async def add_challenge(self, challenge: Challenge) -> None:
        def write(conn: Connection) -> None:
            # Ended challenges of the past are swept as new ones come.
            conn.execute(
                "DELETE FROM login_challenges WHERE expires_at <= ?", (challenge.created_at,)
            )
            conn.execute(
                "INSERT INTO login_challenges (token_hash, account_id, method, created_at, "
                "expires_at, client) VALUES (?,?,?,?,?,?)",
                (
                    challenge.token_hash,
                    challenge.account_id,
                    challenge.method,
                    challenge.created_at,
                    challenge.expires_at,
                    challenge.client,
                ),
            )

        await self._db.call(write)

    async def challenge(self, token_hash: str) -> Challenge | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT * FROM login_challenges WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        if row is None:
            return None
        return Challenge(
            row["token_hash"],
            row["account_id"],
            row["method"],
            row["created_at"],
            row["expires_at"],
            row["client"],
        )

    async def end_challenge(self, token_hash: str) -> bool:
        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM login_challenges WHERE token_hash = ?", (token_hash,)
            )
            return cursor.rowcount > 0

        return await self._db.call(write)

"""Accounts and sessions in SQLite: ``exams.identity.accounts.AccountRepository``,
``SessionRepository``."""

from __future__ import annotations

from exams.identity.accounts import Account, Role
from exams.identity.sessions import Session
from exams.shared.errors import Conflict
from storage.sql import Connection, Database, IntegrityError, Row

_ACCOUNT = "id, phone, name, id_type, id_number, password_hash, role, unit_id, created_at"


def _account(row: Row | None) -> Account | None:
    if row is None:
        return None
    return Account(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        id_type=row["id_type"],
        id_number=row["id_number"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        unit_id=row["unit_id"],
        password_hash=row["password_hash"],
    )


class SqliteAccounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, account: Account) -> None:
        row = (
            account.id,
            account.phone,
            account.name,
            account.id_type,
            account.id_number,
            account.password_hash,
            account.role.value,
            account.unit_id,
            account.created_at,
        )

        def write(conn: Connection) -> None:
            conn.execute(f"INSERT INTO accounts ({_ACCOUNT}) VALUES (?,?,?,?,?,?,?,?,?)", row)

        try:
            await self._db.call(write)
        except IntegrityError as exc:
            raise Conflict("an account with this phone or ID number exists already") from exc

    async def _one(self, where: str, *args: object) -> Account | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                f"SELECT {_ACCOUNT} FROM accounts WHERE {where}", args
            ).fetchone()
            return row

        return _account(await self._db.call(read))

    async def get(self, account_id: str) -> Account | None:
        return await self._one("id = ?", account_id)

    async def by_phone(self, phone: str) -> Account | None:
        return await self._one("phone = ?", phone)

    async def by_document(self, id_type: str, id_number: str) -> Account | None:
        return await self._one("id_type = ? AND id_number = ?", id_type, id_number)

    async def set_role(self, account_id: str, role: Role, unit_id: str | None) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                "UPDATE accounts SET role = ?, unit_id = ? WHERE id = ?",
                (role.value, unit_id, account_id),
            )

        await self._db.call(write)

    async def set_password(self, account_id: str, password_hash: str) -> None:
        await self._db.call(
            lambda conn: conn.execute(
                "UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id)
            )
        )


class SqliteSessions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, session: Session) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at, "
                "expires_at, client) VALUES (?,?,?,?,?,?)",
                (
                    session.token_hash,
                    session.account_id,
                    session.created_at,
                    session.last_seen_at,
                    session.expires_at,
                    session.client,
                ),
            )

        await self._db.call(write)

    async def get(self, token_hash: str) -> Session | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                "SELECT * FROM sessions WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        if row is None:
            return None
        return Session(
            row["token_hash"],
            row["account_id"],
            row["created_at"],
            row["last_seen_at"],
            row["expires_at"],
            row["client"],
        )

    async def touch(self, token_hash: str, last_seen_at: float) -> None:
        await self._db.call(
            lambda conn: conn.execute(
                # Never backwards: parallel requests may write out of order.
                "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, ?) WHERE token_hash = ?",
                (last_seen_at, token_hash),
            )
        )

    async def delete(self, token_hash: str) -> bool:
        def write(conn: Connection) -> bool:
            return (
                conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,)).rowcount
                > 0
            )

        return await self._db.call(write)

    async def delete_for_account(self, account_id: str) -> int:
        def write(conn: Connection) -> int:
            return conn.execute("DELETE FROM sessions WHERE account_id = ?", (account_id,)).rowcount

        return await self._db.call(write)

    async def purge(self, now: float, idle_s: float) -> int:
        def write(conn: Connection) -> int:
            return conn.execute(
                "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?",
                (now, now - idle_s),
            ).rowcount

        return await self._db.call(write)

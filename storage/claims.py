"""Identity claims in SQLite: ``exams.identity.claims.ClaimRepository``.

Approving a claim moves an ID number from one account to a new one: one
transaction, so no reader ever sees two accounts with it, or none.
"""

from __future__ import annotations

from exams.identity.accounts import Account
from exams.identity.claims import DISABLED_PASSWORD, Claim, ClaimState
from exams.shared.errors import Conflict
from storage.sql import Connection, Database, IntegrityError, Row

_COLUMNS = (
    "id, phone, name, id_type, id_number, password_hash, photo_file, photo_type, photo_bytes, "
    "submitted_at, client, state, squatter_id, decided_by, decided_at, note, account_id"
)


def _claim(row: Row) -> Claim:
    return Claim(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        id_type=row["id_type"],
        id_number=row["id_number"],
        photo_file=row["photo_file"],
        photo_type=row["photo_type"],
        photo_bytes=row["photo_bytes"],
        submitted_at=row["submitted_at"],
        client=row["client"],
        password_hash=row["password_hash"],
        state=ClaimState(row["state"]),
        squatter_id=row["squatter_id"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        note=row["note"],
        account_id=row["account_id"],
    )


class SqliteClaims:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, claim: Claim) -> None:
        row = (
            claim.id,
            claim.phone,
            claim.name,
            claim.id_type,
            claim.id_number,
            claim.password_hash,
            claim.photo_file,
            claim.photo_type,
            claim.photo_bytes,
            claim.submitted_at,
            claim.client,
            claim.state.value,
            claim.squatter_id,
            claim.decided_by,
            claim.decided_at,
            claim.note,
            claim.account_id,
        )

        def write(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO identity_claims ({_COLUMNS}) VALUES ({','.join('?' * 17)})", row
            )

        try:
            await self._db.call(write)
        except IntegrityError as exc:
            raise Conflict(
                "a claim from this phone is waiting for review: you will be told the decision"
            ) from exc

    async def get(self, claim_id: str) -> Claim | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                f"SELECT {_COLUMNS} FROM identity_claims WHERE id = ?", (claim_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        return None if row is None else _claim(row)

    async def in_state(self, state: ClaimState, limit: int) -> list[Claim]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM identity_claims WHERE state = ? "
                "ORDER BY submitted_at LIMIT ?",
                (state.value, limit),
            ).fetchall()

        return [_claim(r) for r in await self._db.call(read)]

    @staticmethod
    def _decide(conn: Connection, claim: Claim) -> bool:
        cursor = conn.execute(
            "UPDATE identity_claims SET state = ?, decided_by = ?, decided_at = ?, note = ?, "
            "account_id = ? WHERE id = ? AND state = 'pending'",
            (
                claim.state.value,
                claim.decided_by,
                claim.decided_at,
                claim.note,
                claim.account_id,
                claim.id,
            ),
        )
        return cursor.rowcount > 0

    async def reject(self, claim: Claim) -> bool:
        return await self._db.call(lambda conn: self._decide(conn, claim))

    async def approve(self, claim: Claim, released_number: str, new_account: Account) -> bool:
        a = new_account

        def write(conn: Connection) -> bool:
            if not self._decide(conn, claim):
                conn.rollback()
                return False
            conn.execute(
                "UPDATE accounts SET id_number = ?, password_hash = ? "
                "WHERE id = ? AND id_type = ? AND id_number = ?",
                (
                    released_number,
                    DISABLED_PASSWORD,
                    claim.squatter_id,
                    claim.id_type,
                    claim.id_number,
                ),
            )
            conn.execute(
                "INSERT INTO accounts (id, phone, name, id_type, id_number, password_hash, "
                "role, unit_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    a.id,
                    a.phone,
                    a.name,
                    a.id_type,
                    a.id_number,
                    a.password_hash,
                    a.role.value,
                    a.unit_id,
                    a.created_at,
                ),
            )
            return True

        try:
            return await self._db.call(write)
        except IntegrityError as exc:
            raise Conflict(
                "the ID number or the phone is held by another account now: reject this claim"
            ) from exc

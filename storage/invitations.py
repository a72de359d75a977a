"""Staff invitations in the database: implements
``exams.admission.invitations.InvitationRepository``.

An accept is one transaction (storage/sql.py: calls run as if one after another) over the
invitation, the account's role, its exam answers (attempts) and the exam's proctors: two at
once apply once."""

from __future__ import annotations

from exams.admission.invitations import Grant, Invitation
from exams.identity.accounts import Account, Role
from storage.sql import Connection, Database, Row

_COLUMNS = (
    "id, phone, role, unit_id, exam_id, invited_by, created_at, expires_at, state, account_id, "
    "decided_at"
)


class SqliteInvitations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, invitation: Invitation) -> None:
        i = invitation
        row = (
            i.id,
            i.phone,
            i.role.value,
            i.unit_id,
            i.exam_id,
            i.invited_by,
            i.created_at,
            i.expires_at,
            i.state,
            i.account_id,
            i.decided_at,
        )

        def write(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO invitations ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row
            )

        await self._db.call(write)

    async def pending_for(self, phone: str, now: float) -> list[Invitation]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM invitations WHERE phone = ? AND state = 'pending' "
                "AND expires_at > ? ORDER BY created_at",
                (phone, now),
            ).fetchall()

        return [_invitation(r) for r in await self._db.call(read)]

    async def decide(self, invitation_id: str, state: str, account_id: str, at: float) -> bool:
        def write(conn: Connection) -> bool:
            done = conn.execute(
                "UPDATE invitations SET state = ?, account_id = ?, decided_at = ? "
                "WHERE id = ? AND state = 'pending'",
                (state, account_id, at, invitation_id),
            )
            return done.rowcount == 1

        return await self._db.call(write)

    async def accept(
        self, invitation: Invitation, account: Account, grant: Grant, at: float
    ) -> bool:
        def write(conn: Connection) -> bool:
            done = _accept(conn, invitation.id, account, grant, at)
            if not done:
                conn.rollback()
            return done

        return await self._db.call(write)

    async def answered(self, account_id: str) -> bool:
        def read(conn: Connection) -> bool:
            return _answered(conn, account_id)

        return await self._db.call(read)

    async def cancel(self, invitation_id: str, at: float) -> bool:
        def write(conn: Connection) -> bool:
            done = conn.execute(
                "UPDATE invitations SET state = 'cancelled', decided_at = ? "
                "WHERE id = ? AND state = 'pending'",
                (at, invitation_id),
            )
            return done.rowcount == 1

        return await self._db.call(write)

    async def get(self, invitation_id: str) -> Invitation | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                f"SELECT {_COLUMNS} FROM invitations WHERE id = ?", (invitation_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        return None if row is None else _invitation(row)

    async def of_unit(self, unit_id: str, exam_id: str | None = None) -> list[Invitation]:
        def read(conn: Connection) -> list[Row]:
            if exam_id is None:
                return conn.execute(
                    f"SELECT {_COLUMNS} FROM invitations WHERE unit_id = ? "
                    "ORDER BY created_at DESC LIMIT 500",
                    (unit_id,),
                ).fetchall()
            return conn.execute(
                f"SELECT {_COLUMNS} FROM invitations WHERE unit_id = ? AND exam_id = ? "
                "ORDER BY created_at DESC LIMIT 500",
                (unit_id, exam_id),
            ).fetchall()

        return [_invitation(r) for r in await self._db.call(read)]


def _accept(
    conn: Connection, invitation_id: str, account: Account, grant: Grant, at: float
) -> bool:
    """Every condition and change of an accept, inside the caller's transaction."""
    marked = conn.execute(
        "UPDATE invitations SET state = 'applied', account_id = ?, decided_at = ? "
        "WHERE id = ? AND state = 'pending' AND expires_at > ?",
        (account.id, at, invitation_id, at),
    )
    if marked.rowcount != 1 or _answered(conn, account.id):
        return False
    moved = conn.execute(
        "UPDATE accounts SET role = ?, unit_id = ? "
        "WHERE id = ? AND role = ? AND unit_id IS NOT DISTINCT FROM ?",
        (grant.role.value, grant.unit_id, account.id, account.role.value, account.unit_id),
    )
    if moved.rowcount != 1:
        return False
    if grant.exam_id is not None:
        conn.execute(
            "INSERT INTO exam_proctors (exam_id, account_id, assigned_at) VALUES (?,?,?) "
            "ON CONFLICT DO NOTHING",
            (grant.exam_id, account.id, at),
        )
    return True


def _answered(conn: Connection, account_id: str) -> bool:
    found = conn.execute("SELECT 1 FROM attempts WHERE account_id = ? LIMIT 1", (account_id,))
    return found.fetchone() is not None


def _invitation(row: Row) -> Invitation:
    return Invitation(
        id=row["id"],
        phone=row["phone"],
        role=Role(row["role"]),
        unit_id=row["unit_id"],
        exam_id=row["exam_id"],
        invited_by=row["invited_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=row["state"],
        account_id=row["account_id"],
        decided_at=row["decided_at"],
    )

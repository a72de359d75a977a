"""Takes in SQLite: implements ``exams.catalog.takes.TakeRepository``."""

from __future__ import annotations

import json

from exams.catalog.takes import Take, TakeState
from storage.sql import Connection, Database, Row

_COLUMNS = (
    "id, owner, session_id, purpose, state, started_at, stopped_at, stop_reason, limit_s, "
    "manifest, attempt_id, node, quality"
)


class SqliteTakes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, take: Take) -> None:
        row = (
            take.id,
            take.owner,
            take.session_id,
            take.purpose,
            take.state.value,
            take.started_at,
            take.stopped_at,
            take.stop_reason,
            take.limit_s,
            None if take.manifest is None else json.dumps(take.manifest),
            take.attempt_id,
            take.node,
            None if take.quality is None else json.dumps(take.quality),
        )

        def write(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO takes ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET state=excluded.state, "
                "stopped_at=excluded.stopped_at, stop_reason=excluded.stop_reason, "
                "manifest=excluded.manifest, node=excluded.node, quality=excluded.quality, "
                # a take continued on another node records from a session there
                "session_id=excluded.session_id",
                row,
            )

        await self._db.call(write)

    async def get(self, take_id: str) -> Take | None:
        def read(conn: Connection) -> Row | None:
            row: Row | None = conn.execute(
                f"SELECT {_COLUMNS} FROM takes WHERE id = ?", (take_id,)
            ).fetchone()
            return row

        row = await self._db.call(read)
        return None if row is None else _take(row)

    async def of_owner(self, owner: str, purpose: str) -> list[Take]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM takes WHERE owner = ? AND purpose = ? "
                "ORDER BY started_at, rowid",
                (owner, purpose),
            ).fetchall()

        return [_take(row) for row in await self._db.call(read)]

    async def delete(self, take_id: str) -> None:
        await self._db.call(lambda conn: conn.execute("DELETE FROM takes WHERE id = ?", (take_id,)))

    async def unfinished(self, node: str | None = None) -> list[Take]:
        """Takes recording or finalising; with ``node``, only that node's and those of no
        node (written before nodes were kept)."""
        states = (TakeState.RECORDING.value, TakeState.FINALIZING.value)

        def read(conn: Connection) -> list[Row]:
            if node is None:
                return conn.execute(
                    f"SELECT {_COLUMNS} FROM takes WHERE state IN (?, ?) ORDER BY started_at",
                    states,
                ).fetchall()
            return conn.execute(
                f"SELECT {_COLUMNS} FROM takes WHERE state IN (?, ?) "
                "AND (node = ? OR node IS NULL) ORDER BY started_at",
                (*states, node),
            ).fetchall()

        return [_take(row) for row in await self._db.call(read)]

    async def recording_of(self, owner: str) -> list[Take]:
        """The owner's takes recording now, on whichever node."""

        def read(conn: Connection) -> list[Row]:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM takes WHERE owner = ? AND state = ? ORDER BY started_at",
                (owner, TakeState.RECORDING.value),
            ).fetchall()

        return [_take(row) for row in await self._db.call(read)]

    async def claim(
        self,
        take_id: str,
        from_node: str | None,
        to_node: str,
        *,
        state: TakeState = TakeState.RECORDING,
    ) -> bool:
        """One conditional UPDATE: the take moves to ``to_node`` only if it is still in
        ``state`` (recording) on ``from_node``; True for the one caller that moved it."""

        def write(conn: Connection) -> bool:
            cursor = conn.execute(
                "UPDATE takes SET node = ? WHERE id = ? AND state = ? "
                "AND node IS NOT DISTINCT FROM ?",
                (to_node, take_id, state.value, from_node),
            )
            return cursor.rowcount == 1

        return await self._db.call(write)


def _take(row: Row) -> Take:
    return Take(
        id=row["id"],
        owner=row["owner"],
        session_id=row["session_id"],
        purpose=row["purpose"],
        state=TakeState(row["state"]),
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        stop_reason=row["stop_reason"],
        limit_s=row["limit_s"],
        manifest=None if row["manifest"] is None else json.loads(row["manifest"]),
        attempt_id=row["attempt_id"],
        node=row["node"],
        quality=None if row["quality"] is None else json.loads(row["quality"]),
    )

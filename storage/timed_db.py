"""The system of record with every call timed for the operator (``/metrics``).

:class:`TimedDatabase` wraps whichever database the settings chose (SQLite or
PostgreSQL, :mod:`storage.sql`'s ``Database``) and reports each ``call`` to the
telemetry port: ``observe_call(<dialect>, <adapter>, seconds, ok)``, where the
operation is the adapter class that made the call (``SqliteTakes``, ``SqliteAttempts``,
…): a few dozen names, fixed by the code, never by the data. It also answers the
readiness check (:meth:`ping`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from exams.shared.telemetry import CallTimer, Telemetry
from storage.sql import Connection, Database

T = TypeVar("T")


def _operation(fn: Callable[..., Any]) -> str:
    """``SqliteTakes.save.<locals>.write`` -> ``SqliteTakes``; a plain function, its name."""
    qualname = getattr(fn, "__qualname__", "") or "call"
    return qualname.split(".", 1)[0] if "." in qualname else qualname


class TimedDatabase:
    def __init__(self, inner: Database, telemetry: Telemetry) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self._telemetry = telemetry

    async def open(self) -> None:
        with CallTimer(self._telemetry, self.dialect, "open"):
            await self.inner.open()

    async def call(self, fn: Callable[[Connection], T]) -> T:
        with CallTimer(self._telemetry, self.dialect, _operation(fn)):
            return await self.inner.call(fn)

    async def schema_version(self) -> int:
        return await self.inner.schema_version()

    async def ping(self) -> None:
        """One round trip to the database (raises when it cannot be reached)."""

        def select_one(conn: Connection) -> None:
            conn.execute("SELECT 1").fetchone()

        with CallTimer(self._telemetry, self.dialect, "ping"):
            await self.inner.call(select_one)

    async def close(self) -> None:
        await self.inner.close()

"""What every storage adapter may rely on, whichever database keeps the records.

An adapter hands ``Database.call`` a plain function ``fn(conn)``; it runs inside ONE
transaction that commits when ``fn`` returns and rolls back when it raises (or when it
called ``conn.rollback()``). The SQL is written once for both backends, with ``?``
parameters, in the dialect both understand (``INSERT … ON CONFLICT``, ``RETURNING``,
``IS NOT DISTINCT FROM``, ``GREATEST``/``LEAST``); storage/postgres.py turns the ``?`` into
``$n``. Rows read by index and by column name alike.

Calls behave as if they ran one after another: SQLite runs them on one thread,
PostgreSQL runs each at SERIALIZABLE and runs a call again when the server refused it
for a serialization conflict. So ``fn`` must only touch the database (it may run twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

Params = Sequence[Any]


class IntegrityError(Exception):
    """A constraint (unique, primary key, foreign key, not null) refused a write.

    ``table`` and ``columns`` name a refused unique key when the backend said which (SQLite:
    "UNIQUE constraint failed: t.a, t.b"; PostgreSQL: the table and "Key (a, b)=…")."""

    def __init__(self, message: str, table: str = "", columns: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.table = table
        self.columns = columns

    def is_unique(self, table: str, *columns: str) -> bool:
        """Whether the unique key refused is ``columns`` of ``table`` (in any order)."""
        return self.table == table and sorted(self.columns) == sorted(columns)


class Row(Protocol):
    def __getitem__(self, key: int | str) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The one connection a call runs on, inside its transaction."""

    dialect: str  # "sqlite" or "postgresql"

    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    def rollback(self) -> None:
        """Undo every write of this call when ``fn`` returns (its value is still returned)."""
        ...


class Database(Protocol):
    """The system of record: SQLite (storage/db.py) or PostgreSQL (storage/postgres.py)."""

    dialect: str

    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""
        ...

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction; ``DatabaseUnavailable`` when unreachable."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...

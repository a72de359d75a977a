"""PostgreSQL for the tests: the cluster scripts/test starts (EXAMCAST_TEST_DATABASE_URL),
one database per pytest-xdist worker emptied before each test, and throwaway clusters of
a test's own for the tests that stop and start the server.

Tests that need PostgreSQL skip, saying why, only when the variable is unset (never in CI:
scripts/test always sets it).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bench.spawn import free_port
from storage.db import SqliteDatabase
from storage.postgres import PostgresDatabase
from storage.sql import Database

URL_ENV = "EXAMCAST_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")
SKIP_REASON = f"{URL_ENV} is not set (scripts/test starts PostgreSQL and sets it)"

# The database that app-level tests of this process build their server on, when a test
# asked for PostgreSQL (tests/integration/conftest.py); server_settings reads it.
_active_url: str | None = None


def admin_url() -> str | None:
    return os.environ.get(URL_ENV) or None


def require_admin_url() -> str:
    url = admin_url()
    if url is None:
        pytest.skip(SKIP_REASON)
    return url


def worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def database_url(name: str) -> str:
    url = make_url(require_admin_url()).set(database=name)
    return url.render_as_string(hide_password=False)


async def _admin_connect(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
    )


_ready: set[str] = set()


async def empty_database(name: str | None = None) -> str:
    """The URL of this worker's database ``name`` (made if missing), with every table of
    examcast's empty: a fresh start for one test, much cheaper than a new database (even
    one copied from a template)."""
    name = name or f"examcast_test_{worker_name()}"
    if name not in _ready:
        admin = await _admin_connect(require_admin_url())
        try:
            found = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not found:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        _ready.add(name)
    url = database_url(name)
    conn = await _admin_connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_version'"
        )
        if tables:
            # DELETE, not TRUNCATE: a test's few rows go faster than TRUNCATE's new files
            # for every table and index; foreign keys unchecked (replica role) meanwhile.
            deletes = "; ".join(f'DELETE FROM "{t["tablename"]}"' for t in tables)
            await conn.execute(
                f"SET session_replication_role = replica; {deletes}; "
                "SET session_replication_role = DEFAULT"
            )
    finally:
        await conn.close()
    return url


async def drop_database(name: str) -> None:
    admin = await _admin_connect(require_admin_url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    _ready.discard(name)


@asynccontextmanager
async def opened(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An open, migrated, empty database of ``backend`` ("sqlite" or "postgresql")."""
    db: Database
    if backend == "sqlite":
        db = SqliteDatabase(tmp_path / "world.sqlite3")
    else:
        db = PostgresDatabase(await empty_database())
    await db.open()
    try:
        yield db
    finally:
        await db.close()


def another_connection(db: Database) -> Database:
    """A second, unopened Database on the same records (what a restarted server reads)."""
    if isinstance(db, SqliteDatabase):
        return SqliteDatabase(db.path)
    assert isinstance(db, PostgresDatabase)
    return PostgresDatabase(db.url)


def active_url() -> str | None:
    return _active_url


@asynccontextmanager
async def app_database(backend: str) -> AsyncIterator[str | None]:
    """For app-level tests: the ``database_url`` servers built now use ("" for SQLite)."""
    global _active_url
    if backend == "sqlite":
        yield None
        return
    _active_url = await empty_database(f"examcast_app_{worker_name()}")
    try:
        yield _active_url
    finally:
        _active_url = None


# -- a cluster of a test's own, to stop and start -----------------------------------------


def pg_bin() -> Path:
    found = os.environ.get("EXAMCAST_TEST_PG_BIN") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None
    )
    if not found:
        pytest.skip("PostgreSQL is not installed (scripts/setup --test installs it)")
    return Path(found)


@dataclass
class Cluster:
    """A PostgreSQL server of one test's own on a loopback port."""

    bin: Path
    data: Path
    port: int
    as_pg: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.data / "data"), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        # fsync off (the machine does not crash in a test), but synchronous_commit on: a
        # commit is written out before it is acknowledged, so a stop -m immediate keeps it.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c full_page_writes=off"
        )
        self._ctl("-l", str(self.data / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        """Stop at once (as a crash would: open transactions are lost, connections cut)."""
        self._ctl("-m", "immediate", "-w", "stop")

    async def wait_ready(self, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=2)
                await conn.close()
                return
            except (TimeoutError, OSError, asyncpg.PostgresError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """initdb + start a cluster in a folder of its own under /tmp (pytest's are private to
    root), as user postgres when run as root; removed afterwards."""
    require_admin_url()  # only where scripts/test gave the tests PostgreSQL
    data = Path(tempfile.mkdtemp(prefix="examcast-pg-"))
    as_pg: tuple[str, ...] = ()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_pg = ("runuser", "-u", "postgres", "--")
    bindir = pg_bin()
    subprocess.run(
        [
            *as_pg,
            str(bindir / "initdb"),
            "-D",
            str(data / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-locale",
            "-E",
            "UTF8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    cluster = Cluster(bindir, data, free_port(), as_pg)
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # stopped already by the test
        shutil.rmtree(data, ignore_errors=True)

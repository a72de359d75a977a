from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aioice.stun
import pytest

from tests.support.loopwatch import LoopWatch
from tests.support.postgres import BACKENDS, app_database
from tests.support.server import (
    RunningServer,
    api_server_fixture,
    running_server,
    server_settings,
)

# The loop thread spending this long (CPU or disk waits) before answering means something
# ran on the event loop that belongs in a thread. A whole run's worst is ~0.15 s (a test
# decoding a recording). At 0.5 s two CI runs failed, at 0.84 and 0.75 s, on tests whose
# worst alone is far less (0.03 s for the upload one), with the other worker's browsers on
# the second core: the cause unknown, so the message now says where the loop thread was.
MAX_LOOP_STALL_S = 1.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_databases`` run twice: on SQLite and on PostgreSQL."""
    if metafunc.definition.get_closest_marker("both_databases") is not None:
        metafunc.parametrize("app_backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
async def app_backend(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The database the servers of this test are built on (server_settings reads it)."""
    backend = str(getattr(request, "param", "sqlite"))
    async with app_database(backend):
        yield backend


@pytest.fixture(autouse=True)
def short_ice_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A STUN transaction that gets no answer gives up after 0.5 + 1.0 s instead of 63.5 s
    (saved, shortened, and restored after each test). Its first wait stays aioice's 0.5 s:
    the consent checks (every ~5 s, one try each, the connection closed after six missed in
    a row) wait that long, and at 0.1 s a test peer on a starved worker lost its
    connection after 30 s of answers a little late."""
    monkeypatch.setattr(aioice.stun, "RETRY_MAX", 1)


@pytest.fixture(autouse=True)
async def loop_watch() -> AsyncIterator[None]:
    watch = LoopWatch(asyncio.get_running_loop()).start()
    yield
    stall = watch.stop()
    assert stall < MAX_LOOP_STALL_S, (
        f"the event loop thread spent {stall:.3f}s before answering "
        f"(waited up to {watch.max_wall:.3f}s; {watch.gc_s:.3f}s in the garbage collector "
        f"left out); the loop thread was at: {watch.where()}"
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_settings(tmp_path / "data")) as running:
        yield running


# A server for API and exam tests: cheaper Argon2 (the same algorithm), everything else as
# in server_settings. A module that needs other settings names its own with them.
api_server = api_server_fixture()

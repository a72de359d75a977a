"""The test Redis (``scripts/test`` starts one on loopback and sets
``EXAMCAST_TEST_REDIS_URL``): a client on a key prefix of each test's own.

Without the variable the Redis cases are skipped (never silently faked).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from bench.spawn import free_port

REDIS_URL = os.environ.get("EXAMCAST_TEST_REDIS_URL", "")


def need_redis() -> str:
    if not REDIS_URL:
        pytest.skip("EXAMCAST_TEST_REDIS_URL is not set (scripts/test starts a Redis)")
    return REDIS_URL


def key_prefix() -> str:
    """Keys of one test: ``examcast-test:<random>:``, so tests and workers never meet."""
    return f"examcast-test:{secrets.token_hex(4)}:"


@asynccontextmanager
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client of the test Redis (decoded strings, as the server's)."""
    client = aioredis.Redis.from_url(need_redis(), decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


class OwnRedis:
    """A Redis of one test's own on a free loopback port, to stop and start again (the shared
    test Redis must stay up for the others)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@asynccontextmanager
async def write_watching_client(
    on_write: Callable[[bytes], None],
) -> AsyncIterator[aioredis.Redis]:
    """A client of the test Redis that calls ``on_write(command)`` as each command's write
    to the socket completes, inside redis-py's ``asyncio.wait_for`` around it (its socket
    timeout): a task cancelled there, on Python 3.11, never sees the cancellation (that
    wait_for drops it; 3.12 does not). What a cancel landing at that moment does, on cue."""

    class Watched(Connection):
        async def _send_packed_command(self, command: Iterable[bytes]) -> None:
            parts = list(command)
            await super()._send_packed_command(parts)
            on_write(b"".join(parts))

    assert hasattr(Connection, "_send_packed_command"), "redis-py moved the socket write"
    client = aioredis.Redis.from_url(need_redis(), decode_responses=True, connection_class=Watched)
    try:
        yield client
    finally:
        await client.aclose()

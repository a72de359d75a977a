"""Requests aiohttp cannot parse: a 400 that names no software version, and one line in the
log instead of a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import ServerProcess, start_server
from tests.support.server import RunningServer
from web.guards import SERVER

GARBAGE = [
    b"GET /api/me HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    b"GET /api/me HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.fixture
def process_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


async def _send(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return reply


async def test_malformed_requests_are_refused_without_a_traceback(
    process_server: ServerProcess,
) -> None:
    for raw in GARBAGE:
        reply = await _send(process_server.port, raw)
        assert reply.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), (raw, reply[:80])
    # The server still serves, and its log says what happened in one line each.
    assert (
        await _send(
            process_server.port, b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    ).startswith(b"HTTP/1.1 200 OK")
    log = process_server.log()
    assert "Traceback" not in log and " ERROR " not in log, log
    assert log.count("a malformed request") == len(GARBAGE), log


async def test_the_400s_aiohttp_makes_itself_name_no_software_version(
    api_server: RunningServer,
) -> None:
    """They skip the app's middlewares and ``on_response_prepare``: aiohttp's own Server
    header ("Python/3.x aiohttp/x.y") is ours."""
    for raw in GARBAGE:
        reply = await _send(api_server.settings.port, raw)
        head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        assert head[0].endswith(" 400 Bad Request"), (raw, head)
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in head[1:])}
        assert headers.get("server") == SERVER, (raw, headers)
        assert b"aiohttp" not in reply.lower() and b"python" not in reply.lower(), (raw, reply)

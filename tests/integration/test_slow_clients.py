"""Slow clients: headers must be complete in time, bodies must keep a minimum rate."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from tests.support import files
from tests.support.api import api_client
from tests.support.server import RunningServer, api_server_fixture
from tests.support.tus import Tus, about, candidate_at, raw_patch, status_line

VIDEO = files.mp4(frames=10, width=320, height=240, noise=True)
TRICKLE_S = 0.2  # how often a slow client sends its next few bytes


server = api_server_fixture(
    header_timeout_s=1,
    body_grace_s=1,
    body_min_rate=1000,
    upload_idle_s=30,  # the per-read idle limit never fires for a trickle
)


async def _trickle(
    writer: asyncio.StreamWriter, closed: asyncio.Task[bytes], parts: int, part: bytes
) -> int:
    """Send ``part`` every TRICKLE_S until the server closes or ``parts`` are sent; how many."""
    sent = 0
    while sent < parts and not closed.done():
        writer.write(part)
        try:
            await writer.drain()
        except ConnectionError:
            break
        sent += 1
        await asyncio.wait({closed}, timeout=TRICKLE_S)
    return sent


async def test_headers_trickled_in_are_cut_off_at_the_bound(server: RunningServer) -> None:
    where = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    closed = asyncio.create_task(reader.read())
    writer.write(f"GET /api/me HTTP/1.1\r\nHost: {where.netloc}\r\n".encode())
    sent = await _trickle(writer, closed, 60, b"X-Slow: 1\r\n")  # 12 s if never cut
    assert closed.done() and sent < 60, "a trickled request was held open"
    assert await closed == b""  # closed without a response: no request ever arrived
    writer.close()
    # A client that sends its request at once is served as usual.
    async with api_client(server) as client:
        assert (await client.call("GET", "/api/me")).status == 401


async def test_a_body_below_the_minimum_rate_is_ended_and_keeps_what_arrived(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        reader, writer = await raw_patch(client, url, 0, len(VIDEO))
        closed = asyncio.create_task(reader.read())
        writer.write(VIDEO[:100])
        sent = 100 + 10 * await _trickle(writer, closed, 100, VIDEO[100:110])  # 50 bytes/s
        assert closed.done() and sent < 100 + 10 * 100, "a trickled body was held open"
        writer.close()
        offset = await tus.offset(url)
        assert 100 <= offset <= sent  # every byte that arrived is kept ...
        done = await tus.send_all(url, VIDEO, 64 * 1024, start=offset)  # ... and it resumes
        assert done.headers["Upload-Offset"] == str(len(VIDEO))


async def test_a_slow_but_steady_body_is_served(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        part = 4000  # 20 kB/s: slow, but above the minimum
        length = 15 * part
        reader, writer = await raw_patch(client, url, 0, length)
        for start in range(0, length, part):
            writer.write(VIDEO[start : start + part])
            await writer.drain()
            await asyncio.sleep(TRICKLE_S)
        assert await status_line(reader) == 204
        writer.close()
        assert await tus.offset(url) == length

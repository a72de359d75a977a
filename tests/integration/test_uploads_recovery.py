"""A server killed (SIGKILL) in the middle of an upload loses no acknowledged byte: after
a restart HEAD says where the data ends, the client resumes, and the stored file's
SHA-256 is the source's."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import aiohttp

from tests.support import files
from tests.support.api import api_client
from tests.support.exams import offline_question
from tests.support.process import ServerProcess, start_server
from tests.support.server import running_server
from tests.support.server import server_settings as settings_for
from tests.support.tus import KIB, OFFSET_STREAM, TUS, Tus, about, candidate_at, q

MIB = KIB * KIB


async def test_an_upload_resumes_after_the_server_is_killed(tmp_path: Path) -> None:
    video = await asyncio.to_thread(files.mp4, 60, 640, 480, True)
    assert len(video) > 6 * MIB
    data = tmp_path / "data"
    settings = settings_for(data, password_hash_memory_kib=1024, reconnect_grace_s=120)
    async with running_server(settings) as server:  # set up in-process, then serve for real
        async with api_client(server) as admin, api_client(server) as client:
            rule = offline_question(max_bytes=64 * MIB)
            exam_id, _ = await candidate_at(server, admin, client, rule)
            url = (await Tus(client).create(len(video), **about(exam_id))).headers["Location"]
            cookie = {"Cookie": f"examcast_session={client.cookie()}"}

    first = await asyncio.to_thread(start_server, data)
    try:
        sent = await send_part_then_kill(first, url, cookie, video, 5 * MIB)
    finally:
        first.stop()

    second = await asyncio.to_thread(start_server, data)
    try:
        async with aiohttp.ClientSession(second.url, headers=cookie | TUS) as http:
            async with http.head(url) as head:
                assert head.status == 200
                offset = int(head.headers["Upload-Offset"])
            assert 0 < offset <= sent, (offset, sent)
            headers = {"Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM}
            async with http.patch(url, data=video[offset:], headers=headers) as patch:
                assert patch.status == 204, await patch.text()
                assert patch.headers["Upload-Offset"] == str(len(video))
            async with http.get(q(exam_id)) as page:
                attempt = (await page.json())["question"]["attempt"]
    finally:
        second.stop()
    [stored] = attempt["files"]
    assert stored["pending"] is False
    path = data / "uploads" / attempt["attempt_id"] / f"{stored['file_id']}.mp4"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(video).hexdigest()


async def send_part_then_kill(
    server: ServerProcess, url: str, cookie: dict[str, str], video: bytes, part: int
) -> int:
    """Start a PATCH of the whole file, send ``part`` bytes, and SIGKILL the server while
    the request is still open. How many bytes were sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"{next(iter(cookie))}: {cookie['Cookie']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: {OFFSET_STREAM}\r\n"
        f"Content-Length: {len(video)}\r\n\r\n"
    )
    writer.write(head.encode() + video[:part])
    await writer.drain()
    async with aiohttp.ClientSession(server.url, headers=cookie | TUS) as http:
        deadline = time.monotonic() + 10
        while True:  # until the server has written some of it
            async with http.head(url) as response:
                if int(response.headers["Upload-Offset"]) >= MIB:
                    break
            assert time.monotonic() < deadline, "the server wrote nothing of the PATCH"
            await asyncio.sleep(0.05)
    await asyncio.to_thread(server.kill)
    writer.close()
    del reader
    return part

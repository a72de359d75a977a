"""A server with ``storage_url`` on a real S3-compatible store (SeaweedFS on loopback): a real
aiortc candidate's take is shipped in pieces while it records, lands whole with its hash,
and plays from the store with HTTP Range; a fill and answer files (tus and single-request)
land there too and are downloaded from there (local copies deleted once verified)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import av
import pytest

from exams.shared.objects import ObjectStore
from media.shipping import PIECES
from storage.objects import open_store
from tests.integration.test_fills import (
    WEBM,
    copy_of,
    fill_values,
    gaps,
    send_fill,
    take_with_gap,
)
from tests.support import files, seaweed
from tests.support.api import api_client
from tests.support.clock import wait_until
from tests.support.fill_media import fill_body
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import start_server
from tests.support.server import RunningServer, connected_client, running_server
from tests.support.server import server_settings as settings_for
from tests.support.tus import KIB, Tus, about, candidate_at, files_of, q
from web.keys import HUB, STORED_FILES

WITHIN_S = 30.0
VIDEO = files.mp4(frames=30, width=320, height=240, noise=True)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    url = await asyncio.to_thread(seaweed.ready_url)
    if url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    access, secret = seaweed.keys()
    settings = settings_for(
        tmp_path / "data",
        storage_url=url,
        storage_access_key=access,
        storage_secret_key=secret,
        storage_piece_ms=500,
        reconnect_grace_s=30,
        password_hash_memory_kib=1024,
    )
    async with running_server(settings) as running:
        yield running


def store_of(server: RunningServer) -> ObjectStore:
    store = server.app[STORED_FILES].store
    assert store is not None
    return store


async def stored_with(store: ObjectStore, key: str, sha256: str) -> None:
    async def there() -> bool:
        info = await store.head(key)
        return info is not None and info.sha256 == sha256

    await wait_until(there, WITHIN_S, f"{key} in the store with its hash")


async def test_a_take_goes_up_while_it_records_and_plays_from_the_store(
    server: RunningServer, tmp_path: Path
) -> None:
    store = store_of(server)
    async with connected_client(server) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        key = f"recordings/{take['take_id']}/segment-000.webm"

        async def two_pieces() -> bool:
            return len(await store.list(key + PIECES)) >= 2

        await wait_until(two_pieces, WITHIN_S, "two pieces of the segment being recorded")
        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            assert (await r.json())["state"] == "recording"  # the pieces came before its end
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
        assert stored["state"] == "stored", stored
        [segment] = stored["manifest"]["segments"]
        await stored_with(store, key, segment["sha256"])

        async def pieces_gone() -> bool:
            return await store.list(key + PIECES) == []

        await wait_until(
            pieces_gone, WITHIN_S, "the pieces deleted once the whole segment is verified"
        )
        # storage_keep_local off: the store has it now (deleted after the pieces)
        local = server.settings.recordings_dir / take["take_id"] / "segment-000.webm"
        await wait_until(lambda: not local.exists(), WITHIN_S, "the local file deleted")

        url = f"{server.url}/api/takes/{take['take_id']}/segments/0"
        async with client.http.get(url) as r:
            assert r.status == 200 and r.headers["Accept-Ranges"] == "bytes"
            assert r.headers["Content-Type"] == "video/webm"
            data = await r.read()
        assert hashlib.sha256(data).hexdigest() == segment["sha256"]
        assert len(data) == segment["size"]
        async with client.http.get(url, headers={"Range": "bytes=100-199"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
            assert await r.read() == data[100:200]
        async with client.http.get(url, headers={"Range": "bytes=-500"}) as r:
            assert r.status == 206 and await r.read() == data[-500:]
        async with client.http.get(url, headers={"Range": f"bytes={len(data) - 10}-"}) as r:
            assert r.status == 206 and await r.read() == data[-10:]
        async with client.http.get(url, headers={"Range": f"bytes={len(data)}-"}) as r:
            assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    # The same auth as ever: nobody else gets it.
    async with api_client(server) as nobody:
        assert (await nobody.call("GET", f"/api/takes/{take['take_id']}/segments/0")).status == 401
    async with connected_client(server) as other:
        async with other.http.get(url) as r:
            assert r.status == 404

    downloaded = tmp_path / "downloaded.webm"
    downloaded.write_bytes(data)
    with av.open(str(downloaded)) as f:
        frames = sum(1 for _ in f.decode(video=0))
    video = next(s for s in segment["streams"] if s["kind"] == "video")
    assert frames == video["frames"] > 0


async def test_a_fill_lands_in_the_store_and_plays_from_there(
    server: RunningServer, tmp_path: Path
) -> None:
    store = store_of(server)
    async with connected_client(server) as client:
        take = await take_with_gap(server, client)
        before = await gaps(client.http, server.url, take["take_id"])
        [gap] = before["cameras"]["primary"]
        parts, started_at_ms = await copy_of(tmp_path, take)
        from_ms = take["started_at"] * 1000 + gap["start_s"] * 1000
        to_ms = take["started_at"] * 1000 + gap["end_s"] * 1000
        body, head = fill_body(parts, from_ms, to_ms)
        status, reply = await send_fill(
            client.http,
            server.url,
            body,
            **fill_values(take, started_at_ms, from_ms, to_ms, head, mime=WEBM),
        )
        assert status == 204, reply
        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            manifest = (await r.json())["manifest"]
        for segment in manifest["segments"]:  # the recorded ones and the fill
            await stored_with(
                store, f"recordings/{take['take_id']}/{segment['file']}", segment["sha256"]
            )
        fill = manifest["segments"][-1]
        assert fill["reason"] == "fill"
        url = f"{server.url}/api/takes/{take['take_id']}/segments/{fill['index']}"
        async with client.http.get(url) as r:
            assert r.status == 200
            data = await r.read()
    assert hashlib.sha256(data).hexdigest() == fill["sha256"]
    local = server.settings.recordings_dir / take["take_id"] / fill["file"]
    await wait_until(lambda: not local.exists(), WITHIN_S, "the fill's local file deleted")
    path = tmp_path / "fill.webm"
    path.write_bytes(data)
    with av.open(str(path)) as f:
        assert sum(1 for _ in f.decode(video=0)) > 0


async def test_answer_files_land_in_the_store_and_download_from_there(
    server: RunningServer,
) -> None:
    store = store_of(server)
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        url = (await tus.create(len(VIDEO), **about(exam_id))).headers["Location"]
        await tus.send_all(url, VIDEO, 512 * KIB)
        png = files.png()
        stored = await client.call("POST", q(exam_id) + "/files?name=a.png", data=png)
        assert stored.status == 201
        page = await client.call("GET", q(exam_id))
        attempt_id = page.body["question"]["attempt"]["attempt_id"]
        by_format = {f["format"]: f for f in await files_of(client, exam_id)}
        for fmt, data in (("mp4", VIDEO), ("png", png)):
            key = f"uploads/{attempt_id}/{by_format[fmt]['file_id']}.{fmt}"
            await stored_with(store, key, hashlib.sha256(data).hexdigest())
        assert not any((server.settings.uploads_dir / attempt_id).glob("*.mp4"))
        submitted = await client.call("POST", q(exam_id) + "/submit")
        assert submitted.body["question"]["phase"] == "submitted"

        rows = (await admin.call("GET", f"/api/admin/exams/{exam_id}/submissions")).body
        urls = {f["format"]: f["url"] for f in rows["submissions"][0]["files"]}
        download = await admin.call("GET", urls["mp4"])
        assert download.status == 200 and download.body == VIDEO
        ranged = await admin.call("GET", urls["mp4"], headers={"Range": "bytes=10-19"})
        assert ranged.status == 206 and ranged.body == VIDEO[10:20]
        # The export zips every file from the store (none is left on this disk).
        export = await admin.call("GET", f"/api/admin/exams/{exam_id}/export")
        assert export.status == 200
    with zipfile.ZipFile(io.BytesIO(export.body)) as z:
        contents = {n: z.read(n) for n in z.namelist()}
    assert VIDEO in contents.values() and png in contents.values()


async def test_a_finished_segment_goes_up_whole_while_its_take_still_records(
    server: RunningServer,
) -> None:
    store = store_of(server)
    async with connected_client(server) as client:
        session_id, first_pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await server.recorded(take["take_id"], 1.5)
        await first_pc.close()  # the network dropped; the page makes a new connection
        await client.publish([SyntheticVideo(), SyntheticAudio()], session_id=session_id)
        first = f"recordings/{take['take_id']}/segment-000.webm"

        async def first_whole() -> bool:
            info = await store.head(first)
            return info is not None and info.sha256 is not None

        await wait_until(first_whole, WITHIN_S, "the first segment whole in the store")
        # The first segment is finished: media written past it is the new connection's.
        first_s = server.app[HUB].written_s(take["take_id"])["primary"]
        await server.recorded(take["take_id"], first_s + 0.5)
        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            assert (await r.json())["state"] == "recording"

        async def no_pieces() -> bool:  # deleted once the whole object is verified
            return await store.list(first + PIECES) == []

        await wait_until(no_pieces, WITHIN_S, "the first segment's pieces deleted")
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
    segments = stored["manifest"]["segments"]
    assert [s["reason"] for s in segments] == ["start", "reconnect"]
    for segment in segments:  # the same hash as the manifest's, shipped once
        await stored_with(
            store, f"recordings/{take['take_id']}/{segment['file']}", segment["sha256"]
        )


async def test_a_node_killed_mid_take_with_its_disk_lost_recovers_the_take_from_the_store(
    tmp_path: Path,
) -> None:
    """kill -9 mid-take, then the node's recordings folder is gone (a replaced machine): at
    start the take comes back from the store, its finished segment whole and the one being
    recorded joined from its pieces, and is stored again with its hashes."""
    url = await asyncio.to_thread(seaweed.ready_url)
    if url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    access, secret = seaweed.keys()
    args = [
        *("--storage-url", url, "--storage-access-key", access),
        *("--storage-secret-key", secret, "--storage-piece-ms", "500"),
    ]
    data = tmp_path / "data"
    store = open_store(url, access, secret)
    server = await asyncio.to_thread(start_server, data, *args)
    try:
        async with connected_client(server) as client:
            session_id, first_pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
            take = await client.call(
                "start_take", {"session_id": session_id, "purpose": "device_check"}
            )
            prefix = f"recordings/{take['take_id']}/"

            async def recording() -> bool:
                return len(await store.list(prefix + "segment-000.webm" + PIECES)) >= 2

            await wait_until(recording, WITHIN_S, "pieces of the first segment")
            await first_pc.close()  # a new connection: the first segment is finished
            await client.publish([SyntheticVideo(), SyntheticAudio()], session_id=session_id)

            async def shipped() -> bool:
                first = await store.head(prefix + "segment-000.webm")
                pieces = await store.list(prefix + "segment-001.webm" + PIECES)
                return first is not None and len(pieces) >= 3

            await wait_until(shipped, WITHIN_S, "the first segment whole and pieces of the second")
            await asyncio.to_thread(server.kill)
            cookie = "; ".join(f"{c.key}={c.value}" for c in client.http.cookie_jar)
    finally:
        server.stop()
    shutil.rmtree(data / "recordings")  # the node's disk is gone with it

    restarted = await asyncio.to_thread(start_server, data, *args)
    try:
        async with aiohttp.ClientSession() as owner:
            summary_url = f"{restarted.url}/api/takes/{take['take_id']}"
            async with owner.get(summary_url, headers={"Cookie": cookie}) as r:
                summary = await r.json()
            segments = summary["manifest"]["segments"]
            async with owner.get(summary_url + "/segments/1", headers={"Cookie": cookie}) as r:
                assert r.status == 200
                second = await r.read()
    finally:
        restarted.stop()
        await store.close()
    assert summary["state"] == "stored" and summary["stop_reason"] == "server_restart"
    assert [s["file"] for s in segments] == ["segment-000.webm", "segment-001.webm"]
    assert all(s["picture_s"] > 0.5 for s in segments), segments
    assert hashlib.sha256(second).hexdigest() == segments[1]["sha256"]
    path = tmp_path / "second.webm"
    path.write_bytes(second)
    with av.open(str(path)) as f:
        assert sum(1 for _ in f.decode(video=0)) > 15

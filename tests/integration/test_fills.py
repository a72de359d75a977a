"""Filling a take's hole from the page's local copy (issue #14), end to end.

A real aiortc peer records a device check; its uplink is cut for a few seconds
mid-take (the server records a ``media_lost`` gap). The page's copy is a
browser-like recording made with PyAV (WebM as Chrome's MediaRecorder makes it,
fragmented MP4 as Safari's), cut into chunks, sliced into head + tail and sent
over the real tus endpoint. The stored fill is decoded with PyAV.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from exams.identity.accounts import Role
from tests.integration.test_recording_loss import Outage, until
from tests.support.analysis import segment_file
from tests.support.api import api_client
from tests.support.exams import (
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    staff,
    verify_for_exam,
)
from tests.support.fill_media import chunks, fill_body, recording
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import start_server
from tests.support.server import Client, RunningServer, connected_client, running_server
from tests.support.server import server_settings as settings_for
from web.keys import HUB, RESUMABLE

TUS = {"Tus-Resumable": "1.0.0"}
WEBM = "video/webm;codecs=vp8,opus"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server that waits long enough for a device whose media stopped for seconds."""
    async with running_server(settings_for(tmp_path / "data", reconnect_grace_s=30)) as running:
        yield running


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def send_fill(
    http: aiohttp.ClientSession, url: str, body: bytes, **values: str
) -> tuple[int, dict[str, Any]]:
    """Create a fill upload, then send every byte (checksummed); the last reply."""
    headers = {**TUS, "Upload-Length": str(len(body)), "Upload-Metadata": meta(**values)}
    async with http.post(f"{url}/api/uploads/", headers=headers) as r:
        if r.status != 201:
            return r.status, await r.json()
        location = r.headers["Location"]
    half = len(body) // 2
    offset = 0
    for piece in (body[:half], body[half:]):  # two PATCHes: it resumes at the offset
        digest = base64.b64encode(hashlib.sha256(piece).digest()).decode()
        headers = {
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": f"sha256 {digest}",
        }
        async with http.patch(f"{url}{location}", data=piece, headers=headers) as r:
            if r.status != 204:
                return r.status, await r.json()
            offset = int(r.headers["Upload-Offset"])
    return 204, {}


async def gaps(http: aiohttp.ClientSession, url: str, take_id: str) -> dict[str, Any]:
    async with http.get(f"{url}/api/takes/{take_id}/gaps") as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def take_with_gap(server: RunningServer, client: Client) -> dict[str, Any]:
    """A device check whose uplink is cut for five seconds mid-take; stored."""
    session_id, pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
    outage = Outage(pc)
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    hub = server.app[HUB]
    await server.recorded(take["take_id"], 1.5)
    outage.on = True
    await asyncio.sleep(5.0)  # the outage: more than the sender keeps to retransmit
    outage.on = False
    before = hub.written_s(take["take_id"])["primary"]
    await until(
        lambda: hub.written_s(take["take_id"])["primary"] >= before + 1.5, 20, "media again"
    )
    stored: dict[str, Any] = await client.call("stop_take", {"take_id": take["take_id"]})
    assert stored["state"] == "stored", stored
    [gap] = stored["manifest"]["gaps"]
    assert gap["end_s"] - gap["start_s"] > 2.5
    assert stored["complete"] is False
    return stored


async def copy_of(
    tmp: Path, take: dict[str, Any], container: str = "webm", shift_s: float = 0.0
) -> tuple[list[Any], float]:
    """The page's copy of the take: from the take's start (plus ``shift_s``) to its end
    (encoded in a thread: the server shares this process's event loop)."""
    seconds = take["stopped_at"] - take["started_at"] + 0.5
    data = await asyncio.to_thread(recording, tmp / f"copy.{container}", seconds, container)
    started_at_ms = (take["started_at"] + shift_s) * 1000
    return chunks(data, seconds, started_at_ms, max(4, int(seconds))), started_at_ms


def fill_values(
    take: dict[str, Any], started_at_ms: float, from_ms: float, to_ms: float, head: int, **kw: str
) -> dict[str, str]:
    values = {
        "kind": "fill",
        "take_id": take["take_id"],
        "camera": "primary",
        "started_at_ms": f"{started_at_ms:.0f}",
        "from_ms": f"{from_ms:.0f}",
        "to_ms": f"{to_ms:.0f}",
        "head_size": str(head),
        "mime": WEBM,
    }
    return values | kw


def mpeg4_in_matroska(path: Path) -> bytes:
    """Three seconds of MPEG-4 Part 2 in clusters of a second (a codec no browser sends)."""
    with av.open(str(path), "w", format="matroska", options={"cluster_time_limit": "1000"}) as out:
        s = out.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(90):
            frame = av.VideoFrame(64, 64, "yuv420p")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path.read_bytes()


@pytest.mark.parametrize("container", ["webm", "mp4"])
async def test_a_fill_closes_the_gap_and_the_take_plays_across_it(
    server: RunningServer, tmp_path: Path, container: str
) -> None:
    async with connected_client(server) as client:
        take = await take_with_gap(server, client)
        before = await gaps(client.http, server.url, take["take_id"])
        assert before["complete"] is False and before["fill_until"] > server.now()
        [gap] = before["cameras"]["primary"]
        parts, started_at_ms = await copy_of(tmp_path, take, container)
        from_ms = take["started_at"] * 1000 + gap["start_s"] * 1000
        to_ms = take["started_at"] * 1000 + gap["end_s"] * 1000
        body, head = fill_body(parts, from_ms, to_ms)
        mime = WEBM if container == "webm" else "video/mp4"
        status, reply = await send_fill(
            client.http,
            server.url,
            body,
            **fill_values(take, started_at_ms, from_ms, to_ms, head, mime=mime),
        )
        assert status == 204, reply
        after = await gaps(client.http, server.url, take["take_id"])
        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            summary = await r.json()

    assert after["complete"] is True and after["cameras"]["primary"] == []
    assert summary["complete"] is True and summary["gaps"] == []
    manifest = summary["manifest"]
    fill = manifest["segments"][-1]
    assert fill["reason"] == "fill" and fill["source"] == "local_copy"
    assert fill["covers"] == [gap["start_s"], gap["end_s"]]
    assert fill["upload_sha256"] == hashlib.sha256(body).hexdigest()
    assert fill["start_s"] <= gap["start_s"]  # from the keyframe at or before the hole
    path = segment_file(server.settings.data_dir, take["take_id"], fill)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == fill["sha256"]
    # The timeline has no hole: every stretch is in a segment, the fill decodes throughout.
    spans = sorted((s["start_s"], s["start_s"] + s["duration_s"]) for s in manifest["segments"])
    reached = spans[0][1]
    for start, end in spans[1:]:
        assert start <= reached + 0.05, (spans, manifest["gaps"])
        reached = max(reached, end)
    with av.open(str(path)) as f:
        frames = [fr.time for fr in f.decode(video=0)]
    assert frames[-1] + fill["start_s"] >= gap["end_s"] - 0.1
    assert frames[0] + fill["start_s"] <= gap["start_s"]
    steps = [b - a for a, b in itertools.pairwise(frames)]
    assert max(steps) < 0.1, "a hole inside the fill"
    gap_s = gap["end_s"] - gap["start_s"]
    assert manifest["recorded_gaps"] == take["manifest"]["gaps"]
    assert manifest["recorded_s"] == pytest.approx(take["manifest"]["recorded_s"] + gap_s, abs=0.01)


async def test_fills_that_do_not_fit_are_refused_and_change_nothing(
    server: RunningServer, tmp_path: Path
) -> None:
    async with connected_client(server) as client, connected_client(server) as other:
        take = await take_with_gap(server, client)
        [gap] = (await gaps(client.http, server.url, take["take_id"]))["cameras"]["primary"]
        parts, started_at_ms = await copy_of(tmp_path, take)
        base = take["started_at"] * 1000
        from_ms, to_ms = base + gap["start_s"] * 1000, base + gap["end_s"] * 1000
        body, head = fill_body(parts, from_ms, to_ms)
        good = fill_values(take, started_at_ms, from_ms, to_ms, head)

        async def refused(data: bytes, values: dict[str, str], who: Client = client) -> Any:
            status, reply = await send_fill(who.http, server.url, data, **values)
            assert status >= 400, (status, reply)
            assert set(reply["error"]) >= {"code", "message"}, reply
            return status, reply["error"]["message"]

        # Not the candidate's take.
        assert (await refused(body, good, other))[0] == 404
        # Not media at all.
        junk = b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 200
        assert (await refused(junk, {**good, "head_size": "1000"}))[0] == 415
        # Media of the wrong codec (MPEG-4 Part 2 in Matroska, said to be WebM).
        wrong = tmp_path / "wrong.mkv"
        data = await asyncio.to_thread(mpeg4_in_matroska, wrong)
        status, message = await refused(data, {**good, "head_size": str(len(data) // 4)})
        assert status == 415 and "mpeg4" in message
        # Media shorter than it claims: the copy holds the first second only.
        short = [c for c in parts if c.end_ms <= parts[0].end_ms + 1]
        sbody, shead = fill_body(short * 2, from_ms, to_ms)
        status, message = await refused(sbody, {**good, "head_size": str(shead)})
        assert status == 400 and "does not span" in message
        # Another take's data: a copy that started a minute before this take.
        status, message = await refused(
            body, {**good, "started_at_ms": f"{started_at_ms - 60_000:.0f}"}
        )
        assert status == 400 and "not this take's" in message
        # A forged time range: outside the take, or over no gap.
        late = {**good, "from_ms": f"{base + 500_000:.0f}", "to_ms": f"{base + 510_000:.0f}"}
        assert (await refused(body, late))[0] == 400
        early = {**good, "from_ms": f"{base + 100:.0f}", "to_ms": f"{base + 900:.0f}"}
        assert (await refused(body, early))[0] == 409

        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            assert (await r.json())["manifest"] == take["manifest"], "the take changed"

        # After the time for fills (a take outside an exam: two hours after it stopped).
        server.advance(7200 + 1)
        status, message = await refused(body, good)
        assert status == 410
        assert (await gaps(client.http, server.url, take["take_id"]))["complete"] is False


async def test_a_take_still_recording_cannot_be_filled(server: RunningServer) -> None:
    async with connected_client(server) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        now = server.now() * 1000
        values = fill_values(take, now, now + 1000, now + 2000, 10)
        status, reply = await send_fill(client.http, server.url, b"x" * 100, **values)
        assert status == 409 and "still recording" in reply["error"]["message"], reply
        listed = await gaps(client.http, server.url, take["take_id"])
        assert listed["state"] == "recording" and listed["fill_until"] is None
        await client.call("stop_take", {"take_id": take["take_id"]})


async def test_two_fills_of_one_gap_at_once_one_wins(server: RunningServer, tmp_path: Path) -> None:
    async with connected_client(server) as client:
        take = await take_with_gap(server, client)
        [gap] = (await gaps(client.http, server.url, take["take_id"]))["cameras"]["primary"]
        parts, started_at_ms = await copy_of(tmp_path, take)
        base = take["started_at"] * 1000
        from_ms, to_ms = base + gap["start_s"] * 1000, base + gap["end_s"] * 1000
        body, head = fill_body(parts, from_ms, to_ms)
        values = fill_values(take, started_at_ms, from_ms, to_ms, head)
        results = await asyncio.gather(
            *(send_fill(client.http, server.url, body, **values) for _ in range(2))
        )
        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            summary = await r.json()
    statuses = sorted(status for status, _ in results)
    assert statuses == [204, 409], results
    fills = [s for s in summary["manifest"]["segments"] if s["reason"] == "fill"]
    assert len(fills) == 1 and summary["complete"] is True


async def test_a_take_cut_by_the_servers_death_ends_in_a_gap_the_copy_fills(
    tmp_path: Path,
) -> None:
    """kill -9 mid-take: the restarted server recovers the take with a trailing gap up to
    when it came back (the take's limit is later), and the page's copy fills it."""
    data = tmp_path / "data"
    server = await asyncio.to_thread(start_server, data)
    try:
        async with connected_client(server) as client:
            session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
            take = await client.call(
                "start_take", {"session_id": session_id, "purpose": "device_check"}
            )
            await asyncio.sleep(3)  # record a few seconds (the server is another process)
            await asyncio.to_thread(server.kill)
            cookie = "; ".join(f"{c.key}={c.value}" for c in client.http.cookie_jar)
    finally:
        server.stop()
    restarted = await asyncio.to_thread(start_server, data)
    try:
        async with aiohttp.ClientSession(headers={"Cookie": cookie}) as http:
            async with http.get(f"{restarted.url}/api/takes/{take['take_id']}") as r:
                stored = await r.json()
            assert stored["state"] == "stored" and stored["complete"] is False, stored
            [segment] = stored["manifest"]["segments"]
            assert segment["start_s"] is not None  # placed on the take's clock from its file
            [gap] = stored["manifest"]["gaps"]
            assert gap["reason"] == "server_restart"
            assert gap["start_s"] == round(segment["start_s"] + segment["duration_s"], 3)
            assert gap["end_s"] == round(stored["stopped_at"] - stored["started_at"], 3)
            listed = await gaps(http, restarted.url, take["take_id"])
            assert listed["cameras"]["primary"] == [gap]

            parts, started_at_ms = await copy_of(tmp_path, stored)
            base = stored["started_at"] * 1000
            from_ms, to_ms = base + gap["start_s"] * 1000, base + gap["end_s"] * 1000
            body, head = fill_body(parts, from_ms, to_ms)
            values = fill_values(stored, started_at_ms, from_ms, to_ms, head)
            status, reply = await send_fill(http, restarted.url, body, **values)
            assert status == 204, reply
            assert (await gaps(http, restarted.url, take["take_id"]))["complete"] is True
    finally:
        restarted.stop()


async def test_a_formal_take_is_filled_until_the_exams_upload_grace_ends(
    server: RunningServer, tmp_path: Path
) -> None:
    """An exam's take: fills are taken until the exam's upload deadline (its end plus the
    upload grace), not only until the answer's; the console's submission shows the open
    gap, then the stretch filled from the candidate's copy and the take complete."""
    async with api_client(server) as admin:
        await add_unit(server, "10001")
        await staff(server, admin, Role.UNIT_ADMIN, "10001")
        body = exam_body(
            online_question("q1", 1, reading_limit_s=1, recording_limit_s=40, formal_count=1),
            now=server.now(),
        )
        exam = await create_exam(admin, body)
        q1 = f"/api/exams/{exam['id']}/questions/q1"
        async with candidate_client(server, "10001") as c:
            await verify_for_exam(c.api, c.account, exam["id"])
            entered = (await c.call("POST", q1 + "/formal")).body["question"]["attempt"]
            server.advance(entered["reading"]["deadline"] - server.now())
            started = await c.device.wait_event("take_started", purpose="formal")
            take_id = started["take_id"]
            outage = Outage(c.device.pcs[-1])
            hub = server.app[HUB]
            await server.recorded(take_id, 1.5)
            outage.on = True
            await asyncio.sleep(5.0)  # the outage
            outage.on = False
            before = hub.written_s(take_id)["primary"]
            await until(lambda: hub.written_s(take_id)["primary"] >= before + 1.5, 20, "media")
            stopped = (await c.call("POST", q1 + f"/takes/{take_id}/stop")).body
            assert stopped["take"]["state"] == "stored", stopped
            await c.call("POST", q1 + "/choice", {"take_id": take_id})
            assert (await c.call("POST", q1 + "/submit")).status == 200

            rows = (await admin.call("GET", f"/api/admin/exams/{exam['id']}/submissions")).body
            [row] = [r for r in rows["submissions"] if r["question_id"] == "q1"]
            assert row["take"]["complete"] is False and len(row["take"]["gaps"]) == 1

            listed = (await c.call("GET", f"/api/takes/{take_id}/gaps")).body
            assert listed["fill_until"] == pytest.approx(body["closes_at"] + 7200)
            [gap] = listed["cameras"]["primary"]
            take = (await c.call("GET", f"/api/takes/{take_id}")).body
            parts, started_at_ms = await copy_of(tmp_path, take)
            base = take["started_at"] * 1000
            from_ms, to_ms = base + gap["start_s"] * 1000, base + gap["end_s"] * 1000
            fill, head = fill_body(parts, from_ms, to_ms)
            values = fill_values(take, started_at_ms, from_ms, to_ms, head)
            # The exam is over, the answer submitted: fills are still taken in the grace...
            server.advance(body["closes_at"] + 60 - server.now())
            status, reply = await send_fill(c.api.http, server.url, fill, **values)
            assert status == 204, reply
            rows = (await admin.call("GET", f"/api/admin/exams/{exam['id']}/submissions")).body
            [row] = [r for r in rows["submissions"] if r["question_id"] == "q1"]
            assert row["take"]["complete"] is True and row["take"]["gaps"] == []
            [filled] = [s for s in row["take"]["segments"] if s["reason"] == "fill"]
            assert filled["covers"] == [gap["start_s"], gap["end_s"]]
            # ...and not after it.
            server.advance(body["closes_at"] + 7200 + 1 - server.now())
            status, reply = await send_fill(c.api.http, server.url, fill, **values)
            assert status == 410, reply


async def take_with_trailing_gap(server: RunningServer, client: Client) -> dict[str, Any]:
    """A device check whose device went away a second in and was stopped without it; stored
    with its trailing ``connection_lost`` gap. A gap of any kind is all the expiry test
    needs, and this one waits for no media after a cut (the cut-and-back tests above do)."""
    for attempt in (1, 2):
        session_id, pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        try:
            await server.recorded(take["take_id"], 1.0)
            break
        except AssertionError:
            # Seen under the full suite only, at a fresh connection's start: the media never
            # reached the recorder (not reproduced since, alone, looped or under CPU hogs;
            # how far its media got is printed). This test is about the fills' expiry, so it
            # takes a second device check.
            if attempt == 2:
                raise
            session = server.app[HUB].get(session_id)
            stage = "no session" if session is None else session.media_stage()
            print(f"no media reached take {take['take_id']} in 15 s ({stage}): a second take")
            await client.call("stop_take", {"take_id": take["take_id"]})
            await pc.close()
    recorder = server.app[HUB]._takes[take["take_id"]]["primary"]
    await pc.close()
    await until(lambda: bool(recorder.gaps), 15, "the server to see the camera gone")
    await asyncio.sleep(1.0)  # the gap's length: the take records on without a camera
    stored: dict[str, Any] = await client.call("stop_take", {"take_id": take["take_id"]})
    assert stored["state"] == "stored", stored
    return stored


async def test_a_fill_left_unfinished_expires_with_the_time_for_fills(
    server: RunningServer, tmp_path: Path
) -> None:
    async with connected_client(server) as client:
        take = await take_with_trailing_gap(server, client)
        [gap] = (await gaps(client.http, server.url, take["take_id"]))["cameras"]["primary"]
        base = take["started_at"] * 1000
        values = fill_values(
            take, base, base + gap["start_s"] * 1000, base + gap["end_s"] * 1000, 100
        )
        headers = {**TUS, "Upload-Length": "1000", "Upload-Metadata": meta(**values)}
        async with client.http.post(f"{server.url}/api/uploads/", headers=headers) as r:
            assert r.status == 201, await r.text()
            location = r.headers["Location"]
        async with client.http.head(f"{server.url}{location}", headers=TUS) as r:
            assert r.status == 200 and r.headers["Upload-Offset"] == "0"
            assert "Upload-Expires" in r.headers
        server.advance(7200 + 1)
        assert await server.app[RESUMABLE].sweep() >= 1
        async with client.http.head(f"{server.url}{location}", headers=TUS) as r:
            assert r.status == 410

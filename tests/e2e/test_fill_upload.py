"""The page's uploader (web/static/js/lib/fill-upload.js, issue #14) in Chromium.

A real aiortc peer streams a device check for the candidate logged in on the page; its
uplink is cut for six seconds mid-take, so the server records a hole. Meanwhile the
page keeps its local copy (lib/local-copy.js: Chromium's MediaRecorder, WebM without
cues or duration, chunks on the server's clock). After the take stops, ``Filler``
asks the gaps API, uploads the slices covering the hole over tus, and confirms the
take once it is complete. The stored take is then checked with PyAV: the fill decodes
and the take's timeline has no hole left.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from typing import Any

import aiohttp
import av
import pytest
import socketio
from playwright.async_api import Page, Playwright

from media import ice
from media.recorder import HOLE_S
from tests.e2e.accounts import admit, me, steps_before_device_check
from tests.e2e.conftest import NewPage
from tests.integration.test_fills import fill_values, send_fill
from tests.integration.test_recording_loss import Outage
from tests.support.fill_media import Chunk, fill_body
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import ServerProcess
from tests.support.server import Client, socket_connect

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SETUP = """async () => {
  const { openLocalCopy } = await import('/static/js/lib/local-copy.js');
  const { ServerClock } = await import('/static/js/lib/clock.js');
  const { Filler } = await import('/static/js/lib/fill-upload.js');
  const clock = new ServerClock();
  const fetchNow = async () => (await (await fetch('/api/verification?scope=login')).json()).now;
  await clock.measure(fetchNow, 3);
  const copy = await openLocalCopy();
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const states = [];
  const filler = new Filler({ camera: 'primary', copy, onState: (s) => states.push(s) });
  window.fc = { copy, clock, stream, filler, states, takes: {} };
  return copy.backend;
}"""

BEGIN = """async (takeId) => {
  const { copy, stream, clock, takes } = window.fc;
  takes[takeId] = await copy.begin({ takeId, camera: 'primary', stream, clock });
  return takes[takeId].startedAtMs;
}"""

STOP_AND_FILL = """async (takeId) => {
  await window.fc.takes[takeId].stop();
  const gaps = await window.fc.filler.fill(takeId);
  return { gaps, states: window.fc.states, left: await window.fc.copy.takes() };
}"""


PLAY = """async (takeId) => {
  await import('/static/js/components/dual-playback.js');
  const take = await (await fetch(`/api/takes/${takeId}`)).json();
  const dual = document.createElement('dual-playback');
  document.body.append(dual);
  dual.load(take);
  const video = dual.primary;
  video.muted = true;
  video.defaultPlaybackRate = 4;
  video.playbackRate = 4;
  const samples = [];
  const ended = new Promise((resolve) => dual.addEventListener('playback-ended', resolve));
  const sample = () => samples.push({ t: Number(video.dataset.takeTime), src: video.src,
    local: video.currentTime });
  video.addEventListener('timeupdate', sample);
  await dual.playFromStart();
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 30000))]);
  return samples;
}"""


async def recorded_at_least(client: Client, session_id: str, seconds: float) -> float:
    """Poll the server's heartbeat until it holds ``seconds`` of the session's take."""
    deadline = asyncio.get_running_loop().time() + 30 + seconds
    while True:
        beat = await client.call("time", {})
        [mine] = [s for s in beat["sessions"] if s["session_id"] == session_id]
        held = float(mine.get("recorded_s") or 0.0)
        if held >= seconds:
            return held
        assert asyncio.get_running_loop().time() < deadline, f"{held} s recorded, not {seconds}"
        await asyncio.sleep(0.1)


async def candidate_socket(page: Page, url: str) -> Client:
    """The page's candidate as a second device in this process: the same log-in cookie."""
    cookies = await page.context.cookies()
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    http = aiohttp.ClientSession(headers={"Cookie": cookie})
    sio = socketio.AsyncClient(reconnection=False)
    await socket_connect(sio, url, {"Cookie": cookie})
    return Client(url, http, sio)


async def written(client: Client, take_id: str) -> float:
    async with client.http.get(f"{client.url}/api/takes/{take_id}") as r:
        body: dict[str, Any] = await r.json()
        return float(body.get("recorded_s") or 0.0)


async def test_the_page_fills_the_hole_from_its_local_copy(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await new_page(server)
    await admit(playwright, server, await me(page.context.request, server))
    await steps_before_device_check(page.context.request, server)
    await page.goto(server.url + "/account")
    assert await page.evaluate(SETUP) in ("opfs", "indexeddb")

    ice.offer_host_addresses(("127.0.0.1",), only=True)
    client = await candidate_socket(page, server.url)
    try:
        session_id, pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        outage = Outage(pc)
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        take_id = take["take_id"]
        await page.evaluate(BEGIN, take_id)
        # Recording, both on the server and on the page, then the outage (a real duration:
        # more than the sender keeps to retransmit), then recording again.
        held = await recorded_at_least(client, session_id, 2.5)
        outage.on = True
        await asyncio.sleep(6)
        outage.on = False
        await recorded_at_least(client, session_id, held + 2.5)
        stored = await client.call("stop_take", {"take_id": take_id})
        assert stored["state"] == "stored", stored
        holes = stored["manifest"]["gaps"]
        assert holes and sum(g["end_s"] - g["start_s"] for g in holes) > 4, holes

        result = await page.evaluate(STOP_AND_FILL, take_id)
        async with client.http.get(f"{server.url}/api/takes/{take_id}") as r:
            after: dict[str, Any] = await r.json()
    finally:
        await client.close()

    gaps = result["gaps"]
    assert gaps["complete"] is True, (gaps, result["states"])
    assert [s["state"] for s in result["states"]][-1] == "complete"
    assert result["left"] == [], "the copy of a complete take is deleted"
    manifest = after["manifest"]
    assert after["complete"] is True and manifest["gaps"] == []
    fills = [s for s in manifest["segments"] if s["reason"] == "fill"]
    assert fills and all(s["source"] == "local_copy" for s in fills)
    # The timeline has no hole: each stretch is in a segment.
    spans = sorted((s["start_s"], s["start_s"] + s["duration_s"]) for s in manifest["segments"])
    reached = spans[0][1]
    for start, end in spans[1:]:
        assert start <= reached + 0.05, spans
        reached = max(reached, end)
    data = server.data_dir / "recordings" / take_id
    for segment in fills:
        with av.open(str(data / segment["file"])) as f:
            assert f.streams.video[0].codec_context.name in ("vp8", "vp9", "h264")
            times = [frame.time for frame in f.decode(video=0)]
        assert segment["start_s"] + times[0] <= segment["covers"][0] + 0.05
        assert segment["start_s"] + times[-1] >= segment["covers"][1] - 0.2
        # Chromium's encoder skips frames on a busy machine: a hole is what the recorder
        # calls one (media.recorder.HOLE_S), not a late frame.
        steps = [b - a for a, b in itertools.pairwise(times)]
        assert max(steps) < HOLE_S, f"a hole inside the fill: {max(steps):.3f} s"
    hole = sum(g["end_s"] - g["start_s"] for g in holes)
    assert manifest["recorded_s"] == pytest.approx(stored["recorded_s"] + hole, abs=0.05)

    # The candidate's player plays across the filled hole without a jump (4x speed).
    samples = await page.evaluate(PLAY, take_id)
    times = [x["t"] for x in samples if x["t"] == x["t"]]  # not NaN
    ends = [s["start_s"] + s["duration_s"] for s in manifest["segments"]]
    assert times and times[-1] >= max(ends) - 1.0, samples[-5:]
    played_fill = {x["src"].split("/")[-1] for x in samples} >= {str(s["index"]) for s in fills}
    assert played_fill, {x["src"] for x in samples}
    jumps = [b - a for a, b in itertools.pairwise(times)]
    # 4x speed: about a second of take time between timeupdates; skipping the hole would
    # be a jump of its length, replaying the fill's lead-in a step back.
    assert max(jumps) < min(3.0, hole - 1) and min(jumps) > -0.1, jumps
    print(f"hole {hole:.2f} s filled by {len(fills)} fill(s); played across it")


RECORD = """async ([mime, seconds]) => {
  if (!MediaRecorder.isTypeSupported(mime)) return null;
  const { clock, stream } = window.fc;
  const recorder = new MediaRecorder(stream, { mimeType: mime, videoBitsPerSecond: 1000000,
    videoKeyFrameIntervalDuration: 1000 });
  const chunks = [];
  let last = null;
  const started = new Promise((resolve) => recorder.addEventListener('start', () => {
    last = clock.now() * 1000;
    resolve(last);
  }));
  const asBase64 = (blob) => new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.split(';base64,')[1]);
    reader.readAsDataURL(blob);
  });
  recorder.addEventListener('dataavailable', (e) => {
    const now = clock.now() * 1000;
    chunks.push({ blob: e.data, startMs: last, endMs: now });
    last = now;
  });
  recorder.start(1000);
  const startedAtMs = await started;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const stopped = new Promise((resolve) => recorder.addEventListener('stop', resolve));
  recorder.stop();
  await stopped;
  const out = [];
  for (const c of chunks) out.push({ data: await asBase64(c.blob), startMs: c.startMs,
    endMs: c.endMs });
  return { startedAtMs, mimeType: recorder.mimeType, chunks: out };
}"""


@pytest.mark.parametrize("mime", ["video/mp4", "video/mp4;codecs=avc1.42E01E,mp4a.40.2"])
async def test_chromiums_fragmented_mp4_fills_a_hole(
    new_page: NewPage, server: ServerProcess, playwright: Playwright, mime: str
) -> None:
    """Safari records MP4 in fragments (H.264 + AAC); Chromium's MediaRecorder makes the
    same kind (VP9 + Opus by default, H.264 where its build has an encoder)."""
    page = await new_page(server)
    await admit(playwright, server, await me(page.context.request, server))
    await steps_before_device_check(page.context.request, server)
    await page.goto(server.url + "/account")
    await page.evaluate(SETUP)
    if not await page.evaluate("(m) => MediaRecorder.isTypeSupported(m)", mime):
        pytest.skip(f"this Chromium's MediaRecorder cannot record {mime}")
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    client = await candidate_socket(page, server.url)
    try:
        session_id, pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        outage = Outage(pc)
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        recording = asyncio.ensure_future(page.evaluate(RECORD, [mime, 12]))
        await asyncio.sleep(3)
        outage.on = True
        await asyncio.sleep(6)
        outage.on = False
        copy = await recording
        assert copy is not None
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
        [gap] = stored["manifest"]["gaps"]
        parts = [
            Chunk(base64.b64decode(c["data"]), c["startMs"], c["endMs"]) for c in copy["chunks"]
        ]
        base = stored["started_at"] * 1000
        from_ms, to_ms = base + gap["start_s"] * 1000, base + gap["end_s"] * 1000
        body, head = fill_body(parts, from_ms, to_ms)
        values = fill_values(
            stored, copy["startedAtMs"], from_ms, to_ms, head, mime=copy["mimeType"]
        )
        status, reply = await send_fill(client.http, server.url, body, **values)
        assert status == 204, (reply, copy["mimeType"])
        async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as r:
            after: dict[str, Any] = await r.json()
    finally:
        await client.close()
    assert after["complete"] is True, after["manifest"]["gaps"]
    [segment] = [s for s in after["manifest"]["segments"] if s["reason"] == "fill"]
    assert segment["upload_sha256"] == hashlib.sha256(body).hexdigest()
    path = server.data_dir / "recordings" / take["take_id"] / segment["file"]
    with av.open(str(path)) as f:
        times = [frame.time for frame in f.decode(video=0)]
    assert segment["start_s"] + times[-1] >= gap["end_s"] - 0.2
    print(f"Chromium {copy['mimeType']}: a {gap['end_s'] - gap['start_s']:.2f} s hole filled")

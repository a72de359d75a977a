"""The local copy of a take (issue #14, web/static/js/lib/local-copy.js) in Chromium.

The module runs on a real page of a real server, recording Chromium's fake camera and
microphone with MediaRecorder into origin-private storage: the OPFS backend and the
IndexedDB one (forced). Checked with PyAV: the stored chunks carry increasing server
times; a slice (head + covering tail, joined at the tail's first Cluster as the server
does) decodes; the copy has a keyframe about every second (the bitrate is printed);
the quota check evicts confirmed takes first, then the oldest finished ones, never the
take being recorded, and stops the copy when still short; a reload or a closed tab
leaves its chunks to be found; confirm deletes the copy.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from fractions import Fraction
from typing import Any

import av
import pytest
from playwright.async_api import Page, Playwright, expect

from tests.e2e.accounts import admit, me, steps_before_device_check
from tests.e2e.conftest import NewPage
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

CLUSTER_ID = bytes.fromhex("1F43B675")

# window.lc: the module, a server clock synced by round trips, the camera, and helpers.
SETUP = """async ([backend, camera = true]) => {
  const mod = await import('/static/js/lib/local-copy.js');
  const { ServerClock } = await import('/static/js/lib/clock.js');
  const clock = new ServerClock();
  const fetchNow = async () => (await (await fetch('/api/verification?scope=login')).json()).now;
  await clock.measure(fetchNow, 3);
  const quota = { value: null };
  const copy = await mod.openLocalCopy({
    backend,
    // A test quota: what the copy holds counts as usage; null: the browser's own.
    estimate: async () => {
      if (quota.value === null) return navigator.storage.estimate();
      const usage = (await copy.takes()).reduce((n, t) => n + t.bytes, 0);
      return { quota: quota.value, usage };
    },
  });
  const events = [];
  copy.addEventListener('evicted', (e) => events.push({ evicted: e.detail.takeId }));
  copy.addEventListener('stopped', (e) => events.push({ stopped: e.detail.reason,
    takeId: e.detail.takeId }));
  const stream = camera
    ? await navigator.mediaDevices.getUserMedia({ video: true, audio: true }) : null;
  const asBase64 = (blob) => new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.split(';base64,')[1]);
    reader.readAsDataURL(blob);
  });
  window.lc = { mod, clock, copy, quota, events, stream, asBase64, takes: {} };
  return { backend: copy.backend, rtt: clock.rtt };
}"""

BEGIN = """async (takeId) => {
  const { copy, stream, clock, takes } = window.lc;
  takes[takeId] = await copy.begin({ takeId, camera: 'primary', stream, clock });
  return takes[takeId].startedAtMs;
}"""

CHUNKS = "([takeId]) => window.lc.copy.chunks(takeId, 'primary')"
STOP = "async (takeId) => { await window.lc.takes[takeId].stop(); }"
TAKES = "() => window.lc.copy.takes()"

SLICE = """async ([takeId, fromMs, toMs]) => {
  const { copy, asBase64 } = window.lc;
  const s = await copy.slice(takeId, 'primary', fromMs, toMs);
  if (!s) return null;
  return { head: await asBase64(s.head), tail: await asBase64(s.tail), mimeType: s.mimeType,
    startedAtMs: s.startedAtMs, fromMs: s.fromMs, toMs: s.toMs, chunks: s.chunks, part: s.part };
}"""

WHOLE = """async ([takeId]) => {
  const { copy, asBase64 } = window.lc;
  const chunks = await copy.chunks(takeId, 'primary');
  const s = await copy.slice(takeId, 'primary', chunks[0].startMs, chunks.at(-1).endMs);
  return await asBase64(s.tail);
}"""

OPFS_ENTRIES = """async () => {
  const top = await navigator.storage.getDirectory();
  const names = [];
  for await (const [name] of top.entries()) names.push(name);
  if (!names.includes('examcast-local-copy')) return [];
  const root = await top.getDirectoryHandle('examcast-local-copy');
  const parts = [];
  for await (const [name] of root.entries()) parts.push(name);
  return parts;
}"""


async def open_module(
    new_page: NewPage, server: ServerProcess, backend: str, playwright: Playwright
) -> Page:
    """A candidate's page (admitted, before the device check: GET /api/verification answers the
    server's ``now`` for the clock's round trips)."""
    page = await new_page(server)
    await admit(playwright, server, await me(page.context.request, server))
    await steps_before_device_check(page.context.request, server)
    await page.goto(server.url + "/account")
    setup = await page.evaluate(SETUP, [backend])
    assert setup["backend"] == backend
    assert setup["rtt"] is not None  # the clock was synced by round trips
    return page


async def until(page: Page, expression: str, arg: Any = None, timeout_s: float = 30) -> Any:
    """Polls an async page expression until it answers something truthy (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answer = await page.evaluate(expression, arg)
        if answer:
            return answer
        assert asyncio.get_running_loop().time() < deadline, f"never true: {expression}"
        await asyncio.sleep(0.25)


async def record(page: Page, take_id: str, chunks: int) -> list[dict[str, Any]]:
    """Starts a copy and waits until ``chunks`` chunks are stored; they are returned."""
    await page.evaluate(BEGIN, take_id)
    found: list[dict[str, Any]] = await until(
        page,
        "async ([takeId, n]) => { const c = await window.lc.copy.chunks(takeId, 'primary');"
        " return c.length >= n && c; }",
        [take_id, chunks],
        timeout_s=chunks + 30,
    )
    return found


def join_at_cluster(head: bytes, tail: bytes) -> bytes:
    """What the server does with a fill: the head's header, the tail from its first Cluster."""
    return head[: head.index(CLUSTER_ID)] + tail[tail.index(CLUSTER_ID) :]


def video_frames(data: bytes) -> list[tuple[float, bool]]:
    """(time in seconds, keyframe) of each video packet, after decoding every frame."""
    out: list[tuple[float, bool]] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        base = Fraction(stream.time_base)
        decoded = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            for _frame in packet.decode():
                decoded += 1
            out.append((float(packet.pts * base), packet.is_keyframe))
        assert decoded > 0
    return out


def check_times(chunks: list[dict[str, Any]], started_at_ms: int) -> None:
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0]["startMs"] == started_at_ms
    for before, after in itertools.pairwise(chunks):
        assert after["startMs"] == before["endMs"]  # consecutive, no hole
        assert after["endMs"] > after["startMs"]  # increasing server times
    assert all(c["size"] > 0 for c in chunks)


async def test_chunks_slice_keyframes_and_confirm_opfs(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await open_module(new_page, server, "opfs", playwright)
    take_id = "take-opfs-1"
    chunks = await record(page, take_id, 7)
    await page.evaluate(STOP, take_id)
    started_at_ms = (await page.evaluate(TAKES))[0]["startedAtMs"]
    chunks = await page.evaluate(CHUNKS, [take_id])
    check_times(chunks, started_at_ms)
    # The chunk times are on the server's clock (a few seconds of recording, just now).
    server_now_ms = (await page.evaluate("() => window.lc.clock.now()")) * 1000
    assert 0 <= server_now_ms - chunks[-1]["endMs"] < 60_000

    (take,) = await page.evaluate(TAKES)
    assert take["takeId"] == take_id and take["camera"] == "primary"
    assert take["mimeType"].startswith("video/webm")
    assert take["chunks"] == len(chunks) and take["recording"] is False
    assert take["endedAtMs"] == chunks[-1]["endMs"] and take["confirmed"] is False

    # A slice from the middle: head + the chunks overlapping [from - 2 s, to + 1 s].
    from_ms, to_ms = chunks[3]["startMs"] + 200, chunks[4]["endMs"] - 200
    got = await page.evaluate(SLICE, [take_id, from_ms, to_ms])
    assert got["chunks"][0] == 1 and got["chunks"][-1] == 5
    assert got["fromMs"] == chunks[1]["startMs"] and got["toMs"] == chunks[5]["endMs"]
    assert got["startedAtMs"] == started_at_ms
    joined = join_at_cluster(base64.b64decode(got["head"]), base64.b64decode(got["tail"]))
    frames = video_frames(joined)
    # The joined file's media times are the take's own (from its start): they reach past
    # the slice's start and cover the asked range.
    times = [t for t, _ in frames]
    assert min(times) <= (from_ms - started_at_ms) / 1000
    assert max(times) >= (to_ms - started_at_ms) / 1000 - 1.0
    assert frames[0][1], "the joined part starts with a keyframe"

    # The whole copy: a keyframe about every second; its bitrate.
    whole = base64.b64decode(await page.evaluate(WHOLE, [take_id]))
    frames = video_frames(whole)
    keys = [t for t, key in frames if key]
    gaps = [b - a for a, b in itertools.pairwise(keys)]
    span_s = frames[-1][0] - frames[0][0]
    print(
        f"local copy: {len(whole)} bytes over {span_s:.2f} s = "
        f"{len(whole) * 8 / span_s / 1000:.0f} kbit/s = "
        f"{len(whole) * 60 / span_s / 1e6:.1f} MB/min; keyframes at {keys}"
    )
    assert gaps and max(gaps) <= 1.6, keys

    # Confirmed by the server: the copy is gone, folders and all.
    assert await page.evaluate(OPFS_ENTRIES)
    await page.evaluate("(takeId) => window.lc.copy.confirm(takeId)", take_id)
    assert await page.evaluate(TAKES) == []
    assert await page.evaluate(OPFS_ENTRIES) == []


async def test_indexeddb_backend_and_a_dead_tab(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await open_module(new_page, server, "indexeddb", playwright)
    take_id = "take-idb-1"
    await record(page, take_id, 3)
    await page.evaluate(STOP, take_id)
    chunks = await page.evaluate(CHUNKS, [take_id])
    started_at_ms = (await page.evaluate(TAKES))[0]["startedAtMs"]
    check_times(chunks, started_at_ms)
    got = await page.evaluate(SLICE, [take_id, chunks[1]["startMs"], chunks[-1]["endMs"]])
    video_frames(join_at_cluster(base64.b64decode(got["head"]), base64.b64decode(got["tail"])))

    # A tab that dies mid-take: another tab finds its chunks (all but the last second).
    crash_id = "take-idb-crash"
    await record(page, crash_id, 4)
    crashing = page
    other = await crashing.context.new_page()  # another tab, no camera
    await other.goto(server.url + "/account")
    await other.evaluate(SETUP, ["indexeddb", False])
    live = await other.evaluate(TAKES)
    assert [t["recording"] for t in live if t["takeId"] == crash_id] == [True]  # its lock
    crashed_at_ms = await crashing.evaluate("() => window.lc.clock.now() * 1000")
    # The tab dies: closed without its unload handlers (Playwright's Page.crash takes the
    # whole site's renderer and the browser context with it).
    await crashing.close(run_before_unload=False)
    page = other
    await until(
        page,
        "async (id) => (await window.lc.copy.takes()).some((t) => t.takeId === id && !t.recording)",
        crash_id,
    )
    found = {t["takeId"]: t for t in await page.evaluate(TAKES)}
    crashed = found[crash_id]
    assert crashed["chunks"] >= 4 and crashed["endedAtMs"] == crashed["lastMs"]
    assert crashed_at_ms - crashed["lastMs"] <= 2000, (crashed_at_ms, crashed["lastMs"])
    crash_chunks = await page.evaluate(CHUNKS, [crash_id])
    check_times(crash_chunks, crashed["startedAtMs"])
    got = await page.evaluate(SLICE, [crash_id, crash_chunks[0]["startMs"], crashed["lastMs"]])
    video_frames(join_at_cluster(base64.b64decode(got["head"]), base64.b64decode(got["tail"])))

    await page.evaluate("(takeId) => window.lc.copy.confirm(takeId)", take_id)
    await page.evaluate("(takeId) => window.lc.copy.confirm(takeId)", crash_id)
    assert await page.evaluate(TAKES) == []
    assert (
        await page.evaluate(
            "() => new Promise((ok) => { const r = indexedDB.open('examcast-local-copy');"
            " r.onsuccess = () => { const tx = r.result.transaction('chunks');"
            " const c = tx.objectStore('chunks').count(); c.onsuccess = () => ok(c.result); }; })"
        )
        == 0
    )


async def test_reload_finds_the_old_pages_chunks(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await open_module(new_page, server, "opfs", playwright)
    take_id = "take-reload"
    await record(page, take_id, 4)
    reloaded_at_ms = await page.evaluate("() => window.lc.clock.now() * 1000")
    await page.reload()
    await page.evaluate(SETUP, ["opfs"])
    (found,) = await page.evaluate(TAKES)
    assert found["takeId"] == take_id and found["recording"] is False
    assert found["chunks"] >= 4 and found["endedAtMs"] == found["lastMs"]
    assert reloaded_at_ms - found["lastMs"] <= 2000, (reloaded_at_ms, found["lastMs"])
    chunks = await page.evaluate(CHUNKS, [take_id])
    check_times(chunks, found["startedAtMs"])
    got = await page.evaluate(SLICE, [take_id, chunks[2]["startMs"], found["lastMs"]])
    video_frames(join_at_cluster(base64.b64decode(got["head"]), base64.b64decode(got["tail"])))

    # Recording the same take again after the reload: a second part; slices() has both.
    await record(page, take_id, 2)
    await page.evaluate(STOP, take_id)
    parts = [t for t in await page.evaluate(TAKES) if t["takeId"] == take_id]
    assert len(parts) == 2 and parts[0]["part"] != parts[1]["part"]
    await page.evaluate("(takeId) => window.lc.copy.remove(takeId, 'primary')", take_id)
    assert await page.evaluate(TAKES) == []


async def test_quota_evicts_confirmed_then_oldest_never_the_recording(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await open_module(new_page, server, "opfs", playwright)
    for take_id in ("old", "confirmed", "newest"):
        await record(page, take_id, 2)
        await page.evaluate(STOP, take_id)
    # "confirmed": the server confirmed it while another tab still recorded it, so its
    # chunks were kept (marked) to be removed later.
    await page.evaluate(
        "async () => { const t = (await window.lc.copy.takes())"
        ".find((x) => x.takeId === 'confirmed');"
        " await window.lc.copy.store.updatePart(t.part, { confirmed: true }); }"
    )
    # No room beyond what is stored: each new chunk needs an older take gone.
    await page.evaluate(
        "async () => { window.lc.quota.value = (await window.lc.copy.takes())"
        ".reduce((n, t) => n + t.bytes, 0); }"
    )
    await page.evaluate(BEGIN, "recording")
    await until(page, "() => window.lc.events.some((e) => e.stopped)", timeout_s=60)
    events = await page.evaluate("() => window.lc.events")
    assert events == [
        {"evicted": "confirmed"},
        {"evicted": "old"},
        {"evicted": "newest"},
        {"stopped": "full", "takeId": "recording"},
    ]
    left = await page.evaluate(TAKES)
    assert [t["takeId"] for t in left] == ["recording"]
    assert left[0]["stopped"] == "full" and left[0]["chunks"] >= 1
    # The copy stopped; the camera (the live stream) goes on.
    assert await page.evaluate(
        "() => window.lc.takes.recording.stopped === 'full'"
        " && window.lc.stream.getTracks().every((t) => t.readyState === 'live')"
    )
    await page.evaluate(STOP, "recording")
    await page.evaluate("() => window.lc.copy.confirm('recording')")
    assert await page.evaluate(TAKES) == []


# -- the pages' hooks ---------------------------------------------------------------------

PAGE_TAKES = """async () => {
  const { openLocalCopy } = await import('/static/js/lib/local-copy.js');
  return (await openLocalCopy()).takes();
}"""


async def device_check_page(
    new_page: NewPage, server: ServerProcess, playwright: Playwright, script: str = ""
) -> Page:
    page = await new_page(server)
    if script:
        await page.add_init_script(script)
    await admit(playwright, server, await me(page.context.request, server))
    await steps_before_device_check(page.context.request, server)
    await page.goto(server.url + "/device-check")
    return page


async def record_seconds(page: Page, seconds: int) -> None:
    start = page.get_by_test_id("start-recording")
    await expect(start).to_be_enabled(timeout=20_000)
    await start.click()
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=elapsed]').dataset.seconds) >= s",
        arg=seconds,
        timeout=(seconds + 20) * 1000,
    )


async def test_the_device_check_keeps_a_copy_of_its_take(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await device_check_page(new_page, server, playwright)
    await record_seconds(page, 3)
    (live,) = await until(page, PAGE_TAKES)
    assert live["camera"] == "primary" and live["recording"] is True
    await until(page, "async () => (await (" + PAGE_TAKES + ")())[0].chunks >= 2")
    await page.get_by_test_id("stop-recording").click()
    await expect(page.locator("body")).to_have_attribute("data-state", "review", timeout=30_000)
    take_id = await page.get_by_test_id("playback").get_attribute("data-take-id")
    take = await (await page.request.get(f"{server.url}/api/takes/{take_id}")).json()

    (copy,) = await until(
        page, "async () => (await (" + PAGE_TAKES + ")()).filter((t) => !t.recording)"
    )
    assert copy["takeId"] == take_id and copy["endedAtMs"] is not None
    assert copy["chunks"] >= 3 and copy["bytes"] > 0
    # On the server's clock: the copy starts once the server has started the take.
    assert copy["startedAtMs"] >= take["started_at"] * 1000 - 500, (copy, take["started_at"])

    # Recording again: the test take is done with, and so is its copy.
    await page.get_by_test_id("record-again").click()
    await until(
        page,
        "async (id) => { const t = await (" + PAGE_TAKES + ")();"
        " return !t.some((x) => x.takeId === id) && t.some((x) => x.recording); }",
        take_id,
    )
    await page.get_by_test_id("stop-recording").click()
    await expect(page.locator("body")).to_have_attribute("data-state", "review", timeout=30_000)


async def test_a_browser_without_media_recorder_records_as_before(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await device_check_page(
        new_page, server, playwright, "delete window.MediaRecorder; delete window.BlobEvent;"
    )
    await record_seconds(page, 2)
    await page.get_by_test_id("stop-recording").click()
    await expect(page.locator("body")).to_have_attribute("data-state", "review", timeout=30_000)
    take_id = await page.get_by_test_id("playback").get_attribute("data-take-id")
    take = await (await page.request.get(f"{server.url}/api/takes/{take_id}")).json()
    assert take["state"] == "stored" and take["manifest"]["recorded_s"] > 1
    assert await page.evaluate(PAGE_TAKES) == []  # no copy, and no error (new_page checks)


async def test_a_camera_switch_goes_on_in_a_new_part(
    new_page: NewPage, server: ServerProcess, playwright: Playwright
) -> None:
    page = await open_module(new_page, server, "opfs", playwright)
    await record(page, "switch", 2)
    # What media.js switchCamera does: the old video track out, a new one in, same stream.
    await page.evaluate(
        """async () => {
          const { stream } = window.lc;
          const old = stream.getVideoTracks()[0];
          old.stop();
          const media = await navigator.mediaDevices.getUserMedia({ video: true });
          stream.removeTrack(old);
          stream.addTrack(media.getVideoTracks()[0]);
        }"""
    )
    parts = await until(
        page,
        "async () => { const t = await window.lc.copy.takes();"
        " return t.length === 2 && t[1].chunks >= 2 && t; }",
    )
    assert parts[0]["recording"] is False and parts[1]["recording"] is True
    assert parts[1]["startedAtMs"] >= parts[0]["endedAtMs"]
    await page.evaluate(STOP, "switch")
    for part in await page.evaluate(TAKES):
        got = await page.evaluate(SLICE, [part["takeId"], part["firstMs"], part["lastMs"]])
        assert got["part"] == part["part"]  # each part on its own (its own header)
        video_frames(join_at_cluster(base64.b64decode(got["head"]), base64.b64decode(got["tail"])))
    await page.evaluate("() => window.lc.copy.confirm('switch')")
    assert await page.evaluate(TAKES) == []

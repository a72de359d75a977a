"""Back fast after a network drop (issue #14), in Chromium: the device check records, the
link to the browser's network namespace goes down mid-take and comes back, and the page
records again within seconds of the network's return.

Measured (one ``BACK-FAST {json}`` line per cut):

- ``reconnect_s``: from the link coming back up to the first frame of the new segment, on
  the server's clock (the take's ``started_at`` plus the segment's ``start_s``);
- ``page_back_s``: from the link coming back up to the page saying it is back;
- ``noticed_s``: from the cut to the page saying the connection is lost;
- ``counted_during_cut_s``: how far the recording counter moved while nothing was recorded.

Afterwards every stored segment must play to its end in Chromium's ``<video>`` and decode
in PyAV without an error (what issue #10's blip test checked), and the take must count only
what it holds as recorded.

``EXAMCAST_BACK_CUTS=5,30`` chooses the cuts (seconds); 5 by default.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Playwright, expect

from tests.e2e.accounts import admit, me, steps_before_device_check
from tests.e2e.conftest import NewPage
from tests.e2e.test_device_check import by_testid, expect_live_preview, expect_state, stored_take
from tests.support.analysis import decode_strictly
from tests.support.netns import Veth
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

CUTS_S = [float(s) for s in os.environ.get("EXAMCAST_BACK_CUTS", "5").split(",")]
# "silent": packets vanish and nothing else changes (both ends' queues drop everything; the
# interfaces stay up: no network change for the browser to notice); "link": the link goes
# down. ``EXAMCAST_BACK_KINDS=silent,link``.
KINDS = os.environ.get("EXAMCAST_BACK_KINDS", "silent").split(",")
# The goal is 3 s, a wall-clock figure the test prints; it asserts only a bound that a busy
# machine (2 shared cores) does not excuse: recording came back well within the take.
RECONNECT_BOUND_S = 15.0
RECORDED_S = 2  # recorded before the cut, and after recording came back
ELAPSED = "Number(document.querySelector('[data-testid=elapsed]').dataset.seconds)"
CONN = "[data-testid=connection]"
# Measure the server side only (the pages before #14 say nothing of a drop): the "before".
BASELINE = os.environ.get("EXAMCAST_BACK_BASELINE") == "1"


def tc(link: Veth, *args: str, browser_side: bool) -> None:
    ns = ["ip", "netns", "exec", link.ns] if browser_side else []
    # tests/support/netns.py names the browser's end as the server's, "ecb" for "ecs"
    device = link.server_end if not browser_side else "ecb" + link.server_end[3:]
    subprocess.run(
        [*ns, "tc", "qdisc", *args[:1], "dev", device, *args[1:]],
        check=True,
        capture_output=True,
        timeout=10,
    )


class Cut:
    """Cut ``link`` and restore it: ``silent`` (a queue that holds no packet on each end)
    or ``link`` (the link down)."""

    def __init__(self, link: Veth, kind: str) -> None:
        self.link = link
        self.kind = kind

    def start(self) -> None:
        if self.kind == "link":
            self.link.down()
            return
        for side in (False, True):
            tc(self.link, "replace", "root", "pfifo", "limit", "0", browser_side=side)

    def end(self) -> None:
        if self.kind == "link":
            self.link.up()
            return
        for side in (False, True):
            tc(self.link, "del", "root", browser_side=side)


def segment_count(server: ServerProcess) -> int:
    return len(list((server.data_dir / "recordings").glob("*/segment-*")))


async def poll(page: Page, condition: str, limit_s: float, what: str) -> float:
    """Wait (bounded) for ``condition`` (JS) on the page; when it held (time.time())."""
    deadline = time.monotonic() + limit_s
    while not await page.evaluate(condition):
        assert time.monotonic() < deadline, f"not within {limit_s}s: {what}"
        await asyncio.sleep(0.05)
    return time.time()


# Each segment in a <video> of its own, played to its end (4x, muted): what happened
# (a segment plays for at most 45 s of wall time here).
PLAY_SEGMENTS = """async (urls) => {
  const results = [];
  for (const url of urls) {
    const video = document.createElement('video');
    video.muted = true;
    video.defaultPlaybackRate = 4;
    document.body.appendChild(video);
    results.push(await new Promise((resolve) => {
      const done = (how) => resolve({
        url, how, currentTime: video.currentTime, duration: video.duration,
        frames: video.getVideoPlaybackQuality().totalVideoFrames,
        error: video.error ? `${video.error.code} ${video.error.message}` : null,
      });
      video.addEventListener('ended', () => done('ended'));
      video.addEventListener('error', () => done('error'));
      setTimeout(() => done('stalled'), 45000);  // neither ended nor failed: stuck
      video.src = url;
      video.play().catch((e) => resolve({url, how: 'refused', error: String(e)}));
    }));
    video.remove();
  }
  return results;
}"""


async def check_take(page: Page, server: ServerProcess, take: dict[str, Any]) -> list[str]:
    """What is wrong with a stored take cut by a drop: every segment must play to its end in
    Chromium and decode in PyAV; empty when all is well."""
    problems = []
    manifest = take["manifest"]
    segments = manifest["segments"]
    urls = [f"{server.url}/api/takes/{take['take_id']}/segments/{s['index']}" for s in segments]
    played = await page.evaluate(PLAY_SEGMENTS, urls)
    for result in played:
        ended = result["how"] == "ended" or (
            result.get("duration") and result["currentTime"] >= result["duration"] - 0.05
        )
        if not ended or result.get("error"):
            problems.append(f"Chromium stopped: {result}")
    for segment in segments:
        path = server.data_dir / "recordings" / take["take_id"] / segment["file"]
        try:
            await asyncio.to_thread(decode_strictly, path)
        except Exception as exc:  # av.error.*: the frame a browser would stop at
            problems.append(f"PyAV: {segment['file']}: {exc}")
    print(
        f"take {take['take_id']}: {len(segments)} segments "
        f"{[s['reason'] for s in segments]}, gaps {manifest['gaps']}, "
        f"recorded_s {manifest['recorded_s']}, stats {manifest['stats']}, played {played}"
    )
    return problems


async def cut_and_measure(page: Page, server: ServerProcess, cut: Cut, cut_s: float) -> None:
    await by_testid(page, "start-recording").click()
    await expect_state(page, "recording")
    await page.wait_for_function(f"() => {ELAPSED} >= {RECORDED_S}")  # before the cut
    counted_at_cut = await page.evaluate(f"() => {ELAPSED}")
    cut.start()
    cut_at = time.time()
    noticed_at, lost_text = None, ""
    if not BASELINE:
        lost = f"document.querySelector('{CONN}').dataset.state === 'reconnecting'"
        noticed_at = await poll(page, f"() => {lost}", cut_s, "the page saw the drop")
        lost_text = await page.locator(CONN).inner_text()
    await asyncio.sleep(max(0.0, cut_at + cut_s - time.time()))  # the cut is a real duration
    counted_at_up = await page.evaluate(f"() => {ELAPSED}")
    files_at_up = segment_count(server)
    cut.end()
    up_at = time.time()
    deadline = time.monotonic() + 90
    while segment_count(server) <= files_at_up:  # the server records again: a new file
        assert time.monotonic() < deadline, "recording did not resume"
        await asyncio.sleep(0.1)
    back_at, back_text = None, ""
    if not BASELINE:
        back = f"document.querySelector('{CONN}').dataset.back === '1'"
        back_at = await poll(page, f"() => {back}", 60, "the page back")
        back_text = await page.locator(CONN).inner_text()
    now = await page.evaluate(f"() => {ELAPSED}")
    await page.wait_for_function(f"s => {ELAPSED} >= s", arg=now + RECORDED_S)  # and after
    await by_testid(page, "stop-recording").click()
    take = await stored_take(page, server)

    manifest = take["manifest"]
    segments = manifest["segments"]
    after = [s for s in segments if s["start_s"] + take["started_at"] > cut_at]
    assert after, manifest  # recording went on in a new segment
    first_back = take["started_at"] + after[0]["start_s"]
    figure: dict[str, Any] = {
        "kind": cut.kind,
        "cut_s": cut_s,
        "reconnect_s": round(first_back - up_at, 2),
        "page_back_s": None if back_at is None else round(back_at - up_at, 2),
        "noticed_s": None if noticed_at is None else round(noticed_at - cut_at, 2),
        "counted_during_cut_s": counted_at_up - counted_at_cut,
        "segments": [s["reason"] for s in segments],
        "gaps": manifest["gaps"],
        "recorded_s": manifest["recorded_s"],
        "wall_s": round(take["stopped_at"] - take["started_at"], 2),
        "lost_text": lost_text,
        "back_text": back_text,
    }
    print("BACK-FAST " + json.dumps(figure, ensure_ascii=False))
    if BASELINE:
        return
    assert "连接中断" in lost_text and "已恢复连接" in back_text, figure
    assert figure["reconnect_s"] < RECONNECT_BOUND_S, figure
    # The counter stops while nothing is recorded (a heartbeat's worth at most).
    assert figure["counted_during_cut_s"] <= 3, figure  # before #14: the whole cut
    assert manifest["recorded_s"] <= figure["wall_s"] - (cut_s - 1.0), figure
    # What the take holds, holes not counted; the summary shows the same.
    assert manifest["recorded_s"] == round(sum(s["picture_s"] for s in segments), 3)
    assert (take["recorded_s"], take["gaps"]) == (manifest["recorded_s"], manifest["gaps"])
    assert not await check_take(page, server, take)
    await expect(page.locator(CONN)).to_have_attribute("data-state", "connected")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cut_s", CUTS_S)
async def test_a_cut_mid_take_records_again_within_seconds_of_the_network(
    netns_server: ServerProcess,
    veth: Veth,
    netns_browser: Browser,
    new_page: NewPage,
    playwright: Playwright,
    cut_s: float,
    kind: str,
) -> None:
    server = netns_server
    page = await new_page(server, on=netns_browser, viewport={"width": 1280, "height": 800})
    await admit(playwright, server, await me(page.request, server))
    await steps_before_device_check(page.request, server)
    await page.goto(server.url + "/device-check")
    await expect_state(page, "preview")
    await expect_live_preview(page)
    await expect(by_testid(page, "connection")).to_have_attribute("data-state", "connected")
    await cut_and_measure(page, server, Cut(veth, kind), cut_s)

"""The proctors' wall and spotlight (issue #12) in headless Chromium against a real server.

A candidate records a rehearsal of a question that needs a second camera (a phone joins by
the QR code; the fake camera plays a moving, colourful test picture on both) while a proctor
assigned to the exam, in a browser context of their own, watches the exam's wall: the
candidate's tile turns to "recording" without a reload, each camera's picture (a JPEG the
server makes from a keyframe) changes over time, and clicking the tile plays both cameras
live, with sound, in the spotlight. Pictures are checked by their pixels (drawn to a canvas
in the page), not by the presence of an element. The unit's admin opens the same wall from
the console.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from contextlib import closing
from typing import Any

import pytest
from playwright.async_api import Locator, Page, Playwright, expect

from tests.e2e.accounts import log_in, signed_up
from tests.e2e.conftest import NewPage, Shots, metric
from tests.e2e.console_helpers import DESK, staff
from tests.e2e.exam_helpers import through_journey
from tests.e2e.proctor_helpers import (
    DESKTOP,
    candidate_ready,
    exam_with_proctor,
    one_question_exam,
    proctor_desk,
)
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20012"  # the wall's own unit: other tests' candidates stay off this wall
TITLE = "2027 声乐专业考试"
QUESTION = "自选曲目"

# The pixels of an <img> or a <video> drawn small onto a canvas: how bright and colourful
# they are, and the pixels themselves to compare two moments.
PIXELS = """
(el) => {
  const w = 64, h = 48;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext("2d");
  g.drawImage(el, 0, 0, w, h);
  const d = g.getImageData(0, 0, w, h).data;
  let light = 0, saturation = 0;
  const colours = new Set();
  const pixels = [];
  for (let i = 0; i < d.length; i += 4) {
    const [r, gr, b] = [d[i], d[i + 1], d[i + 2]];
    light += (r + gr + b) / 3;
    saturation += Math.max(r, gr, b) - Math.min(r, gr, b);
    colours.add(`${r >> 5},${gr >> 5},${b >> 5}`);
    pixels.push(r, gr, b);
  }
  const n = w * h;
  return { light: light / n, saturation: saturation / n, colours: colours.size, pixels };
}
"""

# The loudest frequency of a live <video>'s sound, through WebAudio (null if silent for 15 s:
# the first sound may come late when other tests share the cores).
PITCH = """
async (video) => {
  const context = new AudioContext();
  await context.resume();
  const source = context.createMediaStreamSource(video.srcObject);
  const analyser = context.createAnalyser();
  analyser.fftSize = 4096;
  source.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  let best = null;
  for (let i = 0; i < 150 && best === null; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    analyser.getFloatFrequencyData(bins);
    let top = 0;
    for (let k = 1; k < bins.length; k += 1) if (bins[k] > bins[top]) top = k;
    if (bins[top] > -70) best = (top * context.sampleRate) / analyser.fftSize;
  }
  await context.close();
  return best;
}
"""


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


def exam_body(now: float) -> dict[str, Any]:
    return one_question_exam(
        now,
        TITLE,
        {
            "id": "song",
            "title": QUESTION,
            "prompt": "演唱一首自选曲目。",
            "reading_limit_s": 120,
            "recording_limit_s": 120,
            "rehearsal_allowed": True,
            "rehearsal_count": 1,
            "second_camera_required": True,
        },
    )


def viewer_audit(server: ServerProcess, account_id: str) -> list[str]:
    """The account's viewer_opened / viewer_closed entries in the server's audit log."""
    path = server.data_dir / "examcast.sqlite3"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT event FROM audit_log WHERE account_id = ? AND event LIKE 'viewer_%'",
            (account_id,),
        ).fetchall()
    return sorted(row[0] for row in rows)


def closing_reasons(server: ServerProcess, account_id: str) -> list[str]:
    """The reasons of the account's viewer_closed entries, oldest first."""
    path = server.data_dir / "examcast.sqlite3"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT json_extract(detail, '$.reason') FROM audit_log"
            " WHERE account_id = ? AND event = 'viewer_closed' ORDER BY id",
            (account_id,),
        ).fetchall()
    return [row[0] for row in rows]


def differs(a: list[int], b: list[int]) -> float:
    """Mean absolute difference of two pictures' pixels (0-255)."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def colourful(seen: dict[str, Any]) -> bool:
    """Pixels of the fake camera's test picture: not black, not one flat colour, but many
    saturated colours."""
    return seen["light"] > 30 and seen["saturation"] > 30 and seen["colours"] >= 8


ME_ID = """async () => {
  const response = await fetch('/api/me');
  if (!response.ok) throw new Error(`GET /api/me: ${response.status}`);
  return (await response.json()).account.id;
}"""


async def changing(page: Page, get: Locator, what: str, timeout_s: float = 30) -> None:
    """Wait (bounded) until ``get`` shows the test picture, then until it shows another."""
    first: dict[str, Any] | None = None
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = await get.evaluate(PIXELS)
        if colourful(seen):
            if first is None:
                first = seen
            elif differs(first["pixels"], seen["pixels"]) > 3:
                return
        await page.wait_for_timeout(300)
    summary = {k: v for k, v in seen.items() if k != "pixels"}
    raise AssertionError(
        f"{what}: no moving test picture ({'none' if first is None else 'still'}) {summary}"
    )


async def test_a_proctor_watches_a_candidate_record(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
) -> None:
    # The exam, a proctor assigned to it, and a candidate at the exam list.
    admin, exam_id, proctor = await exam_with_proctor(
        playwright, server, UNIT, exam_body(time.time()), "王监考"
    )
    laptop, who, account = await candidate_ready(new_page, server, admin, exam_id)

    # The proctor's home links the exam's wall; the candidate's tile is there.
    desk = await proctor_desk(new_page, server, proctor)
    await desk.goto(server.url + "/console/proctor")
    await expect(by_testid(desk, "proctor-live")).to_contain_text("监考墙")
    await by_testid(desk, "proctor-wall-link").click()
    await desk.wait_for_url(f"**/console/proctor/exams/{exam_id}")
    await expect(desk.locator("body")).to_have_attribute("data-view", "wall")
    await expect(by_testid(desk, "wall-title")).to_have_text(TITLE)
    await expect(by_testid(desk, "wall-live")).to_have_attribute("data-state", "live")
    tile = desk.locator(f'[data-testid=wall-tile][data-candidate-id="{account["id"]}"]')
    await expect(tile).to_have_attribute("data-status", "not_started")
    await expect(by_testid(tile, "tile-name")).to_have_text(account["name"])
    await shots.take(desk, "wall-before")

    # Every socket that carries the candidate's media names them (c=: the load balancer's
    # node for it, docs/deploy.md): the question page's, the phone's, the spotlight's.
    sockets: dict[str, list[str]] = {"laptop": [], "phone": [], "desk": []}
    laptop.on("websocket", lambda ws: sockets["laptop"].append(ws.url))
    desk.on("websocket", lambda ws: sockets["desk"].append(ws.url))
    routed = f"c={account['id']}"

    # The candidate rehearses: the tile follows live (no reload), with the time left.
    await laptop.goto(f"{server.url}/exams/{exam_id}/questions/song")
    await expect(by_testid(laptop, "rehearse")).to_be_enabled(timeout=20_000)
    await by_testid(laptop, "rehearse").click()
    await expect(laptop.locator("body")).to_have_attribute("data-state", "reading")
    await expect(tile).to_have_attribute("data-status", "reading")
    await expect(by_testid(tile, "tile-left")).to_have_text(re.compile(r"^读题剩余 \d\d:\d\d$"))
    second = tile.locator("[data-testid=tile-camera][data-camera=secondary]")
    await expect(second).to_have_attribute("data-second", "missing")  # needed, not there yet
    await expect(tile).to_have_attribute("data-problem", "true")

    # The phone joins as the second camera and taps Ready.
    await expect(by_testid(laptop, "pair-link")).to_contain_text("/pair?token=")
    pair_url = (await by_testid(laptop, "pair-link").text_content() or "").strip()
    phone = await new_page(server, anonymous=True, **playwright.devices["Pixel 7"])
    phone.on("websocket", lambda ws: sockets["phone"].append(ws.url))
    await phone.goto(pair_url)
    await phone.wait_for_url("**/login?next=*")
    await by_testid(phone, "login-phone").fill(who.phone)
    await by_testid(phone, "login-password").fill(who.password)
    await by_testid(phone, "login-submit").click()
    await expect(phone.locator("body")).to_have_attribute("data-state", "connected", timeout=20_000)
    await by_testid(phone, "ready").click()
    await expect(phone.locator("body")).to_have_attribute("data-state", "ready")
    await expect(second).to_have_attribute("data-second", "ready")
    await expect(by_testid(second, "tile-camera-state")).to_have_text("已连接 · 已就绪")

    await by_testid(laptop, "start-recording").click()
    await expect(laptop.locator("body")).to_have_attribute("data-state", "recording")
    await expect(tile).to_have_attribute("data-status", "recording", timeout=20_000)
    await expect(tile).to_have_attribute("data-problem", "false")
    await expect(by_testid(tile, "tile-status")).to_have_text("录制中")
    await expect(by_testid(tile, "tile-where")).to_have_text(f"第 1 题 {QUESTION} · 排练")
    left = by_testid(tile, "tile-left")
    await expect(left).to_have_text(re.compile(r"^录制剩余 0[12]:\d\d$"))
    first_left = await left.text_content()
    await expect(left).not_to_have_text(first_left or "")  # it counts down by itself
    camera = tile.locator("[data-testid=tile-camera][data-camera=primary]")
    await expect(camera).to_have_attribute("data-state", "connected")

    # Each camera's picture: made by the server, and a new one (a new seq, other pixels)
    # later, its JPEG pushed with its tile.
    for cam in (camera, second):
        picture = by_testid(cam, "tile-picture")
        await expect(picture).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=20_000)
        await expect(picture).to_be_visible()
        first_seq = await picture.get_attribute("data-seq")
        await changing(desk, picture, "a tile's picture")
        assert await picture.get_attribute("data-seq") != first_seq
        size = await picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert 0 < size[0] <= 320 and 0 < size[1] <= 240, size
        # a new picture came with its tile (no fetch): shown from a Blob URL
        assert (await picture.get_attribute("src") or "").startswith("blob:")
    # ... made of each camera's preview track, which the pages send while the wall watches
    # them (wall_preview_fps, on by default), not of the cameras' own keyframes
    deadline = time.monotonic() + 15
    while (pictured := await metric(desk, server, "examcast_wall_cameras_previewed")) != 2:
        assert time.monotonic() < deadline, f"{pictured} of 2 cameras pictured from a preview"
        await desk.wait_for_timeout(200)
    assert await metric(desk, server, "examcast_previews_sending") == 2
    await shots.take(desk, "wall-recording")

    # The spotlight: both cameras live, side by side, with sound, from a viewer session.
    await tile.click()
    spotlight = by_testid(desk, "spotlight")
    await expect(spotlight).to_be_visible()
    await expect(by_testid(spotlight, "spot-name")).to_have_text(account["name"])
    await expect(spotlight).to_have_attribute("data-state", "live", timeout=20_000)
    for device, urls in sockets.items():
        assert any(url.endswith(routed) for url in urls), (device, urls)
    for name in ("primary", "secondary"):
        pane = spotlight.locator(f"[data-testid=spot-camera][data-camera={name}]")
        await expect(pane).to_have_attribute("data-state", "live", timeout=20_000)
        await expect(by_testid(pane, "spot-state")).to_have_text("直播中")
        video = by_testid(pane, "spot-video")
        await changing(desk, video, f"the spotlight's {name} video")
        state = await video.evaluate("v => [v.videoWidth, v.videoHeight, v.muted, v.paused]")
        assert state[0] > 0 and state[1] > 0 and state[2:] == [False, False], state
        pitch = await video.evaluate(PITCH)
        assert pitch is not None and abs(pitch - 440) < 30, pitch  # the fake microphone's tone
    await shots.take(desk, "spotlight-live")

    # In English too; sorting and filtering by state.
    await by_testid(desk, "lang-toggle").click()
    await expect(by_testid(tile, "tile-status")).to_have_text("Recording")
    await expect(by_testid(pane, "spot-state")).to_have_text("Live")
    await by_testid(desk, "lang-toggle").click()
    await by_testid(desk, "wall-filter").select_option("finished")
    await expect(tile).to_be_hidden()
    await expect(by_testid(desk, "wall-empty")).to_have_text("没有符合筛选条件的考生。")
    await by_testid(desk, "wall-filter").select_option("recording")
    await expect(tile).to_be_visible()
    await by_testid(desk, "wall-sort").select_option("time")
    await expect(tile).to_be_visible()

    # The proctor's socket drops: the wall watches again and the spotlight opens a new
    # viewer session (the old one ended with its connection), live again.
    session = await spotlight.get_attribute("data-session-id")
    assert session
    await desk.evaluate("() => window.openedSockets.forEach((socket) => socket.close())")
    await expect(spotlight).not_to_have_attribute("data-session-id", session, timeout=20_000)
    await expect(by_testid(desk, "wall-live")).to_have_attribute("data-state", "live")
    for pane in await spotlight.get_by_test_id("spot-camera").all():
        await expect(pane).to_have_attribute("data-state", "live", timeout=20_000)
        await changing(desk, by_testid(pane, "spot-video"), "the spotlight after a reconnect")

    # Closing the panel ends the viewer session; the wall goes on. Both openings and both
    # endings (the dropped connection's, the panel's) are in the audit log.
    await by_testid(spotlight, "spot-close").click()
    await expect(spotlight).to_be_hidden()
    # Asked by the desk page itself, as the console does: desk.request's keep-alive
    # connection has been idle since the log-in, longer than the server keeps an idle one
    # (header_timeout_s, 20 s); reused just as the server closes it, it is reset (ECONNRESET),
    # which a browser answers by sending the request again on a new connection.
    proctor_id = await desk.evaluate(ME_ID)
    expected = ["viewer_closed", "viewer_closed", "viewer_opened", "viewer_opened"]
    deadline = time.monotonic() + 15
    while (audit := await asyncio.to_thread(viewer_audit, server, proctor_id)) != expected:
        assert time.monotonic() < deadline, audit
        await desk.wait_for_timeout(200)
    await expect(tile).to_have_attribute("data-status", "recording")
    await by_testid(laptop, "stop-recording").click()
    await by_testid(laptop, "confirm-ok").click()

    # The unit's admin: the console's exam list links the same wall.
    head = await staff(playwright, server, "赵主任", "unit_admin", UNIT)
    console = await new_page(server, anonymous=True, **DESK)
    await log_in(console.request, server, head)
    await console.goto(server.url + "/console")
    await (
        console.locator(f"[data-testid=exam-row][data-exam-id='{exam_id}']")
        .get_by_test_id("exam-wall-link")
        .click()
    )
    await console.wait_for_url(f"**/console/proctor/exams/{exam_id}")
    seen = console.locator(f'[data-testid=wall-tile][data-candidate-id="{account["id"]}"]')
    await expect(seen).not_to_have_attribute("data-status", "recording", timeout=20_000)
    await expect(by_testid(console, "to-home")).to_have_attribute("href", "/console")

    # A listed candidate who has not answered yet, watched live, then taken off the list:
    # they are no longer the exam's, so the server closes the live view (viewer_closed,
    # within its re-check interval); the panel says why and opens nothing more, while the
    # wall itself goes on.
    latecomer = await new_page(server, anonymous=True, viewport=DESKTOP)
    await signed_up(latecomer.request, server)
    other = await through_journey(latecomer, server, admin)  # the list: only them now
    await desk.reload()
    await expect(by_testid(desk, "wall-live")).to_have_attribute("data-state", "live")
    await by_testid(desk, "wall-filter").select_option("all")
    their_tile = desk.locator(f'[data-testid=wall-tile][data-candidate-id="{other["id"]}"]')
    await their_tile.click()
    await expect(spotlight).to_be_visible()
    await expect(spotlight).to_have_attribute("data-session-id", re.compile(r"."))
    watched = await spotlight.get_attribute("data-session-id")
    await admin.admit(account)  # the list without them (the first candidate has answers)
    message = by_testid(spotlight, "spot-message")
    await expect(message).to_be_visible(timeout=20_000)
    await expect(message).to_contain_text("直播已关闭，你已无权查看该考生")
    await expect(spotlight).to_have_attribute("data-state", "failed")
    assert await spotlight.get_attribute("data-session-id") == watched  # not opened again
    await expect(desk.locator("body")).to_have_attribute("data-view", "wall")
    reasons = await asyncio.to_thread(closing_reasons, server, proctor_id)
    assert reasons[-1] == "access_withdrawn", reasons
    await by_testid(desk, "lang-toggle").click()
    await expect(message).to_contain_text("The live view was closed")

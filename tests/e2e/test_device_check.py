"""The device check page (MISSION M2.5) in headless Chromium against a real server.

The fake camera plays a generated clip and the fake microphone a 440 Hz tone;
a take is recorded on the server, played back in the page, and its file is
checked with PyAV.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from playwright.async_api import Browser, Locator, Page, Playwright, expect

from tests.e2e.accounts import admit, call, me, steps_before_device_check
from tests.e2e.conftest import DEVICE_CHECK_LIMIT_S, TONE_HZ, NewPage, Shots, metric
from tests.e2e.exam_helpers import KEEP_WEBSOCKETS
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

RECORD_S = 5


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


async def expect_state(page: Page, state: str, timeout_s: float = 15) -> None:
    await expect(page.locator("body")).to_have_attribute(
        "data-state", state, timeout=timeout_s * 1000
    )


async def expect_live_preview(page: Page) -> None:
    """The preview shows frames from the camera, and time moves on in it."""
    preview = "document.querySelector('[data-testid=preview]')"
    await page.wait_for_function(f"() => {preview}.readyState >= 2 && {preview}.videoWidth > 0")
    start = await page.evaluate(f"() => {preview}.currentTime")
    await page.wait_for_function(f"start => {preview}.currentTime > start + 0.3", arg=start)


async def record(page: Page, seconds: int) -> None:
    """Wait until the page has recorded ``seconds``, by its own timer."""
    await expect_state(page, "recording")
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=elapsed]').dataset.seconds) >= s",
        arg=seconds,
        timeout=(seconds + 10) * 1000,
    )


def segment_file(server: ServerProcess, take_id: str, index: int = 0) -> Path:
    return server.data_dir / "recordings" / take_id / f"segment-{index:03d}.webm"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def stored_take(page: Page, server: ServerProcess) -> dict[str, Any]:
    """The take under review, as the server describes it."""
    await expect_state(page, "review", timeout_s=30)
    take_id = await by_testid(page, "playback").get_attribute("data-take-id")
    response = await page.request.get(f"{server.url}/api/takes/{take_id}")
    assert response.ok, await response.text()
    take: dict[str, Any] = await response.json()
    assert take["state"] == "stored", take
    return take


# JS: every segment the playback element plays to its end, measured as it ends
# (capture phase: before the page moves on to the next segment). It plays at twice the
# speed (each new segment too: a new source starts at defaultPlaybackRate): to its end, with
# its sound, all the same, in half the time.
WATCH_PLAYBACK = """() => {
  const video = document.querySelector('[data-testid=playback]');
  video.defaultPlaybackRate = 2;
  video.playbackRate = 2;
  window.playedSegments = [];
  video.addEventListener('ended', () => window.playedSegments.push({
    src: video.currentSrc,
    duration: video.duration,
    frames: video.getVideoPlaybackQuality().totalVideoFrames,
    width: video.videoWidth,
    audioBytes: video.webkitAudioDecodedByteCount,
    muted: video.muted,
    volume: video.volume,
  }), {capture: true});
}"""


@dataclass(frozen=True)
class Recording:
    video_codec: str
    audio_codec: str
    video_frames: int
    width: int
    height: int
    tone_hz: float
    sha256: str


def inspect_recording(path: Path) -> Recording:
    """Decode the stored file: its codecs, frame count and the loudest audio frequency."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        codecs = (video.codec_context.name, audio.codec_context.name)
        frames, width, height = 0, 0, 0
        for frame in container.decode(video=0):
            frames, width, height = frames + 1, frame.width, frame.height
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        chunks = [f.to_ndarray()[0] for f in container.decode(audio=0)]
    samples = np.concatenate(chunks).astype(np.float64)
    window = samples[len(samples) // 4 : len(samples) // 4 + rate]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    peak_hz = float(np.fft.rfftfreq(len(window), 1 / rate)[int(np.argmax(spectrum))])
    return Recording(
        video_codec=codecs[0],
        audio_codec=codecs[1],
        video_frames=frames,
        width=width,
        height=height,
        tone_hz=peak_hz,
        sha256=sha256(path),
    )


async def test_record_play_back_record_again_and_finish(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    page = await new_page(server, viewport={"width": 1280, "height": 800})
    # A candidate whose next admission step is the device check.
    await admit(playwright, server, await me(page.request, server))
    await steps_before_device_check(page.request, server)
    await page.goto(server.url + "/device-check")

    # Chinese by default; camera and microphone live; connected to the server.
    await expect(by_testid(page, "title")).to_have_text("调试设备")
    await expect_state(page, "preview")
    await expect_live_preview(page)
    await page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=mic-level]').dataset.level) > 0.3"
    )
    await expect(by_testid(page, "camera-select").locator("option")).not_to_have_count(0)
    await expect(by_testid(page, "start-recording")).to_be_enabled()
    await expect(by_testid(page, "connection")).to_have_attribute("data-state", "connected")
    await shots.take(page, "preview")

    # First take: record on the server, stop, review.
    await by_testid(page, "start-recording").click()
    await record(page, RECORD_S)
    await expect(by_testid(page, "rec-badge")).to_be_visible()
    # Nothing pictures a device check (no proctors' wall, no detector): no preview is sent.
    assert await metric(page, server, "examcast_previews_sending") == 0
    await shots.take(page, "recording")
    await by_testid(page, "stop-recording").click()
    first = await stored_take(page, server)
    await expect(by_testid(page, "finish")).to_be_disabled()
    await expect(by_testid(page, "finish-hint")).to_contain_text("回放须播放到结尾")
    await shots.take(page, "review")

    manifest = first["manifest"]
    segments = manifest["segments"]
    assert abs(manifest["recorded_s"] - RECORD_S) < 1.5, manifest
    streams = {s["kind"]: s for s in segments[0]["streams"]}
    assert streams["video"]["codec"] == "vp8" and streams["video"]["frames"] > 0, segments
    assert streams["audio"]["codec"] == "opus" and streams["audio"]["frames"] > 0, segments

    # Play it back to its end, with sound: frames decoded, audio decoded, length right.
    await page.evaluate(WATCH_PLAYBACK)
    await by_testid(page, "play-back").click()
    await expect(by_testid(page, "finish")).to_be_enabled(timeout=(RECORD_S + 15) * 1000)
    await expect(by_testid(page, "finish-hint")).to_be_hidden()
    played = await page.evaluate("() => window.playedSegments")
    assert len(played) == len(segments), played
    assert all(p["frames"] > 0 and p["audioBytes"] > 0 for p in played), played
    assert all(not p["muted"] and p["volume"] > 0 for p in played), played
    assert abs(sum(p["duration"] for p in played) - manifest["recorded_s"]) < 1, played
    await shots.take(page, "played-back")

    # The stored file: VP8 + Opus, every frame there, the tone intact, the hash right.
    path = segment_file(server, first["take_id"])
    recording = await asyncio.to_thread(inspect_recording, path)
    assert (recording.video_codec, recording.audio_codec) == ("vp8", "opus"), recording
    assert recording.video_frames >= 100, f"{recording} {manifest}"
    assert abs(recording.tone_hz - TONE_HZ) < 5, recording
    assert recording.sha256 == segments[0]["sha256"], recording
    for segment in segments[1:]:
        later = segment_file(server, first["take_id"], segment["index"])
        assert await asyncio.to_thread(sha256, later) == segment["sha256"], segment

    # Record again: a new take, stored beside the first.
    await by_testid(page, "record-again").click()
    await record(page, 2)
    await by_testid(page, "stop-recording").click()
    second = await stored_take(page, server)
    assert second["take_id"] != first["take_id"]
    assert segment_file(server, second["take_id"]).is_file()
    assert segment_file(server, first["take_id"]).is_file()

    # Finish (调试完毕), allowed since a take was played back: the step is recorded on
    # the server with the last take, and remembered in this browser.
    await by_testid(page, "finish").click()
    await expect_state(page, "done")
    notice = by_testid(page, "notice")
    await expect(notice).to_have_attribute("data-kind", "ok")
    await expect(notice).to_contain_text("已保存到报名系统")
    done = await page.evaluate("() => JSON.parse(localStorage.getItem('examcast.deviceCheck'))")
    assert done["take_id"] == second["take_id"], done
    journey = (await call(page.request, server, "GET", "/api/me"))["journey"]
    assert journey["next_step"] == "exams", journey
    check = next(s for s in journey["steps"] if s["step"] == "device_check")
    assert check["done_at"], journey
    await shots.take(page, "done")


async def test_phone_completes_the_device_check_and_switches_language(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    phone = playwright.devices["Pixel 7"]
    page = await new_page(server, **phone)
    await admit(playwright, server, await me(page.request, server))
    await steps_before_device_check(page.request, server)
    await page.goto(server.url + "/device-check")
    await expect_state(page, "preview")
    await expect_live_preview(page)
    await expect(by_testid(page, "start-recording")).to_be_enabled()
    # A mobile browser widens its layout to fit wide content; the page must not need it.
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= phone["viewport"]["width"], f"the page is {width}px wide on a phone"
    await shots.take(page, "phone-zh")

    # English on request, remembered across a reload.
    await by_testid(page, "lang-toggle").click()
    await expect(by_testid(page, "title")).to_have_text("Device check")
    await page.reload()
    await expect(by_testid(page, "title")).to_have_text("Device check")
    await expect(by_testid(page, "start-recording")).to_have_text("Start recording")
    assert await page.evaluate("() => document.documentElement.lang") == "en"
    await expect_live_preview(page)
    await shots.take(page, "phone-en")

    # Both catalogues have the same keys, and the page uses no key they lack.
    keys = await page.evaluate(CATALOGUE_KEYS)
    assert keys["zh"] == keys["en"], set(keys["zh"]) ^ set(keys["en"])
    assert not keys["missing"], keys["missing"]

    # The whole check on the phone: record, stop, play back to the end, finish.
    await by_testid(page, "start-recording").click()
    await record(page, 3)
    await shots.take(page, "phone-recording")
    await by_testid(page, "stop-recording").click()
    take = await stored_take(page, server)
    await page.evaluate(WATCH_PLAYBACK)
    await by_testid(page, "play-back").click()
    await expect(by_testid(page, "finish")).to_be_enabled(timeout=20_000)
    played = await page.evaluate("() => window.playedSegments")
    assert played and all(p["frames"] > 0 and p["audioBytes"] > 0 for p in played), played
    await by_testid(page, "finish").click()
    await expect_state(page, "done")
    journey = (await call(page.request, server, "GET", "/api/me"))["journey"]
    assert journey["next_step"] == "exams", journey
    assert segment_file(server, take["take_id"]).is_file()
    await shots.take(page, "phone-done")


CATALOGUE_KEYS = """async () => {
  const { CATALOGUES } = await import("/static/js/lib/i18n.js");
  const used = [...document.querySelectorAll("[data-i18n], [data-i18n-label]")]
    .flatMap((el) => [el.dataset.i18n, el.dataset.i18nLabel].filter(Boolean));
  return {
    zh: Object.keys(CATALOGUES.zh).sort(),
    en: Object.keys(CATALOGUES.en).sort(),
    missing: used.filter((key) => !(key in CATALOGUES.zh && key in CATALOGUES.en)),
  };
}"""


async def open_ready(page: Page, url: str) -> None:
    """Load the page and wait until it can record."""
    await page.goto(url + "/device-check")
    await expect_state(page, "preview")
    await expect(by_testid(page, "start-recording")).to_be_enabled()


async def preview_camera(page: Page) -> str:
    return str(
        await page.evaluate(
            "() => document.querySelector('[data-testid=preview]').srcObject"
            ".getVideoTracks()[0].label"
        )
    )


async def test_switch_cameras_while_recording(
    server: ServerProcess, new_page: NewPage, three_camera_browser: Browser, shots: Shots
) -> None:
    page = await new_page(server, on=three_camera_browser)
    await open_ready(page, server.url)
    chooser = by_testid(page, "camera-select")
    await expect(chooser.locator("option")).to_have_count(3)
    assert await preview_camera(page) == "fake_device_0"

    # Choose a camera from the list, then cycle with the button (切换摄像头), recording.
    await by_testid(page, "start-recording").click()
    await record(page, 1)
    await chooser.select_option(index=2)
    await expect(by_testid(page, "switch-camera")).to_be_enabled()
    assert await preview_camera(page) == "fake_device_2"
    await expect_live_preview(page)
    await shots.take(page, "switched")
    await record(page, 2)
    await by_testid(page, "switch-camera").click()
    await expect(by_testid(page, "switch-camera")).to_be_enabled()
    assert await preview_camera(page) == "fake_device_0"
    await record(page, 4)
    await by_testid(page, "stop-recording").click()
    take = await stored_take(page, server)

    # The server kept receiving video after each switch, up to the end of the take.
    manifest = take["manifest"]
    last = manifest["segments"][-1]
    video = next(s for s in last["streams"] if s["kind"] == "video")
    video_end_s = last["start_s"] + video["last_pts_ms"] / 1000
    wall_s = take["stopped_at"] - take["started_at"]  # recorded_s counts picture, not this
    # Broken would be the video ending at a switch: the last camera recorded for 4 s (a busy
    # machine only delays the frames in flight at the stop).
    assert wall_s - video_end_s < 2.0, manifest
    assert not manifest["gaps"], manifest


async def test_signaling_drop_while_recording(
    server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    """The Socket.IO connection drops; the page reconnects, takes its media session
    back, and the take goes on over the untouched peer connection."""
    page = await new_page(server)
    await page.add_init_script(KEEP_WEBSOCKETS)
    await open_ready(page, server.url)
    await by_testid(page, "start-recording").click()
    await record(page, 1)

    await page.evaluate("() => window.openedSockets.forEach((ws) => ws.close())")
    await page.wait_for_function(
        "() => openedSockets.length >= 2 && openedSockets.at(-1).readyState === WebSocket.OPEN"
    )
    await expect(by_testid(page, "connection")).to_have_attribute("data-state", "connected")
    await expect_state(page, "recording")
    await record(page, 3)
    await by_testid(page, "stop-recording").click()
    take = await stored_take(page, server)
    assert take["stop_reason"] == "stopped", take
    assert len(take["manifest"]["segments"]) == 1 and not take["manifest"]["gaps"], take
    await shots.take(page, "after-reconnect")


async def test_server_stops_take_at_its_time_limit(
    short_limit_server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    page = await new_page(short_limit_server)
    await open_ready(page, short_limit_server.url)
    await by_testid(page, "start-recording").click()
    await expect(by_testid(page, "elapsed")).to_contain_text(f"/ 00:0{DEVICE_CHECK_LIMIT_S}")

    # Leaving the page while it records asks first (the candidate stays).
    async with page.expect_event("dialog") as leaving:
        await page.close(run_before_unload=True)
    dialog = await leaving.value
    assert dialog.type == "beforeunload"
    await dialog.dismiss()

    # Nobody presses stop: the server does, and the page says why.
    take = await stored_take(page, short_limit_server)
    assert take["stop_reason"] == "time_limit", take
    notice = by_testid(page, "notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_have_attribute("data-kind", "warning")
    await expect(notice).to_contain_text("最长录制时间")
    await expect(by_testid(page, "play-back")).to_be_enabled()
    await shots.take(page, "time-limit")


FAST_PLAYBACK = """() => {
  const video = document.querySelector('[data-testid=playback]');
  video.defaultPlaybackRate = video.playbackRate = 8;
}"""


async def test_a_second_take_on_one_connection_keeps_its_timing(
    server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    page = await new_page(server)
    await open_ready(page, server.url)
    for button in ("start-recording", "record-again"):
        await by_testid(page, button).click()
        await record(page, 2)
        await by_testid(page, "stop-recording").click()
        take = await stored_take(page, server)
    manifest = take["manifest"]
    for segment in manifest["segments"]:
        assert segment["start_s"] < manifest["recorded_s"], manifest
        assert segment["duration_s"] < manifest["recorded_s"] + 1, manifest

    # This new candidate has not reached the device-check step of the admission
    # journey: the server says what comes first, and the check still counts here.
    # Played back fast (the first test watches a whole playback). Then the answer to
    # "finish" is lost on the way: the page says so and lets the candidate retry.
    await page.evaluate(FAST_PLAYBACK)
    await by_testid(page, "play-back").click()
    # the page's calls carry c=<its account> (decision 0026): any query matches
    finish_url = re.compile(re.escape(server.url + "/api/admission/device-check") + r"(\?.*)?$")
    await page.route(finish_url, lambda route: route.abort())
    await by_testid(page, "finish").click(timeout=15_000)
    notice = by_testid(page, "notice")
    await expect(notice).to_contain_text("调试结果没有保存")
    await expect_state(page, "review")
    await page.unroute(finish_url)
    await by_testid(page, "finish").click()
    await expect_state(page, "done")
    await expect(notice).to_have_attribute("data-kind", "info")
    await expect(notice).to_contain_text("请先同意用户协议和隐私政策。")
    done = await page.evaluate("() => JSON.parse(localStorage.getItem('examcast.deviceCheck'))")
    assert done["take_id"] == take["take_id"], done
    await shots.take(page, "done-step-required")

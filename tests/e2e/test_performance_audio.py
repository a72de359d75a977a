"""Music-grade sound for performances (issue #18) in Chromium, measured on the stored file.

Chromium's fake microphone plays a music-like signal made here (tests/support/music.py:
a different chord per channel, harmonics up to 18 kHz). Two candidates record a
device check, each in a unit whose exam asks for other sound: ``voice`` (the
browser's own Opus, what every take had before) and ``music`` at 192 kbit/s. The
stored files are decoded with PyAV and compared with the source, side by side;
the figures are printed as ``AUDIO-FIGURE`` lines for the report.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Playwright, expect

from bench.journey import before_device_check
from tests.e2e.accounts import journey_call, me, signed_up
from tests.e2e.conftest import CHROMIUM, FAILED, FakeMedia, NewPage, chromium_args
from tests.e2e.exam_helpers import UnitAdmin, exam_window, unit_admin
from tests.support import music
from tests.support.netns import Veth, launch_in_netns, veth_server
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

RECORD_S = 6
MUSIC_KBPS = 192
PROFILES: dict[str, tuple[str, dict[str, Any]]] = {
    "voice": ("20018", {"audio": "voice"}),
    "music": ("20019", {"audio": "music", "audio_kbps": MUSIC_KBPS}),
}


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return music.source(4.0)


@pytest_asyncio.fixture(loop_scope="session")
async def music_browser(
    playwright: Playwright, fake_media: FakeMedia, signal: np.ndarray, tmp_path: Path
) -> AsyncIterator[Browser]:
    """A Chromium of its own whose fake microphone plays the music (the shared one's
    plays a tone); Chromium loops the file."""
    wav = tmp_path / "chords.wav"
    music.write_wav(wav, signal)
    chromium = await playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(FakeMedia(fake_media.video, wav))
    )
    yield chromium
    await chromium.close()


def exam(media: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "2027 声乐专业考试",
        **exam_window(),
        "media": media,
        "questions": [
            {
                "id": "song",
                "order": 1,
                "mode": "online",
                "title": "自选曲目",
                "recording_limit_s": 120,
                "formal_count": 1,
            }
        ],
    }


async def device_check_take(
    page: Page, server: ServerProcess, admin: UnitAdmin, record_s: int = RECORD_S
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's candidate, in ``admin``'s unit, records a device check; the stored take,
    and what the page said the server received (its text and warnings) while recording."""
    account = await me(page.request, server)
    await admin.admit(account)
    await before_device_check(
        journey_call(page.request, server), account["id_number"], admin.unit_id
    )
    await page.goto(server.url + "/device-check")
    start = page.get_by_test_id("start-recording")
    await expect(start).to_be_enabled(timeout=20_000)
    await start.click()
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=elapsed]').dataset.seconds) >= s",
        arg=record_s,
        timeout=(record_s + 15) * 1000,
    )
    box = page.get_by_test_id("received")
    await expect(box).to_have_attribute("data-state", re.compile("^(ok|short)$"))
    said = {
        "figures": await page.get_by_test_id("received-figures").inner_text(),
        "needs": await page.get_by_test_id("received-needs").inner_text(),
        "short": await page.get_by_test_id("received-warnings")
        .locator("li")
        .evaluate_all("items => items.map(li => li.dataset.code)"),
    }
    await page.get_by_test_id("stop-recording").click()
    await expect(page.locator("body")).to_have_attribute("data-state", "review", timeout=30_000)
    take_id = await page.get_by_test_id("playback").get_attribute("data-take-id")
    response = await page.request.get(f"{server.url}/api/takes/{take_id}")
    take: dict[str, Any] = await response.json()
    assert take["state"] == "stored", take
    return take, said


def segment_paths(server: ServerProcess, take: dict[str, Any]) -> list[Path]:
    folder = server.data_dir / "recordings" / str(take["take_id"])
    return [folder / s["file"] for s in take["manifest"]["segments"]]


async def test_music_profile_keeps_full_band_and_stereo_where_voice_does_not(
    server: ServerProcess,
    new_page: NewPage,
    music_browser: Browser,
    playwright: Playwright,
    signal: np.ndarray,
) -> None:
    figures: dict[str, music.Figures] = {}
    said: dict[str, dict[str, Any]] = {}
    for name, (unit_id, media) in PROFILES.items():
        admin = await unit_admin(playwright, server, unit_id)
        try:
            created = await admin.create_exam(exam(media))
            assert created["media"]["audio"] == name, created["media"]
            # The sound is measured in one whole segment: a take whose page made a new peer
            # connection (a reconnect on a loaded machine: not this test's subject, which the
            # network-drop tests cover) is recorded once more, and said so.
            for attempt in (1, 2):
                page = await new_page(server, on=music_browser)
                take, said[name] = await device_check_take(page, server, admin)
                await page.context.close()
                manifest = take["manifest"]
                whole = len(manifest["segments"]) == 1 and not manifest["gaps"]
                if whole or attempt == 2:
                    break
                reasons = [seg["reason"] for seg in manifest["segments"]]
                print(f"AUDIO-FIGURE {name}: take in segments {reasons}, recorded again")
            assert whole, manifest
            [path] = segment_paths(server, take)
            figures[name] = await asyncio.to_thread(music.measure, path, signal)
        finally:
            await admin.http.dispose()

    print("AUDIO-FIGURE source", music.source_figures(signal))
    for name, got in figures.items():
        print(f"AUDIO-FIGURE {name} {got.line()}")
        print(f"AUDIO-FIGURE {name} device check said: {said[name]}")
    voice, tuned = figures["voice"], figures["music"]

    # music: the whole take there, both chords each in its own channel, the full band,
    # the level of the source, no gap, at about the exam's bitrate
    assert tuned.seconds >= RECORD_S - 1, tuned
    assert tuned.stereo_packets > 0.95, tuned
    assert tuned.correlation < 0.3, tuned
    assert tuned.separation_db > 20, tuned
    assert tuned.top_hz >= 17_000, tuned
    assert tuned.partials_db > 3, tuned
    assert tuned.above_16k_db > -6 and tuned.above_12k_db > -6, tuned
    assert all(abs(db) < 3 for db in tuned.level_db), tuned
    assert tuned.gaps_s <= 0.1, tuned
    assert 0.5 * MUSIC_KBPS < tuned.bitrate_kbps < 1.3 * MUSIC_KBPS, tuned
    # Chromium's own 20 ms packets: 40 ms at 192 kbit/s would not fit one (MediaProfile.ptime_ms)
    assert tuned.packet_ms == 20, tuned

    # The device check said what the server received: the music in stereo, the fake
    # camera's 640x360 short of the exam's 720p (a warning in plain words)
    assert "立体声" in said["music"]["figures"], said
    assert "1280×720" in said["music"]["needs"] and "192 kbit/s" in said["music"]["needs"], said
    assert "small_picture" in said["music"]["short"], said
    assert not {"mono_sound", "narrow_sound", "no_sound"} & set(said["music"]["short"]), said
    assert "单声道" in said["voice"]["figures"] and "语音" in said["voice"]["needs"], said

    # voice (the browser's defaults): one mix of both chords in both channels, a voice's
    # bitrate; what music gains over it
    assert voice.seconds >= RECORD_S - 1, voice
    assert voice.stereo_packets < 0.05 and voice.correlation > 0.95, voice
    assert voice.separation_db < 3, voice
    assert voice.bitrate_kbps < 64, voice
    assert voice.packet_ms == 40, voice  # the answer's a=ptime:40, as Chromium reads it
    # Both keep the band's energy up to 20 kHz (Chromium's Opus codes full band even at
    # 32 kbit/s), but at a voice's bitrate the harmonics up there are noise (band folding):
    # music keeps them standing out.
    assert voice.top_hz >= 17_000 and abs(voice.above_16k_db) < 6, voice
    assert tuned.partials_db > 3 and tuned.partials_db > voice.partials_db + 3, (voice, tuned)


# The candidate's uplink: less than the exam's 720p picture and sound need together (an
# environment variable tries others: the figures are printed).
WEAK_LINK_KBIT = int(os.environ.get("EXAMCAST_WEAK_LINK_KBIT", "500"))
WEAK_RECORD_S = 10


async def test_on_a_weak_link_the_music_stays_whole_and_the_picture_gives_way(
    playwright: Playwright,
    fake_media: FakeMedia,
    signal: np.ndarray,
    veth: Veth,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The candidate's uplink carries less than the exam asks for (a token bucket on the
    browser's side of its own link): the sound is sent first, so the stored music has no
    gap and keeps its stereo and band; the picture's bitrate is what gives way."""
    # The browser starts its picture at 300 kbit/s here, not the server's default 1500: a
    # start above the link floods it until the estimate comes down (measured at 500 kbit/s:
    # 1.3 s of the take lost and a new peer connection); the candidate's weak link is
    # simulated from the page's first packet, where a real one would have settled in the
    # device check and the reading time.
    server = veth_server(tmp_path / "data", veth, "--start-bitrate-kbps", "300")
    wav = tmp_path / "chords.wav"
    music.write_wav(wav, signal)
    args = chromium_args(FakeMedia(fake_media.video, wav))
    chromium = await launch_in_netns(playwright, veth, server, args, tmp_path)
    try:
        await asyncio.to_thread(throttle, veth, WEAK_LINK_KBIT)
        admin = await unit_admin(playwright, server, "20020")
        try:
            await admin.create_exam(exam({"audio": "music", "audio_kbps": 128}))
            context = await chromium.new_context()
            await signed_up(context.request, server)
            page = await context.new_page()
            page.set_default_timeout(30_000)
            take, said = await device_check_take(page, server, admin, record_s=WEAK_RECORD_S)
            paths = segment_paths(server, take)
            parts = [await asyncio.to_thread(music.measure, p, signal) for p in paths]
            video_kbps = await asyncio.to_thread(video_bitrate_kbps, paths)
        finally:
            await admin.http.dispose()
    finally:
        await chromium.close()
        server.stop()
        if request.node.stash.get(FAILED, False):
            print(server.log())
    got = max(parts, key=lambda f: f.seconds)
    print(f"AUDIO-FIGURE weak-link-{WEAK_LINK_KBIT}kbit {got.line()} video_kbps={video_kbps:.0f}")
    print(f"AUDIO-FIGURE weak-link-{WEAK_LINK_KBIT}kbit segments: {segment_reasons(take)}")
    print(f"AUDIO-FIGURE weak-link-{WEAK_LINK_KBIT}kbit device check said: {said}")
    # the take is whole: no stretch lost, the sound in every segment without a gap
    assert take["manifest"]["gaps"] == [], take["manifest"]
    assert sum(f.seconds for f in parts) >= WEAK_RECORD_S - 1, parts
    assert sum(f.gaps_s for f in parts) <= 0.2, parts
    # and still music: stereo, the full band, the exam's bitrate
    assert got.stereo_packets > 0.95 and got.separation_db > 20, got
    assert got.top_hz >= 17_000, got
    assert 0.5 * 128 < got.bitrate_kbps < 1.3 * 128, got
    # what gave way is the picture, and the device check said so
    assert video_kbps < WEAK_LINK_KBIT - 100, video_kbps
    assert "low_video_bitrate" in said["short"], said


def throttle(link: Veth, kbit: int) -> None:
    """A token bucket on the browser's side of its link: what it sends is held to ``kbit``
    (queued up to 300 ms, then dropped, as a saturated uplink does)."""
    tbf = ["tbf", "rate", f"{kbit}kbit", "burst", "16kb", "latency", "300ms"]
    command = ["ip", "netns", "exec", link.ns, "tc", "qdisc", "add", "dev", link.browser_end]
    subprocess.run([*command, "root", *tbf], check=True, capture_output=True, timeout=10)


def segment_reasons(take: dict[str, Any]) -> list[tuple[str, float]]:
    return [(s["reason"], round(s["start_s"], 1)) for s in take["manifest"]["segments"]]


def video_bitrate_kbps(paths: list[Path]) -> float:
    """The picture's bitrate over the segments that have one."""
    bits, seconds = 0, 0.0
    for path in paths:
        with av.open(str(path)) as container:
            if not container.streams.video:
                continue
            stream = container.streams.video[0]
            packets = [p for p in container.demux(video=0) if p.size]
            times = [p.pts for p in packets if p.pts is not None]
            if len(times) < 2 or stream.time_base is None:
                continue
            bits += sum(p.size for p in packets) * 8
            seconds += float((max(times) - min(times)) * stream.time_base)
    return bits / max(seconds, 1e-9) / 1000

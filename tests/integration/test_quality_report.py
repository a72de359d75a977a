"""The take's quality report between real aiortc peers and a real server (issue #18).

A network cut (everything the client sends dropped for 3 s, as in
tests/integration/test_recording_loss.py), a camera that changes its size mid-take (H.264,
sizes read from the SPS), a covered camera (black frames), stereo and mono Opus: each
take's report, as the stop answers it, as GET /api/takes/{id} returns it (stored), and in
the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from aiortc.codecs import opus
from av import VideoFrame

from media.quality import QualityMeter
from tests.integration.test_recording_loss import SENDER_HISTORY, Outage, until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import Client, RunningServer, connected_client
from web.keys import HUB


class CoveredVideo(SyntheticVideo):
    """The test picture, black (a covered lens) from ``black_from`` (the track's time; None:
    not yet) for ``black_s``."""

    def __init__(self, black_s: float) -> None:
        super().__init__()
        self.black_from: float | None = None
        self.black_s = black_s

    async def recv(self) -> VideoFrame:
        frame = await super().recv()
        t = (self.frames_sent - 1) / self.fps
        if self.black_from is not None and self.black_from <= t < self.black_from + self.black_s:
            black = np.zeros((frame.height * 3 // 2, frame.width), np.uint8)
            covered = VideoFrame.from_ndarray(black, format="yuv420p")
            covered.pts, covered.time_base = frame.pts, frame.time_base
            return covered
        return frame


async def record(
    server: RunningServer,
    client: Client,
    video: SyntheticVideo,
    seconds: float,
    *,
    video_codec: str | None = None,
    during: Callable[[Any, QualityMeter], Any] | None = None,
) -> dict[str, Any]:
    """Record, run ``during``, record ``seconds`` more of the track's frames (counted as the
    take placed them: a sender starved behind its clock catches up in a burst, so frames
    counted as sent can be seconds of the track's time the take never had), stop; the
    stored take."""
    session_id, pc = await client.publish([video, SyntheticAudio()], video_codec=video_codec)
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    recorder = server.app[HUB]._takes[take["take_id"]]["primary"]
    await until(lambda: recorder._current is not None, 10, "the first segment")
    # live, as the device check shows it: what this camera's take receives now
    meter = server.app[HUB].quality_meter(session_id)
    assert meter is not None and server.app[HUB].quality_meter("no-such-session") is None
    await until(lambda: meter.snapshot()["video"]["fps"] >= 15, 10, "a live frame rate")
    live = meter.snapshot()
    assert live["video"]["width"] == video.size[0] and live["audio"]["channels"] in (1, 2)
    assert live["video"]["bitrate_kbps"] > 0 and live["audio"]["present"]
    band = await meter.measure_bandwidth()  # the newest sound, decoded in the worker
    assert band is not None and meter.snapshot()["audio"]["bandwidth_hz"] == band
    if during is not None:
        await during(pc, meter)
    placed = meter.frames
    await until(lambda: meter.frames >= placed + seconds * video.fps, 30, "the recording")
    stored: dict[str, Any] = await client.call("stop_take", {"take_id": take["take_id"]})
    assert stored["state"] == "stored", stored
    async with client.http.get(f"{server.url}/api/takes/{take['take_id']}") as reply:
        assert reply.status == 200
        again = await reply.json()
    assert again["quality"] == stored["quality"] == stored["manifest"]["quality"]
    return stored


def camera(stored: dict[str, Any]) -> dict[str, Any]:
    report = stored["quality"]
    assert report["version"] == 1 and set(report["cameras"]) == {"primary"}, report
    assert abs(report["duration_s"] - (stored["stopped_at"] - stored["started_at"])) < 0.5
    cam: dict[str, Any] = report["cameras"]["primary"]
    return cam


async def test_a_network_cut_of_three_seconds_is_reported_lost(server: RunningServer) -> None:
    outages: list[Outage] = []

    async def cut(pc: Any, meter: QualityMeter) -> None:
        outage = Outage(pc)
        outages.append(outage)
        sent = video.frames_sent
        await until(lambda: video.frames_sent >= sent + 60, 10, "two seconds recorded")
        outage.on = True
        sent = video.frames_sent
        await until(
            lambda: (
                video.frames_sent >= sent + 3 * 30 and outage.packets["video"] > SENDER_HISTORY + 32
            ),
            20,
            "the cut",
        )
        outage.on = False

    # 640x480: more packets in the cut than the sender keeps to retransmit, so the picture
    # is lost for good, not sent late (tests/integration/test_recording_loss.py); at a low
    # bitrate 3 s may be fewer, all resent after the cut: it lasts until there are more
    video = SyntheticVideo(640, 480)
    async with connected_client(server) as client:
        stored = await record(server, client, video, 2.5, during=cut)
    report = stored["quality"]
    cam = camera(stored)
    [gap] = [g for g in stored["manifest"]["gaps"] if g["reason"] == "media_lost"]
    assert cam["video"]["lost"][-1] == {
        "from_s": gap["start_s"],
        "to_s": gap["end_s"],
        "reason": "media_lost",
    }
    # what the report says lost against what the cut dropped (media time; on a loaded
    # machine that is not exactly the 3 s of frames counted during it: encoding runs behind)
    [outage] = outages
    picture, sound_s = outage.dropped_s("video"), outage.dropped_s("audio")
    assert picture >= 2 and sound_s >= 2, (picture, sound_s)
    # the picture: from its last frame, or the sound's, before the cut (the sound, not
    # encoded behind, may end up to a few frames later) to the keyframe after it
    # (less the end of the cut the sender could still resend after it: its history's packets)
    resent = outage.resendable_s("video", SENDER_HISTORY)
    assert picture - resent - 0.2 <= cam["video"]["lost_s"] <= picture + 1.5, (picture, cam)
    # the sound: its dropped frames, first to last, and the last one's 20 ms
    assert abs(cam["audio"]["lost_s"] - (sound_s + 0.02)) <= 0.045, (sound_s, cam)
    [sound] = cam["audio"]["lost"]
    assert sound["from_s"] < gap["end_s"] and sound["to_s"] > gap["start_s"], cam
    assert report["lost_s"] == max(cam["video"]["lost_s"], cam["audio"]["lost_s"])
    assert cam["video"]["low_fps_s"] <= 1, cam  # lost seconds are lost, not slow
    assert 25 <= cam["video"]["fps"] <= 31, cam
    assert cam["video"]["resolutions"][0]["width"] == 640
    assert cam["video"]["bitrate_kbps"] > 0 and cam["audio"]["bitrate_kbps"] > 0
    assert cam["audio"]["present"] and cam["audio"]["channels"] == 2  # aiortc sends stereo
    assert cam["video"]["black_s"] == 0 and cam["video"]["keyframes_asked"] == 0, cam


async def test_a_resolution_change_lists_both_sizes(server: RunningServer) -> None:
    async def resize(pc: Any, meter: QualityMeter) -> None:
        video.resize_at = video.frames_sent / video.fps  # from the next frame on
        await until(lambda: meter.snapshot()["video"]["width"] == 640, 20, "the new size")

    video = SyntheticVideo(resize_to=(640, 480))
    async with connected_client(server) as client:
        stored = await record(server, client, video, 1.5, video_codec="video/H264", during=resize)
    cam = camera(stored)
    sizes = [(r["width"], r["height"]) for r in cam["video"]["resolutions"]]
    assert sizes == [(320, 240), (640, 480)], cam
    first, second = cam["video"]["resolutions"]
    assert first["from_s"] < second["from_s"] < stored["quality"]["duration_s"]
    reasons = [s["reason"] for s in stored["manifest"]["segments"]]
    assert reasons == ["start", "resolution_change"], reasons
    assert cam["video"]["lost_s"] == 0 and cam["video"]["black_s"] == 0, cam


async def test_a_covered_camera_is_reported_black(server: RunningServer) -> None:
    async def cover(pc: Any, meter: QualityMeter) -> None:
        video.black_from = video.frames_sent / video.fps  # from the next frame on

    video = CoveredVideo(black_s=5.0)
    async with connected_client(server) as client:
        stored = await record(server, client, video, 7.0, during=cover)
    cam = camera(stored)
    assert 1.0 <= cam["video"]["black_s"] <= 5.5, cam
    assert cam["video"]["keyframes_asked"] >= 1 and cam["video"]["samples"] >= 3, cam
    assert cam["video"]["lost_s"] == 0, cam


async def test_mono_opus_is_one_channel(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's Opus encoder made mono (a browser with a mono microphone and no
    stereo=1): the TOC's stereo bit is clear, the report says one channel."""
    made = opus.OpusEncoder.__init__

    def mono(self: opus.OpusEncoder) -> None:
        made(self)
        self.codec.layout = "mono"
        self.resampler = opus.AudioResampler(
            format="s16", layout="mono", rate=opus.SAMPLE_RATE, frame_size=opus.SAMPLES_PER_FRAME
        )

    monkeypatch.setattr(opus.OpusEncoder, "__init__", mono)
    async with connected_client(server) as client:
        stored = await record(server, client, SyntheticVideo(), 2.0)
    audio = camera(stored)["audio"]
    assert audio["present"] and audio["channels"] == 1, audio
    # the test tone is 220 Hz, quiet: its band is far below what the codec could carry
    assert audio["bandwidth_hz"] is not None and audio["bandwidth_hz"] < 4000, audio

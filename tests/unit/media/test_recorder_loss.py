"""Packet loss, end to end below the network: real RTP with a real hole in it goes through
real aiortc receivers (jitter buffers, NACK/PLI) and the tap into the recorder, with a
real mux pool; the files are decoded strictly with PyAV."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from media import recorder as recorder_module
from media import tap
from media.recorder import HOLE_S, VIDEO_STALL_S, TakeRecorder
from media.writer import MuxPool
from tests.support.analysis import Decoded, decode_strictly
from tests.support.rtp import FPS, Hole, Link, arrival_clock, tapped_receiver

SECONDS = 10.0
HOLE_AT = 2.5


@pytest.fixture
def pool() -> Iterator[MuxPool]:
    pool = MuxPool(1)
    yield pool
    pool.shutdown()


async def record(
    tmp_path: Path,
    pool: MuxPool,
    monkeypatch: pytest.MonkeyPatch,
    *holes: Hole,
    late: dict[int, int] | None = None,
) -> tuple[dict[str, Any], Link]:
    video = await tapped_receiver("video", ssrc=11, seq=65000, ts0=4_294_000_000)  # both wrap
    audio = await tapped_receiver("audio", ssrc=12, seq=65500, ts0=123)
    link = Link(video, audio, holes=list(holes), late=late or {})
    # The packets go in faster than real time; they arrive at their media time, so the
    # take clock is the media clock (0 = the first packets) on a busy machine too.
    origin = time.monotonic()
    clock = arrival_clock(link, origin)
    monkeypatch.setattr(tap, "time", clock)
    monkeypatch.setattr(recorder_module, "time", clock)  # the take stops where its media ends
    recorder = TakeRecorder(
        "t", tmp_path, pool, queue_limit=1 << 24, keyframe_interval=0.05, origin=origin
    )
    recorder.attach([video.source, audio.source])
    await link.run(SECONDS)
    manifest = await recorder.stop()
    for r in (video, audio):
        await r.receiver.stop()
    return manifest, link


def decoded(tmp_path: Path, segment: dict[str, Any]) -> Decoded:
    out = decode_strictly(tmp_path / segment["file"])  # raises on a broken frame
    stream = next(s for s in segment["streams"] if s["kind"] == "video")
    assert out.video_packets == len(out.video) == stream["frames"]
    return out


def assert_continuous(d: Decoded, first: int, last: int) -> None:
    """Frames ``first``..``last`` of the camera, every one, in order; the sound with them,
    20 ms after 20 ms from the first picture to the last."""
    assert [f.index for f in d.video] == list(range(first, last + 1))
    assert d.audio_pts_s, "no sound"
    steps = [b - a for a, b in zip(d.audio_pts_s, d.audio_pts_s[1:], strict=False)]
    assert max(steps) == pytest.approx(0.02, abs=0.0015), "a hole in the sound"
    assert abs(d.audio_pts_s[0] - d.video[0].pts_s) <= 0.03
    assert d.audio_pts_s[-1] + 0.02 >= d.video[-1].pts_s + 1 / FPS - 0.05


@pytest.mark.parametrize(
    "hole_s",
    [
        pytest.param(5.0, id="5s-beyond-the-jitter-buffer"),
        pytest.param(1.5, id="1.5s-held-up-behind-the-hole"),
        pytest.param(0.3, id="0.3s-shorter-than-a-hole-in-the-sound"),
    ],
)
async def test_a_network_hole_ends_the_segment_and_the_take_resumes_at_a_keyframe(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch, hole_s: float
) -> None:
    manifest, link = await record(tmp_path, pool, monkeypatch, Hole(HOLE_AT, HOLE_AT + hole_s))
    end = HOLE_AT + hole_s

    # A keyframe was asked for as soon as the loss was known, and the sender's answer
    # (its next frame) starts the next segment: nothing before it was written.
    assert link.plis_at, "no PLI sent"
    noticed = end + 0.1 if hole_s > HOLE_S else HOLE_AT + VIDEO_STALL_S + 0.3
    assert link.plis_at[0] <= noticed
    resumed_at = link.camera.keyframes[1]
    assert resumed_at == math.ceil(round(link.plis_at[0] * FPS, 6))

    one, two = manifest["segments"]
    assert (one["reason"], two["reason"]) == ("start", "resumed")
    zero = one["start_s"]  # frame 0, the first keyframe
    assert_continuous(decoded(tmp_path, one), 0, round(HOLE_AT * FPS) - 1)
    assert_continuous(decoded(tmp_path, two), resumed_at, round(SECONDS * FPS) - 1)
    assert two["start_s"] - zero == pytest.approx(resumed_at / FPS, abs=0.002)

    # The hole is a gap from where the first segment ends to where the second starts.
    [gap] = manifest["gaps"]
    assert gap["reason"] == "media_lost"
    assert gap["start_s"] == pytest.approx(one["start_s"] + one["duration_s"], abs=0.0011)
    assert gap["end_s"] == two["start_s"]
    assert HOLE_AT - 0.001 <= gap["start_s"] - zero <= noticed

    # Durations count what was recorded, not the wall clock.
    assert manifest["recorded_s"] == pytest.approx(one["picture_s"] + two["picture_s"])
    assert one["picture_s"] <= one["duration_s"] and two["picture_s"] <= two["duration_s"]
    # (A short hole is noticed when the picture has stalled behind the sound for
    # VIDEO_STALL_S: the sound up to then is kept, over a frozen picture.)
    assert manifest["recorded_s"] <= SECONDS - hole_s + (0 if hole_s > HOLE_S else VIDEO_STALL_S)
    assert manifest["stats"]["media_breaks"] == 1
    assert manifest["stats"]["malformed"] >= 1  # the frame that arrived without its start


async def test_lost_sound_alone_is_filled_with_silence_in_the_same_segment(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    hole = Hole(HOLE_AT, HOLE_AT + 0.3, ("audio",))
    manifest, link = await record(tmp_path, pool, monkeypatch, hole)
    [segment] = manifest["segments"]
    assert manifest["gaps"] == [] and link.plis_at == []
    assert manifest["stats"]["silence_filled"] == 15  # 300 ms of 20 ms frames
    d = decoded(tmp_path, segment)
    assert_continuous(d, 0, round(SECONDS * FPS) - 1)
    assert manifest["recorded_s"] == segment["picture_s"] == pytest.approx(SECONDS, abs=0.03)


async def test_a_late_retransmission_does_not_move_the_take_half_a_day_ahead(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A packet 150 behind (aiortc restarts its jitter buffer at it, and its timestamp
    mapper takes the older timestamp for a wrap: +2**32 ticks, 13 hours) arrives
    mid-take; the take goes on at the right time, in a new segment from a keyframe."""
    manifest, _ = await record(tmp_path, pool, monkeypatch, late={150: 150})
    segments = manifest["segments"]
    assert len(segments) == 2, segments
    assert segments[-1]["start_s"] + segments[-1]["duration_s"] <= SECONDS + 0.05
    assert manifest["recorded_s"] <= SECONDS
    for segment in segments:
        decoded(tmp_path, segment)

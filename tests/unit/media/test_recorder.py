"""The recorder fed real encoded frames directly (no network), with a real mux pool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest

from media import recorder as recorder_module
from media.recorder import TakeRecorder, take_end_s
from media.tap import EncodedFrame
from media.writer import MuxPool
from tests.support.encoded import opus_packets, video_packets


class FeedSource:
    """Stands where a tapped aiortc track would: the test hands it frames."""

    def __init__(
        self, kind: str, codec: str, base: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.kind = kind
        self.codec_name = codec
        self.peer_id = "peer-0"
        self.ended = False
        self.keyframe_requests = 0
        self._base = base
        self._now = clock  # when a frame comes (TrackSource: the monotonic clock)
        self._clock = 90000 if kind == "video" else 48000
        self._listener: Callable[..., None] | None = None
        self.clock_settled = True  # its clock has seen enough packets (TrackSource's)
        self.clock_fixed = False
        self.pictured = 0  # no wall makes pictures of it
        self.last_frame_time: float | None = None  # the newest frame's time_of (TrackSource's)
        self.last_frame_at: float | None = None  # when it came (monotonic)

    def fix_clock(self) -> None:
        self.clock_fixed = True

    def listen(
        self, on_frame: Callable[..., None] | None, on_end: object = None, on_picture: object = None
    ) -> None:
        self._listener = on_frame

    def unlisten(self, on_frame: Callable[..., None]) -> None:
        if self._listener == on_frame:
            self._listener = None

    def time_of(self, frame: EncodedFrame) -> float:
        return self._base + frame.timestamp / self._clock

    def request_keyframe(self, *, merge: bool = False) -> bool:
        self.keyframe_requests += 1
        return True

    def pending_frames(self) -> list[EncodedFrame]:
        return []

    def skip_lost(self) -> bool:
        return False

    def feed(self, data: bytes, timestamp: int) -> None:
        assert self._listener is not None
        frame = EncodedFrame(data, timestamp)
        self.last_frame_time, self.last_frame_at = self.time_of(frame), self._now()
        self._listener(self, frame)


@pytest.fixture
def pool() -> Iterator[MuxPool]:
    pool = MuxPool(1)
    yield pool
    pool.shutdown()


def interleaved(video: list[bytes], audio: list[bytes]) -> list[tuple[str, bytes, int]]:
    items = [("video", p, i * 3000) for i, p in enumerate(video)]
    items += [("audio", p, i * 960) for i, p in enumerate(audio)]
    return sorted(items, key=lambda x: x[2] / (90000 if x[0] == "video" else 48000))


async def test_disk_backlog_bounds_memory_records_a_gap_and_resumes(
    tmp_path: Path, pool: MuxPool
) -> None:
    limit = 64 * 1024
    recorder = TakeRecorder("t", tmp_path, pool, queue_limit=limit, keyframe_interval=0.05)
    video = FeedSource("video", "vp8", recorder.origin)
    audio = FeedSource("audio", "opus", recorder.origin)
    recorder.attach([video, audio])  # type: ignore[list-item]
    vp8, opus = video_packets("vp8", 300, 640, 480, gop=30), opus_packets(500)
    biggest = max(len(p) for p in vp8)
    items = interleaved(vp8, opus)
    first_half = [i for i in items if i[2] / (90000 if i[0] == "video" else 48000) < 5]
    rest = items[len(first_half) :]

    # Five seconds of media arrive faster than the disk takes them.
    peak = 0
    for kind, data, ts in first_half:
        (video if kind == "video" else audio).feed(data, ts)
        if recorder._current is not None:
            peak = max(peak, recorder._current.writer.pending_bytes)
    assert limit < peak <= limit + biggest, "memory is bounded by the queue limit"
    assert recorder.stats.dropped_backlog > 0

    async def disk_catches_up(below: int) -> None:
        deadline = time.monotonic() + 5
        while recorder._current is not None and recorder._current.writer.pending_bytes > below:
            assert time.monotonic() < deadline, "the writer never caught up"
            await asyncio.sleep(0.005)

    await disk_catches_up(0)
    for kind, data, ts in rest:  # the disk keeps up again: recording resumes at a keyframe
        (video if kind == "video" else audio).feed(data, ts)
        await disk_catches_up(limit // 4)
    manifest = await recorder.stop()

    gaps = manifest["gaps"]
    assert gaps and gaps[0]["reason"] == "disk_backlog"
    assert gaps[0]["end_s"] > gaps[0]["start_s"]
    [segment] = manifest["segments"]
    with av.open(str(tmp_path / segment["file"])) as f:
        written = sum(1 for p in f.demux(video=0) if p.size)
    frames = next(s["frames"] for s in segment["streams"] if s["kind"] == "video")
    assert written == frames
    # Resumed at the first keyframe after the backlog (frame 150) and kept every frame after it.
    assert 150 + 30 <= frames < 300
    last = next(s["last_pts_ms"] for s in segment["streams"] if s["kind"] == "video")
    assert last / 1000 + segment["start_s"] == pytest.approx(299 / 30, abs=0.002)


async def test_malformed_and_pre_keyframe_frames_are_skipped(tmp_path: Path, pool: MuxPool) -> None:
    recorder = TakeRecorder("t", tmp_path, pool, queue_limit=1 << 20, keyframe_interval=0.05)
    video = FeedSource("video", "vp8", recorder.origin)
    recorder.attach([video])  # type: ignore[list-item]
    vp8 = video_packets("vp8", 60, gop=30)
    for i, packet in enumerate(vp8[1:30], start=1):  # no keyframe yet: nothing written
        video.feed(packet, i * 3000)
    video.feed(b"\x00\x00\x00garbage!!", 30 * 3000 - 1)  # says keyframe, is not
    for i, packet in enumerate(vp8[30:], start=30):
        video.feed(packet, i * 3000)
    await asyncio.sleep(0.1)
    assert video.keyframe_requests >= 1
    manifest = await recorder.stop()
    [segment] = manifest["segments"]
    assert segment["streams"][0]["frames"] == 30
    assert manifest["stats"]["malformed"] == 1
    assert manifest["stats"]["dropped_before_keyframe"] == 29


async def test_a_new_connection_waits_for_its_clock_before_its_segment_is_placed(
    tmp_path: Path, pool: MuxPool
) -> None:
    """Its first packets came late: the clock they gave is refined before anything is placed,
    so the new segment sits where its frames belong on the take's clock."""
    # Encoded first: the hold ends by itself 1.5 s after the attach, on a busy machine too.
    vp8 = video_packets("vp8", 30, gop=30)
    recorder = TakeRecorder("t", tmp_path, pool, queue_limit=1 << 20, keyframe_interval=0.05)
    late = 0.13
    video = FeedSource("video", "vp8", recorder.origin + 1.0 + late)  # as the first packet said
    video.clock_settled = False
    recorder.attach([video], reason="reconnect")  # type: ignore[list-item]
    for i, packet in enumerate(vp8[:10]):
        video.feed(packet, i * 3000)
    assert recorder._current is None and not video.clock_fixed  # held, not placed
    video._base = recorder.origin + 1.0  # later packets came sooner: the clock is refined
    video.clock_settled = True
    for i, packet in enumerate(vp8[10:], start=10):
        video.feed(packet, i * 3000)
    assert video.clock_fixed
    manifest = await recorder.stop()
    [segment] = manifest["segments"]
    assert segment["start_s"] == pytest.approx(1.0, abs=1e-3)
    assert segment["streams"][0]["frames"] == 30  # the held frames too


async def test_a_take_with_no_media_has_no_segments(tmp_path: Path, pool: MuxPool) -> None:
    recorder = TakeRecorder("t", tmp_path, pool, queue_limit=1 << 20, keyframe_interval=0.05)
    recorder.attach([FeedSource("video", "vp8", recorder.origin)])  # type: ignore[list-item]
    manifest = await recorder.stop()
    assert manifest["segments"] == []


class LateCamera:
    """A take 10 s in, on a clock the test moves, and a camera whose frames come a second
    after their time (its uplink queue grew since its clock was anchored)."""

    ORIGIN = 1000.0  # the take's start on the moved clock
    STOP_S = 10.0  # when the test stops it

    def __init__(
        self,
        tmp_path: Path,
        pool: MuxPool,
        monkeypatch: pytest.MonkeyPatch,
        frames: int,
        limit_s: float | None = None,
    ) -> None:
        self.now = self.ORIGIN + self.STOP_S
        monkeypatch.setattr(recorder_module, "time", SimpleNamespace(monotonic=lambda: self.now))
        self.recorder = TakeRecorder(
            "t",
            tmp_path,
            pool,
            queue_limit=1 << 24,
            keyframe_interval=0.05,
            origin=self.ORIGIN,
            limit_s=limit_s,
        )
        self.video = FeedSource("video", "vp8", self.ORIGIN, clock=lambda: self.now)
        self.recorder.attach([self.video])  # type: ignore[list-item]
        self.packets = video_packets("vp8", frames, gop=30)

    def feed(self, frames: range) -> None:
        for i in frames:
            self.video.feed(self.packets[i], i * 3000)  # frame i of 30 a second

    def frames_written(self, manifest: dict[str, Any]) -> int:
        [segment] = manifest["segments"]
        [stream] = [s for s in segment["streams"] if s["kind"] == "video"]
        return int(stream["frames"])


async def test_the_stop_waits_for_what_was_captured_before_it_and_keeps_nothing_after(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    take = LateCamera(tmp_path, pool, monkeypatch, 330)
    take.feed(range(270))  # captured until 9 s, come by the stop (10 s): a second late
    stopping = asyncio.create_task(take.recorder.stop())
    await asyncio.sleep(0)
    assert not stopping.done(), "the stop did not wait for the last second"
    take.feed(range(270, 330))  # the last second, and frames captured after the stop
    manifest = await stopping
    assert take.frames_written(manifest) == 301  # frames 0..300: 0 s to 10 s, both included
    assert "stopped without" not in caplog.text


async def test_nothing_after_the_time_limit_is_kept_however_late_the_stop_comes(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    take = LateCamera(tmp_path, pool, monkeypatch, 330, limit_s=8.0)
    take.feed(range(300))  # captured until 10 s: the limit's timer ran 2 s late
    manifest = await take.recorder.stop()  # no wait: frames from past the limit are in
    assert take.frames_written(manifest) == 241  # frames 0..240: 0 s to 8 s, both included
    [segment] = manifest["segments"]
    assert segment["duration_s"] == pytest.approx(8.0, abs=0.04)
    assert "stopped without" not in caplog.text
    assert take_end_s(take.ORIGIN + 5.0, take.ORIGIN, 8.0) == 5.0  # a stop before the limit


async def test_the_stop_does_not_wait_for_a_camera_that_stopped_sending(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    take = LateCamera(tmp_path, pool, monkeypatch, 270)
    take.now -= recorder_module.FLOWING_S  # the frames came that long before the stop
    take.feed(range(270))
    take.now += recorder_module.FLOWING_S
    manifest = await take.recorder.stop()
    assert take.frames_written(manifest) == 270
    assert "stopped without" not in caplog.text  # not waited for (else: after TAIL_MAX_S)


async def test_the_stop_waits_for_a_late_camera_only_so_long(
    tmp_path: Path, pool: MuxPool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(recorder_module, "TAIL_MAX_S", 0.05)
    take = LateCamera(tmp_path, pool, monkeypatch, 270)
    take.feed(range(270))  # a second late, and nothing more comes: still "sending"
    manifest = await take.recorder.stop()
    assert take.frames_written(manifest) == 270
    assert "stopped without the video captured before its stop (1.0 s late)" in caplog.text


async def test_a_camera_that_leaves_keeps_its_segment_and_rejoins_in_a_new_one(
    tmp_path: Path, pool: MuxPool
) -> None:
    """A second camera's recorder: files under its prefix, a detach closes the segment at
    once with a gap, a new session continues in a new segment on the same clock."""
    origin = time.monotonic()
    recorder = TakeRecorder(
        "t",
        tmp_path,
        pool,
        queue_limit=1 << 20,
        keyframe_interval=0.05,
        origin=origin,
        prefix="secondary/",
    )
    vp8 = video_packets("vp8", 60, gop=30)
    first = FeedSource("video", "vp8", origin)
    recorder.attach([first])  # type: ignore[list-item]
    for i, packet in enumerate(vp8[:30]):
        first.feed(packet, i * 3000)
    recorder.detach("camera_stopped")
    assert first._listener is None  # no longer listened to
    second = FeedSource("video", "vp8", origin + 2.0)  # rejoined two seconds later
    recorder.attach([second], reason="reconnect")  # type: ignore[list-item]
    for i, packet in enumerate(vp8[30:], start=30):
        second.feed(packet, (i - 30) * 3000)
    manifest = await recorder.stop()
    one, two = manifest["segments"]
    assert (one["file"], two["file"]) == (
        "secondary/segment-000.webm",
        "secondary/segment-001.webm",
    )
    assert (one["reason"], two["reason"]) == ("start", "reconnect")
    assert [s["streams"][0]["frames"] for s in (one, two)] == [30, 30]
    [gap] = manifest["gaps"]
    assert gap["reason"] == "camera_stopped"
    # The gap starts where the first segment's last frame (29/30 s) ends.
    assert gap["start_s"] == one["start_s"] + one["duration_s"] == pytest.approx(1.0, abs=0.002)
    assert gap["end_s"] == two["start_s"] == pytest.approx(2.0, abs=0.002)
    assert (tmp_path / "secondary" / "segment-001.webm").is_file()


async def test_a_recorder_that_stops_leaves_the_next_takes_recorder_listening(
    tmp_path: Path, pool: MuxPool
) -> None:
    """The next take started on the same tracks while the last was still being stopped (the
    take service lets the session go before its recorder stops): the old recorder's stop
    took the tracks' listener away from the new one, which then recorded nothing."""
    first = TakeRecorder("t1", tmp_path / "1", pool, queue_limit=1 << 20, keyframe_interval=0.05)
    source = FeedSource("video", "vp8", first.origin)
    first.attach([source])  # type: ignore[list-item]
    second = TakeRecorder("t2", tmp_path / "2", pool, queue_limit=1 << 20, keyframe_interval=0.05)
    second.attach([source])  # type: ignore[list-item]
    await first.stop()
    assert source._listener == second._on_frame
    await second.stop()
    assert source._listener is None

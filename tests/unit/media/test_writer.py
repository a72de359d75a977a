"""The mux pool on a slow disk: an fsync that does not return holds up no frame; and a
mux thread's pass counts the frames of all its segments at once.

The fsync is injected (a stub that blocks until the test lets it go), so nothing here
compares wall-clock time: the tests count frames written and fsyncs waiting while the
disk is "stuck", then let it go and check every guarantee (every frame written, the file
fsynced and hashed, playable).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from exams.shared.telemetry import Count, Sample
from media.templates import StreamTemplates
from media.writer import MuxPool, SegmentWriter, StreamSpec, _Worker, sha256_file
from tests.support.encoded import video_packets

SPEC = [StreamSpec("video", "vp8", 320, 240)]
LIMIT_S = 60.0  # a bound for a busy machine, not a measure


class StuckDisk:
    """An fsync that blocks while ``stuck`` is clear; counts calls and who waits."""

    def __init__(self) -> None:
        self.free = threading.Event()
        self.entered = 0
        self.done = 0
        self.paths: list[str] = []
        self.block_all = True
        self.block_path: Path | None = None  # only this file's fsyncs block
        self._lock = threading.Lock()

    def fsync(self, fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        with self._lock:
            self.entered += 1
            self.paths.append(path)
        if self.block_all or (self.block_path is not None and path == str(self.block_path)):
            assert self.free.wait(LIMIT_S), "the test never let the disk go"
        os.fsync(fd)
        with self._lock:
            self.done += 1


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@pytest.fixture
def disk() -> Iterator[StuckDisk]:
    disk = StuckDisk()
    yield disk
    disk.free.set()  # whatever happened, let the pool's threads finish


@pytest.fixture
def packets() -> list[bytes]:
    return video_packets("vp8", 60, gop=15)


def feed(writer: SegmentWriter, packets: list[bytes], start: int, count: int) -> None:
    for i in range(start, start + count):
        writer.submit("video", packets[i % len(packets)], i * 33, i % 15 == 0)


def frames(writer: SegmentWriter) -> int:
    stats = writer._stats.get("video")
    return 0 if stats is None else stats.frames


def test_a_stuck_periodic_fsync_holds_up_no_frame(
    tmp_path: Path, disk: StuckDisk, packets: list[bytes]
) -> None:
    # One mux thread for both segments: before, it made the fsync itself and every
    # segment on it waited as long as the disk did (the 14 s of issue 16).
    pool = MuxPool(1, fsync=disk.fsync, fsync_interval_s=0.0)
    a = SegmentWriter(tmp_path / "a.webm", SPEC, pool.templates, 0.0)
    b = SegmentWriter(tmp_path / "b.webm", SPEC, pool.templates, 0.0)
    pool.add(a)
    pool.add(b)
    feed(a, packets, 0, 15)
    feed(b, packets, 0, 15)
    until(lambda: disk.entered >= 1, "a periodic fsync")
    # The disk is stuck in that fsync: both segments still write everything given.
    feed(a, packets, 15, 45)
    feed(b, packets, 15, 45)
    until(lambda: frames(a) == 60 and frames(b) == 60, "all 120 frames written")
    assert disk.done == 0 and not disk.free.is_set()
    # At most one fsync a segment waits: the work for a slow disk does not pile up.
    assert pool.sync_stats.waiting_max <= 2
    assert disk.entered <= 2
    disk.free.set()
    results = [a.close().result(LIMIT_S), b.close().result(LIMIT_S)]
    pool.shutdown()
    for result in results:
        assert result.error is None and result.streams["video"].frames == 60
        assert result.sha256 == sha256_file(result.path)
        with av.open(str(result.path)) as container:
            assert sum(1 for p in container.demux(video=0) if p.size) == 60
    # Each file was fsynced while recording (the sync thread) and when finalised.
    for result in results:
        assert disk.paths.count(str(result.path)) >= 2
    assert pool.sync_stats.fsyncs >= 2


def test_a_segment_finalising_on_a_stuck_disk_holds_up_no_other(
    tmp_path: Path, disk: StuckDisk, packets: list[bytes]
) -> None:
    disk.block_all = False
    pool = MuxPool(1, fsync=disk.fsync, fsync_interval_s=3600.0)  # no periodic fsync here
    ended = SegmentWriter(tmp_path / "ended.webm", SPEC, pool.templates, 0.0)
    going = SegmentWriter(tmp_path / "going.webm", SPEC, pool.templates, 0.0)
    pool.add(ended)
    pool.add(going)
    feed(ended, packets, 0, 30)
    feed(going, packets, 0, 15)
    disk.block_path = ended.path
    done = ended.close()
    until(lambda: str(ended.path) in disk.paths, "the ended segment's final fsync")
    # Its final fsync is stuck; the mux thread they share writes the other one on.
    feed(going, packets, 15, 45)
    until(lambda: frames(going) == 60, "the other segment's frames written")
    assert not done.done()  # not stored before its fsync: the guarantee holds
    disk.free.set()
    result = done.result(LIMIT_S)
    assert result.streams["video"].frames == 30 and result.sha256 == sha256_file(result.path)
    assert going.close().result(LIMIT_S).streams["video"].frames == 60
    pool.shutdown()


def test_shutdown_waits_for_every_fsync_and_finalisation(
    tmp_path: Path, disk: StuckDisk, packets: list[bytes]
) -> None:
    pool = MuxPool(2, fsync=disk.fsync, fsync_interval_s=0.0)
    writers = [SegmentWriter(tmp_path / f"{i}.webm", SPEC, pool.templates, 0.0) for i in range(3)]
    for writer in writers:
        pool.add(writer)
        feed(writer, packets, 0, 20)
    until(lambda: disk.entered >= 1, "a periodic fsync")
    stopper = threading.Thread(target=pool.shutdown)
    stopper.start()
    disk.free.set()
    stopper.join(LIMIT_S)
    assert not stopper.is_alive()
    for writer in writers:
        result = writer._done.result(0)
        assert result.streams["video"].frames == 20 and str(result.path) in disk.paths
    assert disk.done == disk.entered


class Counted:
    """A telemetry that keeps every count it is given."""

    def __init__(self) -> None:
        self.counts: list[tuple[Count, str, float]] = []

    def count(self, what: Count, label: str = "", amount: float = 1.0) -> None:
        self.counts.append((what, label, amount))

    def sample(self, what: Sample, seconds: float) -> None:
        pass

    def observe_call(self, backend: str, op: str, seconds: float, ok: bool) -> None:
        pass


def test_a_pass_counts_the_frames_of_all_its_segments_at_once(
    tmp_path: Path, packets: list[bytes]
) -> None:
    telemetry = Counted()
    with ThreadPoolExecutor(1) as finishing:
        worker = _Worker(0, finishing, telemetry)  # its passes run here, not on its thread
        writers = [
            SegmentWriter(tmp_path / f"{i}.webm", SPEC, StreamTemplates(), 0.0) for i in range(3)
        ]
        for i, writer in enumerate(writers):
            worker.writers.append(writer)
            feed(writer, packets, 0, 10 + i)
        assert worker.drain()
        assert telemetry.counts == [(Count.FRAMES_WRITTEN, "video", 33)]
        assert [frames(w) for w in writers] == [10, 11, 12]
        assert worker.drain() and len(telemetry.counts) == 1  # nothing new: nothing counted
        feed(writers[1], packets, 11, 5)
        worker.stopping = True  # every segment is finished, then the pass says it is done
        assert not worker.drain()
        assert telemetry.counts[1:] == [(Count.FRAMES_WRITTEN, "video", 5)]
        results = [w._done.result(LIMIT_S) for w in writers]
    assert [r.streams["video"].frames for r in results] == [10, 16, 12]

"""Muxing encoded frames into segment files, off the event loop.

The event loop only appends to a per-segment deque (:meth:`SegmentWriter.submit`);
a small pool of mux threads drains those deques into PyAV containers. Nothing a
slow disk can hold up runs on a mux thread, so a frame waits for the CPU, never
for the disk:

- every :data:`FSYNC_INTERVAL_S` a segment's file is fsynced by the pool's sync
  thread (one request per segment at a time), while its mux thread goes on
  writing; a slow fsync delays how soon the newest frames are durable, not the
  frames of every segment on that mux thread (measured: 40 segments a mux thread,
  fsyncs of 0.3 s on a busy disk, were 6 s of fsync a second, docs/recording.md);
- a closed segment is finalised by a finishing thread: Matroska cues and
  duration written by the muxer, fsync, SHA-256, and for H.264 a faststart MP4
  copy for browsers. Nothing is transcoded.

Memory is bounded by the caller: :attr:`SegmentWriter.pending_bytes` is what
waits for the disk, and the recorder stops submitting past its limit.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
from av.packet import Packet

from exams.shared.telemetry import NO_TELEMETRY, Count, Sample, Telemetry
from media.templates import StreamTemplates

log = logging.getLogger(__name__)

MS = Fraction(1, 1000)
START_TAG = "EXAMCAST_START_S"
FSYNC_INTERVAL_S = 2.0
SLOW_FSYNC_S = 1.0  # an fsync this slow is logged: the disk is the bottleneck
# A mux thread drains its segments this often (at once for a segment that closes). Each
# pass over a segment costs ~10 µs besides its frames (telemetry, the fsync check); at
# 20 ms, 96 cameras made 4,200 passes a second of ~1 frame each. Frames reach the file
# when their cluster closes (a second) either way, so waiting longer here costs no
# durability; frames wait for it (at 96 cameras the recorder's lag p99 went 25 -> 97 ms).
DRAIN_INTERVAL_S = 0.05

Fsync = Callable[[int], None]  # os.fsync; tests inject a slow one


@dataclass(frozen=True, slots=True)
class StreamSpec:
    kind: str  # "video" or "audio"
    codec: str  # "vp8", "h264" or "opus"
    width: int = 0
    height: int = 0
    extradata: bytes | None = None
    sample_rate: int = 48000
    channels: int = 2


@dataclass
class StreamStats:
    frames: int = 0
    first_pts_ms: int | None = None
    last_pts_ms: int | None = None
    bytes: int = 0
    skipped: int = 0


@dataclass
class SegmentResult:
    path: Path
    size: int
    sha256: str
    streams: dict[str, StreamStats]
    playback_path: Path | None = None
    playback_sha256: str | None = None
    error: str | None = None


@dataclass(slots=True)
class _Item:
    kind: str
    data: bytes
    pts_ms: int
    keyframe: bool
    enqueued: float


def container_format(specs: list[StreamSpec]) -> tuple[str, str]:
    """(muxer, file suffix): WebM for VP8/Opus, Matroska for anything else."""
    if all(s.codec in ("vp8", "opus") for s in specs):
        return "webm", ".webm"
    return "matroska", ".mkv"


@dataclass
class SegmentWriter:
    path: Path
    specs: list[StreamSpec]
    templates: StreamTemplates
    start_s: float | None = None  # where it starts on the take's clock (kept in the file)
    _queue: deque[_Item] = field(default_factory=deque)
    _submitted_bytes: int = 0  # written only by the event loop
    _written_bytes: int = 0  # written only by the worker thread
    _closing: bool = False
    _done: concurrent.futures.Future[SegmentResult] = field(
        default_factory=concurrent.futures.Future
    )
    _container: Any = None
    _streams: dict[str, Any] = field(default_factory=dict)
    _stats: dict[str, StreamStats] = field(default_factory=dict)
    _error: str | None = None
    _last_fsync: float = 0.0  # when the last periodic fsync finished (or the file opened)
    _sync_pending: bool = False  # a periodic fsync is with the sync thread
    max_lag_s: float = 0.0
    _wake: threading.Event | None = None
    _telemetry: Telemetry = NO_TELEMETRY  # the pool's (MuxPool.add)
    _syncer: _Syncer | None = None  # the pool's (MuxPool.add); None: fsync in place
    _fsync: Fsync = os.fsync
    _fsync_interval_s: float = FSYNC_INTERVAL_S

    # -- event loop side -----------------------------------------------------------------

    def submit(self, kind: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        self._queue.append(_Item(kind, data, pts_ms, keyframe, time.monotonic()))
        self._submitted_bytes += len(data)

    @property
    def pending_bytes(self) -> int:
        return self._submitted_bytes - self._written_bytes

    def close(self) -> concurrent.futures.Future[SegmentResult]:
        """Finish the file once everything submitted is written."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        return self._done

    # -- worker thread side --------------------------------------------------------------

    def _open(self) -> None:
        fmt, _ = container_format(self.specs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Clusters of at most a second, each handed to the kernel as it closes
        # (flush_packets), so a crash leaves a playable file missing only its
        # last second; the periodic fsync bounds what a power cut can take.
        self._container = av.open(
            str(self.path),
            "w",
            format=fmt,
            options={"cluster_time_limit": "1000", "flush_packets": "1"},
        )
        if self.start_s is not None:  # a global tag: in the header, read back after a crash
            self._container.metadata[START_TAG] = f"{self.start_s:.3f}"
        for spec in self.specs:
            stream = self._container.add_stream_from_template(
                self.templates.get(spec.codec), opaque=True
            )
            if spec.kind == "video":
                stream.codec_context.width = spec.width
                stream.codec_context.height = spec.height
            if spec.extradata is not None:
                stream.codec_context.extradata = spec.extradata
            stream.time_base = MS
            self._streams[spec.kind] = stream
            self._stats[spec.kind] = StreamStats()
        self._last_fsync = time.monotonic()

    def _drain(self, written: dict[str, int]) -> None:
        """Write what was submitted; the frames written are added to ``written`` (by kind),
        which the mux thread counts once a pass over all its segments."""
        lag = None  # the oldest frame's wait this pass: one sample per pass, not per frame
        while self._queue:
            item = self._queue.popleft()
            self._written_bytes += len(item.data)
            if self._error is None:
                try:
                    if self._write(item):
                        written[item.kind] += 1
                except Exception as exc:  # disk full, bad bitstream: keep what is written
                    self._error = f"{type(exc).__name__}: {exc}"
                    log.exception(
                        "writing %s failed; the rest of this segment is dropped", self.path
                    )
            else:
                self._telemetry.count(Count.FRAMES_LOST, "write_error")
            waited = time.monotonic() - item.enqueued
            lag = waited if lag is None else max(lag, waited)
            self.max_lag_s = max(self.max_lag_s, waited)
        if lag is not None:
            self._telemetry.sample(Sample.RECORDER_LAG, lag)
        if (
            self._container is not None
            and not self._sync_pending
            and time.monotonic() - self._last_fsync > self._fsync_interval_s
        ):
            self._request_sync()

    def _request_sync(self) -> None:
        """Hand this file's periodic fsync to the sync thread; this thread writes on."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            log.warning("could not open %s to fsync it: %s", self.path, exc)
            self._last_fsync = time.monotonic()
            return
        if self._syncer is None:
            try:
                self._fsync(fd)
            finally:
                os.close(fd)
            self._last_fsync = time.monotonic()
            return
        self._sync_pending = True
        self._syncer.request(self, fd)

    def _synced(self) -> None:
        """The sync thread has fsynced the file (or given up on this one: logged)."""
        self._last_fsync = time.monotonic()
        self._sync_pending = False

    def _write(self, item: _Item) -> bool:
        """Mux one frame; False when it was dropped (a duplicate timestamp)."""
        if self._container is None:
            self._open()
        stats = self._stats[item.kind]
        if stats.last_pts_ms is not None and item.pts_ms <= stats.last_pts_ms:
            stats.skipped += 1  # timestamps must rise; a duplicate is dropped, not reordered
            self._telemetry.count(Count.FRAMES_LOST, "duplicate")
            return False
        packet = Packet(item.data)
        packet.stream = self._streams[item.kind]
        packet.time_base = MS
        packet.pts = packet.dts = item.pts_ms
        packet.is_keyframe = item.keyframe
        self._container.mux(packet)
        stats.frames += 1
        stats.bytes += len(item.data)
        if stats.first_pts_ms is None:
            stats.first_pts_ms = item.pts_ms
        stats.last_pts_ms = item.pts_ms
        return True

    def _finish(self) -> None:
        try:
            result = self._finalise()
        except Exception as exc:
            log.exception("finalising %s failed", self.path)
            self._done.set_exception(exc)
        else:
            self._done.set_result(result)

    def _finalise(self) -> SegmentResult:
        if self._container is not None:
            try:
                self._container.close()
            except Exception as exc:
                self._error = self._error or f"{type(exc).__name__}: {exc}"
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no media was written")
        _fsync_path(self.path, self._fsync)
        result = SegmentResult(
            path=self.path,
            size=self.path.stat().st_size,
            sha256=sha256_file(self.path),
            streams=self._stats,
            error=self._error,
        )
        if any(s.codec == "h264" for s in self.specs) and self._error is None:
            playback = self.path.with_suffix(".mp4")
            remux(self.path, playback, faststart=True)
            result.playback_path = playback
            result.playback_sha256 = sha256_file(playback)
        _fsync_path(self.path.parent, self._fsync)
        return result


class SegmentWatcher(Protocol):
    def watch(self, writer: SegmentWriter) -> None:
        """A segment starts (``media.shipping.LivePieces`` ships its file as it grows)."""
        ...


@dataclass
class SyncStats:
    """What the sync thread did (read for tests and the log; written by that thread)."""

    fsyncs: int = 0
    seconds: float = 0.0  # all of them
    max_s: float = 0.0
    slow: int = 0  # over SLOW_FSYNC_S
    waiting_max: int = 0  # the most segments that waited for it at once


class _Syncer(threading.Thread):
    """The periodic fsyncs of every recording segment, one at a time, off the mux threads.

    Each segment has at most one request here (``SegmentWriter._sync_pending``), so what
    waits is bounded by the segments recording; the next one is asked for an interval after
    the last one finished, so a slow disk stretches the interval instead of piling up work.
    """

    def __init__(self, fsync: Fsync) -> None:
        super().__init__(name="examcast-fsync", daemon=True)
        self._fsync = fsync
        self._jobs: deque[tuple[SegmentWriter, int]] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self.stats = SyncStats()

    def request(self, writer: SegmentWriter, fd: int) -> None:
        with self._cv:
            self._jobs.append((writer, fd))
            self.stats.waiting_max = max(self.stats.waiting_max, len(self._jobs))
            self._cv.notify()

    def run(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._stopping:
                    self._cv.wait()
                if not self._jobs:
                    return
                writer, fd = self._jobs.popleft()
            started = time.monotonic()
            try:
                self._fsync(fd)
            except OSError as exc:  # the final fsync (finalising) reports a failure for real
                log.warning("periodic fsync of %s failed: %s", writer.path, exc)
            finally:
                os.close(fd)
            took = time.monotonic() - started
            stats = self.stats
            stats.fsyncs += 1
            stats.seconds += took
            stats.max_s = max(stats.max_s, took)
            if took > SLOW_FSYNC_S:
                stats.slow += 1
                log.warning("fsync of %s took %.1f s: the disk is slow", writer.path, took)
            writer._synced()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self.join()


class MuxPool:
    """A few mux threads, each segment drained by one of them in order; a sync thread for
    the periodic fsyncs; finishing threads that finalise closed segments."""

    def __init__(
        self,
        threads: int,
        telemetry: Telemetry = NO_TELEMETRY,
        watcher: SegmentWatcher | None = None,
        *,
        fsync: Fsync = os.fsync,
        fsync_interval_s: float = FSYNC_INTERVAL_S,
    ) -> None:
        self.templates = StreamTemplates()
        self._watcher = watcher
        self.telemetry = telemetry  # frames written, recorder lag (its writers'), frames lost
        self._fsync = fsync
        self._fsync_interval_s = fsync_interval_s
        self._syncer = _Syncer(fsync)
        self._syncer.start()
        self._finishing = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="examcast-finish"
        )
        self._workers = [_Worker(i, self._finishing, telemetry) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    @property
    def sync_stats(self) -> SyncStats:
        return self._syncer.stats

    def add(self, writer: SegmentWriter) -> None:
        worker = min(self._workers, key=lambda w: len(w.writers))
        writer._wake = worker.wake
        writer._telemetry = self.telemetry
        writer._syncer = self._syncer
        writer._fsync = self._fsync
        writer._fsync_interval_s = self._fsync_interval_s
        worker.writers.append(writer)
        if self._watcher is not None:
            self._watcher.watch(writer)

    def shutdown(self) -> None:
        for worker in self._workers:
            worker.stopping = True
            worker.wake.set()
        for worker in self._workers:
            worker.join()
        self._finishing.shutdown(wait=True)
        self._syncer.stop()


class _Worker(threading.Thread):
    def __init__(
        self, index: int, finishing: concurrent.futures.Executor, telemetry: Telemetry
    ) -> None:
        super().__init__(name=f"examcast-mux-{index}", daemon=True)
        self._telemetry = telemetry  # the frames it wrote, counted once a pass
        self.writers: list[SegmentWriter] = []
        self.wake = threading.Event()
        self.stopping = False
        self._finishing = finishing

    def run(self) -> None:
        while True:
            self.wake.wait(DRAIN_INTERVAL_S)
            self.wake.clear()
            if not self.drain():
                return

    def drain(self) -> bool:
        """One pass over its segments: write what each was given, hand the closed ones on
        to be finished, count the frames written (once, for all of them). False once it
        is stopping and has no segment left."""
        if self.stopping:  # finish every open segment before the thread ends
            for writer in self.writers:
                writer._closing = True
        written = {"video": 0, "audio": 0}
        for writer in list(self.writers):
            writer._drain(written)
            if writer._closing and not writer._queue:
                self.writers.remove(writer)  # its fsync and hash: not on this thread
                self._finishing.submit(writer._finish)
        for kind, frames in written.items():
            if frames:
                self._telemetry.count(Count.FRAMES_WRITTEN, kind, frames)
        return not (self.stopping and not self.writers)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_path(path: Path, fsync: Fsync = os.fsync) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def remux(source: Path, target: Path, *, faststart: bool = False) -> None:
    """Copy every stream of ``source`` into ``target`` without decoding (``-c copy``)."""
    tmp = target.with_name(target.name + ".part")
    options = {"movflags": "+faststart"} if faststart else {}
    with (
        av.open(str(source)) as src,
        av.open(str(tmp), "w", options=options, format=_format_for(target)) as dst,
    ):
        if START_TAG in src.metadata:
            dst.metadata[START_TAG] = src.metadata[START_TAG]
        mapping = {}
        for stream in src.streams:
            if stream.type in ("video", "audio"):
                mapping[stream.index] = dst.add_stream_from_template(stream)
        for packet in src.demux():
            if packet.dts is None or packet.stream.index not in mapping:
                continue
            packet.stream = mapping[packet.stream.index]
            dst.mux(packet)
    _fsync_path(tmp)
    os.replace(tmp, target)


def _format_for(path: Path) -> str:
    return {".mp4": "mp4", ".webm": "webm", ".mkv": "matroska"}[path.suffix]

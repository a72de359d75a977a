"""Muxing encoded frames into segment files, off the event loop.

The event loop only appends to a per-segment deque (:meth:`SegmentWriter.submit`);
a small pool of worker threads drains those deques into PyAV containers,
fsyncs the file every couple of seconds while recording, and on close
finalises it: Matroska cues and duration written by the muxer, fsync, SHA-256,
and for H.264 a faststart MP4 copy for browsers. Nothing is transcoded.

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
_IDLE_WAIT_S = 0.02


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
    _last_fsync: float = 0.0
    max_lag_s: float = 0.0
    _wake: threading.Event | None = None
    _telemetry: Telemetry = NO_TELEMETRY  # the pool's (MuxPool.add)

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

    def _drain(self) -> None:
        written = {"video": 0, "audio": 0}
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
            for kind, frames in written.items():
                if frames:
                    self._telemetry.count(Count.FRAMES_WRITTEN, kind, frames)
        if self._container is not None and time.monotonic() - self._last_fsync > FSYNC_INTERVAL_S:
            _fsync_path(self.path)
            self._last_fsync = time.monotonic()

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
        _fsync_path(self.path)
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
        _fsync_path(self.path.parent)
        return result


class SegmentWatcher(Protocol):
    def watch(self, writer: SegmentWriter) -> None:
        """A segment starts (``media.shipping.LivePieces`` ships its file as it grows)."""
        ...


class MuxPool:
    """A few worker threads; each segment is drained by one of them, in order."""

    def __init__(
        self,
        threads: int,
        telemetry: Telemetry = NO_TELEMETRY,
        watcher: SegmentWatcher | None = None,
    ) -> None:
        self.templates = StreamTemplates()
        self._watcher = watcher
        self.telemetry = telemetry  # frames written, recorder lag (its writers'), frames lost
        self._workers = [_Worker(i) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def add(self, writer: SegmentWriter) -> None:
        worker = min(self._workers, key=lambda w: len(w.writers))
        writer._wake = worker.wake
        writer._telemetry = self.telemetry
        worker.writers.append(writer)
        if self._watcher is not None:
            self._watcher.watch(writer)

    def shutdown(self) -> None:
        for worker in self._workers:
            worker.stopping = True
            worker.wake.set()
        for worker in self._workers:
            worker.join()


class _Worker(threading.Thread):
    def __init__(self, index: int) -> None:
        super().__init__(name=f"examcast-mux-{index}", daemon=True)
        self.writers: list[SegmentWriter] = []
        self.wake = threading.Event()
        self.stopping = False

    def run(self) -> None:
        while True:
            self.wake.wait(_IDLE_WAIT_S)
            self.wake.clear()
            if self.stopping:  # finish every open segment before the thread ends
                for writer in self.writers:
                    writer._closing = True
            for writer in list(self.writers):
                writer._drain()
                if writer._closing and not writer._queue:
                    writer._finish()
                    self.writers.remove(writer)
            if self.stopping and not self.writers:
                return


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
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

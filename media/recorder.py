"""The take recorder: encoded frames in, segment files and a manifest out.

Follows the servers that do this well (Galene's disk writer, Janus, LiveKit
egress): wait for a keyframe and ask for one (RTCP PLI) at start and every
``keyframe_interval`` until it comes; one origin per take for audio and
video; a new segment when the picture size changes or a new peer connection
joins the take; WebM/Matroska while recording; everything written by the
mux pool, never on the event loop.

When the disk falls behind by more than ``queue_limit`` bytes the recorder
drops media (bounded memory), records a gap, and resumes at the next
keyframe once the backlog has halved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media import bitstream
from media.sources import TrackSource
from media.tap import EncodedFrame
from media.writer import MuxPool, SegmentResult, SegmentWriter, StreamSpec, container_format

log = logging.getLogger(__name__)

AUDIO_ONLY_AFTER_S = 2.0  # no keyframe by then: keep the candidate's voice, record audio alone
_OPUS = StreamSpec("audio", "opus", extradata=bitstream.opus_head())


@dataclass
class Gap:
    start_s: float
    end_s: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"start_s": _r(self.start_s), "end_s": _r(self.end_s), "reason": self.reason}


@dataclass
class _Segment:
    index: int
    reason: str
    start_s: float  # on the take clock
    writer: SegmentWriter
    video: StreamSpec | None
    audio: StreamSpec | None
    peer_id: str
    last_s: float = 0.0
    future: asyncio.Future[SegmentResult] | None = None


@dataclass
class RecorderStats:
    dropped_before_keyframe: int = 0
    dropped_backlog: int = 0
    malformed: int = 0
    max_lag_s: float = 0.0
    keyframe_requests: int = 0


class TakeRecorder:
    """Records one take from whichever peer connection currently carries it."""

    def __init__(
        self,
        take_id: str,
        directory: Path,
        pool: MuxPool,
        *,
        queue_limit: int,
        keyframe_interval: float,
        origin: float | None = None,
        prefix: str = "",
    ) -> None:
        self.take_id = take_id
        self.directory = directory
        self.prefix = prefix  # e.g. "secondary/": another camera's files, in their own folder
        self.origin = time.monotonic() if origin is None else origin
        self.stats = RecorderStats()
        self.gaps: list[Gap] = []
        self._pool = pool
        self._queue_limit = queue_limit
        self._keyframe_interval = keyframe_interval
        self._sources: dict[str, TrackSource] = {}
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._waiting = True
        self._waiting_since = 0.0
        self._attach_reason = "start"
        self._audio_hold: deque[tuple[float, EncodedFrame]] = deque()
        self._pli_task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- wiring ----------------------------------------------------------------------------

    def attach(self, sources: list[TrackSource], reason: str = "start") -> None:
        """Record from these tracks from now on (a new peer connection: a new segment)."""
        if self._stopped:
            return
        for old in self._sources.values():
            old.listen(None)
        self._sources = {s.kind: s for s in sources}
        for source in sources:
            source.listen(self._on_frame, self._on_source_end)
        if self._current is not None and reason != "start":
            self._gap_open(self._current.last_s, "reconnect")
            self._close_current()
        self._attach_reason = reason
        self._wait_for_keyframe()

    def detach(self, reason: str) -> None:
        """The camera's session went away: finish its segment now, keep it, record a gap.

        A later :meth:`attach` (the camera rejoining) continues in a new segment.
        """
        if self._stopped:
            return
        for source in self._sources.values():
            for frame in source.pending_frames():
                self._on_frame(source, frame)
            source.listen(None)
        self._sources = {}
        if self._current is not None:
            self._gap_open(self._current.last_s, reason)
            self._close_current()
        self._waiting = True
        self._audio_hold.clear()

    def now_s(self) -> float:
        return time.monotonic() - self.origin

    # -- frames ----------------------------------------------------------------------------

    def _on_frame(self, source: TrackSource, frame: EncodedFrame) -> None:
        t = source.time_of(frame) - self.origin
        if t < 0 or self._stopped:
            return  # captured before the take started
        if source.kind == "video":
            self._on_video(source, frame, t)
        else:
            self._on_audio(frame, t)

    def _on_video(self, source: TrackSource, frame: EncodedFrame, t: float) -> None:
        try:
            key = self._keyframe(source, frame.data)
        except bitstream.BitstreamError as exc:
            self.stats.malformed += 1
            log.debug("take %s: malformed video frame: %s", self.take_id, exc)
            return
        seg = self._current
        if self._waiting:
            if key is None or self._backlogged(half=True):
                self.stats.dropped_before_keyframe += 1
                return
            spec = self._video_spec(source, key)
            if seg is not None and seg.video == spec:
                self._gap_close(t)  # resuming after a backlog, in the same file
            else:
                self._open_segment(t, spec, self._attach_reason if seg is None else "video_started")
            self._waiting = False
            self._flush_audio_hold()
        elif key is not None and seg is not None and seg.video != self._video_spec(source, key):
            self._open_segment(t, self._video_spec(source, key), "resolution_change")
        elif self._backlogged():
            self._start_backlog(t)
            return
        self._write("video", frame.data, t, key is not None)

    def _on_audio(self, frame: EncodedFrame, t: float) -> None:
        if self._waiting:
            self._audio_hold.append((t, frame))
            while self._audio_hold and t - self._audio_hold[0][0] > AUDIO_ONLY_AFTER_S:
                self._audio_hold.popleft()
            if self._audio_only_due(t):
                self._open_segment(self._audio_hold[0][0], None, self._attach_reason)
                self._waiting = False
                self._flush_audio_hold()
            return
        if self._backlogged():
            self._start_backlog(t)
            return
        self._write("audio", frame.data, t, True)

    def _audio_only_due(self, t: float) -> bool:
        if self._current is not None or self._backlogged(half=True):
            return False
        video = self._sources.get("video")
        return video is None or video.ended or t - self._waiting_since >= AUDIO_ONLY_AFTER_S

    def _flush_audio_hold(self) -> None:
        held, self._audio_hold = self._audio_hold, deque()
        for t, frame in held:
            self._write("audio", frame.data, t, True)

    def _write(self, kind: str, data: bytes, t: float, keyframe: bool) -> None:
        seg = self._current
        if seg is None or (seg.video if kind == "video" else seg.audio) is None:
            return
        pts = round((t - seg.start_s) * 1000)
        if pts < 0:
            return  # older than the segment's first keyframe
        seg.writer.submit(kind, data, pts, keyframe)
        seg.last_s = max(seg.last_s, t)

    def _keyframe(self, source: TrackSource, data: bytes) -> bitstream.KeyframeInfo | None:
        if source.codec_name == "vp8":
            return bitstream.vp8_keyframe(data)
        if source.codec_name == "h264":
            return bitstream.h264_keyframe(data)
        raise bitstream.BitstreamError(f"unsupported video codec {source.codec_name}")

    def _video_spec(self, source: TrackSource, key: bitstream.KeyframeInfo) -> StreamSpec:
        return StreamSpec(
            "video", source.codec_name or "", key.width, key.height, extradata=key.extradata
        )

    # -- segments --------------------------------------------------------------------------

    def _open_segment(self, t: float, video: StreamSpec | None, reason: str) -> None:
        self._close_current()
        audio = _OPUS if "audio" in self._sources else None
        specs = [s for s in (video, audio) if s is not None]
        _, suffix = container_format(specs)
        index = len(self._segments)
        writer = SegmentWriter(
            self.directory / f"{self.prefix}segment-{index:03d}{suffix}",
            specs,
            self._pool.templates,
        )
        self._pool.add(writer)
        peer = next(iter(self._sources.values())).peer_id if self._sources else ""
        seg = _Segment(index, reason, t, writer, video, audio, peer, last_s=t)
        self._segments.append(seg)
        self._current = seg
        self._gap_close(t)

    def _close_current(self) -> None:
        seg, self._current = self._current, None
        if seg is not None and seg.future is None:
            seg.future = asyncio.wrap_future(seg.writer.close())

    # -- keyframe requests, backlog and gaps -------------------------------------------------

    def _wait_for_keyframe(self) -> None:
        self._waiting = True
        self._waiting_since = self.now_s()
        self._request_keyframe()
        if self._pli_task is None or self._pli_task.done():
            self._pli_task = asyncio.ensure_future(self._repeat_keyframe_requests())

    def _request_keyframe(self) -> None:
        video = self._sources.get("video")
        if video is not None and video.request_keyframe():
            self.stats.keyframe_requests += 1

    async def _repeat_keyframe_requests(self) -> None:
        while True:
            await asyncio.sleep(self._keyframe_interval)
            if not self._waiting or self._stopped:
                return
            self._request_keyframe()

    def _backlogged(self, half: bool = False) -> bool:
        seg = self._current
        if seg is None:
            return False
        limit = self._queue_limit // 2 if half else self._queue_limit
        return seg.writer.pending_bytes > limit

    def _start_backlog(self, t: float) -> None:
        self.stats.dropped_backlog += 1
        log.warning(
            "take %s: disk backlog over %d bytes; dropping to the next keyframe",
            self.take_id,
            self._queue_limit,
        )
        self._gap_open(t, "disk_backlog")
        self._wait_for_keyframe()

    def _gap_open(self, t: float, reason: str) -> None:
        if not self.gaps or self.gaps[-1].end_s is not None:
            self.gaps.append(Gap(t, None, reason))

    def _gap_close(self, t: float) -> None:
        if self.gaps and self.gaps[-1].end_s is None:
            self.gaps[-1].end_s = t

    def _on_source_end(self, source: TrackSource) -> None:
        if not self._stopped and self._current is not None:
            self._gap_open(self._current.last_s, "connection_lost")

    # -- stop ------------------------------------------------------------------------------

    async def stop(self) -> dict[str, Any]:
        """Write what is still in the jitter buffers, finish every segment; the manifest."""
        stop_called = time.monotonic()
        if not self._stopped:
            for source in self._sources.values():
                for frame in source.pending_frames():
                    self._on_frame(source, frame)
            self._stopped = True
            for source in self._sources.values():
                source.listen(None)
            if self._pli_task is not None:
                self._pli_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pli_task
            self._close_current()
        end = self.now_s()
        if self.gaps and self.gaps[-1].end_s is None:
            self.gaps[-1].end_s = end
        results: list[SegmentResult | None] = []
        for seg in self._segments:
            assert seg.future is not None
            try:
                results.append(await seg.future)
            except FileNotFoundError:
                results.append(None)  # opened but nothing reached it
        self.stats.max_lag_s = max((s.writer.max_lag_s for s in self._segments), default=0.0)
        segments = [
            _segment_json(seg, res, self.directory)
            for seg, res in zip(self._segments, results, strict=True)
            if res is not None
        ]
        return {
            "segments": segments,
            "gaps": [g.to_json() for g in self.gaps],
            "recorded_s": _r(end),
            "stats": {
                "dropped_before_keyframe": self.stats.dropped_before_keyframe,
                "dropped_backlog": self.stats.dropped_backlog,
                "malformed": self.stats.malformed,
                "keyframe_requests": self.stats.keyframe_requests,
                "max_lag_ms": round(self.stats.max_lag_s * 1000, 1),
                "finalize_ms": round((time.monotonic() - stop_called) * 1000, 1),
            },
        }


def _segment_json(seg: _Segment, res: SegmentResult, directory: Path) -> dict[str, Any]:
    streams = []
    end_ms = 0.0
    for spec in (seg.video, seg.audio):
        if spec is None:
            continue
        st = res.streams.get(spec.kind)
        frames = st.frames if st else 0
        first = st.first_pts_ms if st else None
        last = st.last_pts_ms if st else None
        entry: dict[str, Any] = {
            "kind": spec.kind,
            "codec": spec.codec,
            "frames": frames,
            "first_pts_ms": first,
            "last_pts_ms": last,
        }
        if spec.kind == "video":
            entry.update(width=spec.width, height=spec.height)
        if first is not None and last is not None:
            step = (last - first) / (frames - 1) if frames > 1 else 0.0
            if spec.kind == "audio":
                step = 20.0
            end_ms = max(end_ms, last + step)
        streams.append(entry)
    return {
        "index": seg.index,
        "file": res.path.relative_to(directory).as_posix(),
        "container": res.path.suffix.lstrip("."),
        "reason": seg.reason,
        "peer": seg.peer_id,
        "start_s": _r(seg.start_s),
        "duration_s": _r(end_ms / 1000),
        "size": res.size,
        "sha256": res.sha256,
        "playback_file": (
            res.playback_path.relative_to(directory).as_posix() if res.playback_path else None
        ),
        "playback_sha256": res.playback_sha256,
        "streams": streams,
        "error": res.error,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

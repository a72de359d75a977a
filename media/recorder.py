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

When video is lost in the network (the jitter buffer gave up on packets, a
frame lacks its start or cannot be parsed, the timestamps jump by more than
:data:`HOLE_S`, or the picture stalls :data:`VIDEO_STALL_S` behind the sound
while packets wait behind lost ones) the decoder state after it is unknown:
the segment ends at its last good frame, a ``media_lost`` gap opens, a
keyframe is asked for at once, and the take continues in a new segment at
that keyframe; sound and picture lost together (both tracks jump) do the
same. Each file is thus continuous, audio and video alike. Sound lost while
the picture went on is filled with Opus silence, so it keeps its place.
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

from exams.shared.telemetry import Count
from media import bitstream
from media.continuation import NODE_LOST, Prior, merged
from media.manifest import rounded, segment_json
from media.quality import QualityMeter
from media.sources import TrackSource
from media.tap import EncodedFrame
from media.writer import MuxPool, SegmentResult, SegmentWriter, StreamSpec, container_format

log = logging.getLogger(__name__)

AUDIO_ONLY_AFTER_S = 2.0  # no keyframe by then: keep the candidate's voice, record audio alone
HOLE_S = 1.0  # a track silent for longer than this (by its timestamps) has a hole in it
# The picture this far behind the sound while video packets wait behind lost ones: they are
# lost for good (a retransmission takes a round trip; aiortc would wait for 512 packets).
VIDEO_STALL_S = 0.5
_OPUS = StreamSpec("audio", "opus", extradata=bitstream.opus_head())
# A new connection's frames are held (not placed) until its tracks' clocks have settled
# (media.sources.SETTLE_S), at most this long: its segment then sits on the take's clock.
SETTLE_MAX_S = 1.5
# At the stop, frames captured before it may still be on their way: a camera whose media
# arrives later than it did when its clock was anchored (a phone's uplink queue that grew,
# a sender that fell behind) would lose its last words. The stop waits, at most this long,
# until each track that still sends has delivered a frame captured at the stop or later;
# frames captured after the stop are not the take's.
TAIL_MAX_S = 2.0
FLOWING_S = 0.5  # a track with no frame for this long is not waited for (paused, muted, gone)


@dataclass
class _Segment:
    index: int
    reason: str
    start_s: float  # on the take clock
    writer: SegmentWriter
    video: StreamSpec | None
    audio: StreamSpec | None
    peer_id: str
    last_s: float = 0.0  # the newest frame written
    end_s: float = 0.0  # where its media ends (the newest frame plus its duration)
    video_t: float | None = None  # the newest video frame written
    audio_end_s: float | None = None  # where the written audio ends
    future: asyncio.Future[SegmentResult] | None = None


@dataclass
class Gap:
    start_s: float
    end_s: float | None
    reason: str
    after: _Segment | None = None  # the segment it follows: the gap starts where that ends

    def to_json(self) -> dict[str, Any]:
        return {
            "start_s": rounded(self.start_s),
            "end_s": rounded(self.end_s),
            "reason": self.reason,
        }


@dataclass
class RecorderStats:
    dropped_before_keyframe: int = 0
    dropped_backlog: int = 0
    malformed: int = 0
    max_lag_s: float = 0.0
    keyframe_requests: int = 0
    media_breaks: int = 0
    silence_filled: int = 0  # 20 ms Opus frames written where audio packets were lost


def take_end_s(stopping: float, origin: float, limit_s: float | None) -> float:
    """Where a take stopped at ``stopping`` (monotonic) ends on its clock (from ``origin``):
    then, or at its time limit if that came first."""
    end = stopping - origin
    return end if limit_s is None else min(end, limit_s)


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
        prior: Prior | None = None,
        limit_s: float | None = None,
    ) -> None:
        self.take_id = take_id
        # The take's time limit on its clock: nothing captured after it is written, however
        # late the stop comes (a timer on a busy loop): the limit is the server's rule.
        self.limit_s = limit_s
        self.directory = directory
        self.prefix = prefix  # e.g. "secondary/": another camera's files, in their own folder
        self.origin = time.monotonic() if origin is None else origin
        self.stats = RecorderStats()
        self.gaps: list[Gap] = []
        self.quality = QualityMeter()  # what arrived (media/quality.py): the take's report
        self._pool = pool
        self._queue_limit = queue_limit
        self._keyframe_interval = keyframe_interval
        self._sources: dict[str, TrackSource] = {}
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._waiting = True
        self._waiting_since: float | None = None  # the first sound heard while waiting
        self._attach_reason = "start"
        self._audio_hold: deque[tuple[float, EncodedFrame]] = deque()
        self._pli_task: asyncio.Task[None] | None = None
        self._stopped = False
        self._end_s: float | None = None  # the stop, on the take clock: nothing after it
        self._tail: asyncio.Task[None] | None = None  # waiting for frames captured before it
        self._tail_frame = asyncio.Event()  # a frame arrived while waiting
        self._last_video_t: float | None = None  # the newest frame of each track (take clock)
        self._last_audio_t: float | None = None
        self._resume_after = 0.0  # a new segment starts no earlier than the last one ended
        self._stall_checked = 0.0
        # frames of new tracks held until their clocks settle (monotonic deadline), in order
        self._settle_until: float | None = None
        self._held: list[tuple[TrackSource, EncodedFrame]] = []
        # A take continued from a node that died (media.continuation): numbered after its
        # files, nothing before its end, lost from there to the first frame recorded here.
        self.prior = prior
        if prior is not None:
            self._resume_after = prior.end_s
            self.gaps.append(Gap(prior.end_s, None, NODE_LOST))

    # -- wiring ----------------------------------------------------------------------------

    def attach(self, sources: list[TrackSource], reason: str = "start") -> None:
        """Record from these tracks from now on (a new peer connection: a new segment)."""
        if self._stopped:
            return
        self._settled()  # frames held from the tracks before: placed on their clocks
        for old in self._sources.values():
            old.unlisten(self._on_frame)
        self._sources = {s.kind: s for s in sources}
        if all(s.clock_settled for s in sources):
            self._fix_clocks()
        else:
            self._settle_until = time.monotonic() + SETTLE_MAX_S
        self._last_video_t = self._last_audio_t = None  # new tracks, new timestamps
        for source in sources:
            source.listen(self._on_frame, self._on_source_end, self._on_picture)
        if self._current is not None and reason != "start":
            self._gap_open(self._current.end_s, "reconnect", self._current)
            self._close_current()
        self._attach_reason = reason
        self._wait_for_keyframe()

    def detach(self, reason: str) -> None:
        """The camera's session went away: finish its segment now, keep it, record a gap.

        A later :meth:`attach` (the camera rejoining) continues in a new segment.
        """
        if self._stopped:
            return
        self._settled()
        for source in self._sources.values():
            for frame in source.pending_frames():
                self._on_frame(source, frame)
            source.unlisten(self._on_frame)
        self._sources = {}
        self._last_video_t = self._last_audio_t = None
        if self._current is not None:
            self._gap_open(self._current.end_s, reason, self._current)
            self._close_current()
        self._waiting = True
        self._audio_hold.clear()

    def now_s(self) -> float:
        return time.monotonic() - self.origin

    def _lost(self, reason: str) -> None:
        """A frame that reached the server and is not in the recording (the operator's count;
        the take's own is in its manifest's stats)."""
        self._pool.telemetry.count(Count.FRAMES_LOST, reason)

    def written_s(self) -> float:
        """Seconds of media written so far, every segment (holes not counted)."""
        prior = 0.0 if self.prior is None else self.prior.recorded_s
        return prior + sum(max(0.0, s.end_s - s.start_s) for s in self._segments)

    # -- frames ----------------------------------------------------------------------------

    def _on_frame(self, source: TrackSource, frame: EncodedFrame) -> None:
        if self._catching_up():
            self._tail_frame.set()
        if self._settle_until is None:
            self._place(source, frame)
            return
        self._held.append((source, frame))
        settled = all(s.clock_settled for s in self._sources.values())
        if settled or time.monotonic() >= self._settle_until:
            self._settled()

    def _on_picture(self, source: TrackSource, at: float, picture: Any) -> None:
        """The wall decoded one of the camera's keyframes (or of its preview's, captured
        ``at``): the quality meter's sample."""
        if (
            self._stopped
            or self._settle_until is not None  # its clock not yet fixed
            or self._sources.get(source.kind) is not source
        ):
            return
        t = at - self.origin
        if t >= 0:
            self.quality.picture(picture, t)

    def _settled(self) -> None:
        """The new tracks' clocks are good (or waited for long enough): fix them and place
        the frames held meanwhile."""
        if self._settle_until is None:
            return
        self._settle_until = None
        self._fix_clocks()
        held, self._held = self._held, []
        for source, frame in held:
            self._place(source, frame)

    def _fix_clocks(self) -> None:
        for source in self._sources.values():
            source.fix_clock()

    def _place(self, source: TrackSource, frame: EncodedFrame) -> None:
        t = source.time_of(frame) - self.origin
        if t < 0 or self._stopped:
            return  # captured before the take started
        if self._end_s is not None and t > self._end_s:
            return  # captured after the stop (come while the stop waited for those before it)
        if self.limit_s is not None and t > self.limit_s:
            return  # captured after the take's time limit (its stop is on its way)
        if self.quality.frame(
            source.kind, source.codec_name, frame.data, t, pictured=source.pictured > 0
        ):
            source.request_keyframe(merge=True)  # a picture to sample (frozen / black)
        if source.kind == "video":
            self._on_video(source, frame, t)
        else:
            self._on_audio(frame, t)

    def _on_video(self, source: TrackSource, frame: EncodedFrame, t: float) -> None:
        last = self._last_video_t
        if last is not None and t <= last:  # older than what came before: not decodable here
            self._media_break(video=True)
            self.stats.dropped_before_keyframe += 1
            self._lost("out_of_order")
            return
        self._last_video_t = t
        if frame.partial:
            self.stats.malformed += 1
            self._lost("malformed")
            self._media_break(video=True)
            return
        if frame.lost_before or (last is not None and t - last > HOLE_S):
            self._media_break(video=True)
        try:
            key = self._keyframe(source, frame.data)
        except bitstream.BitstreamError as exc:
            self.stats.malformed += 1
            self._lost("malformed")
            log.debug("take %s: malformed video frame: %s", self.take_id, exc)
            self._media_break(video=True)
            return
        seg = self._current
        if self._waiting:
            if key is None or self._backlogged(half=True) or t < self._resume_after:
                self.stats.dropped_before_keyframe += 1
                self._lost("waiting_keyframe")
                return
            spec = self._video_spec(source, key)
            if seg is not None and seg.video == spec:
                self._gap_close(t)  # resuming after a backlog, in the same file
            else:
                self._open_segment(t, spec, self._attach_reason if seg is None else "video_started")
            self._waiting = False
            self._flush_audio_hold()
        elif key is not None and seg is not None and seg.video != self._video_spec(source, key):
            if seg.video is None and t < seg.last_s:
                return  # a keyframe from before the sound recorded alone: wait for a newer one
            reason = "video_started" if seg.video is None else "resolution_change"
            self._open_segment(t, self._video_spec(source, key), reason)
        elif self._backlogged():
            self._start_backlog(t)
            return
        self._write("video", frame.data, t, key is not None)

    def _on_audio(self, frame: EncodedFrame, t: float) -> None:
        last = self._last_audio_t
        if last is not None:
            if t <= last:
                return  # a duplicate, or late: its place is taken
            video_t = self._last_video_t
            if t - last > HOLE_S and (video_t is None or t - video_t > VIDEO_STALL_S):
                self._media_break(video=False)  # the picture was lost too
        self._last_audio_t = t
        video_t = self._last_video_t
        if video_t is not None and t - video_t > VIDEO_STALL_S:
            self._check_stall(t)
        if self._waiting:
            if t < self._resume_after:
                return  # before where the last segment (or a lost node's part) ended
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

    def _check_stall(self, t: float) -> None:
        """The picture stopped while the sound goes on: if video packets are held up
        behind lost ones, give up on those and break, as aiortc would seconds later."""
        if t - self._stall_checked < VIDEO_STALL_S / 2:
            return
        self._stall_checked = t
        video = self._sources.get("video")
        if video is not None and video.skip_lost():
            self._media_break(video=True)

    def _audio_only_due(self, t: float) -> bool:
        if self._current is not None or self._backlogged(half=True):
            return False
        video = self._sources.get("video")
        if self._waiting_since is None:
            self._waiting_since = t
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
        if kind == "video":
            step = 0.0 if seg.video_t is None else t - seg.video_t
            seg.video_t = t
        else:
            missing = 0.0 if seg.audio_end_s is None else t - seg.audio_end_s
            if missing > 0.75 * bitstream.OPUS_SILENCE_S:  # a frame or more was lost
                self._fill_silence(seg, t)
            step = bitstream.opus_duration(data)
            seg.audio_end_s = t + step
        seg.writer.submit(kind, data, pts, keyframe)
        seg.last_s = max(seg.last_s, t)
        seg.end_s = max(seg.end_s, t + step)

    def _fill_silence(self, seg: _Segment, t: float) -> None:
        """Audio packets were lost while the picture went on (or for less than
        :data:`HOLE_S`): silence keeps the sound in step with the picture, as a
        receiver's decoder would conceal the loss."""
        assert seg.audio_end_s is not None
        count = round((t - seg.audio_end_s) / bitstream.OPUS_SILENCE_S)
        for i in range(count):
            at = seg.audio_end_s + i * bitstream.OPUS_SILENCE_S
            seg.writer.submit(
                "audio", bitstream.OPUS_SILENCE, round((at - seg.start_s) * 1000), True
            )
        self.stats.silence_filled += count

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
        index = len(self._segments) + (0 if self.prior is None else self.prior.first_index)
        writer = SegmentWriter(
            self.directory / f"{self.prefix}segment-{index:03d}{suffix}",
            specs,
            self._pool.templates,
            start_s=t,  # in the file too: a take recovered after a crash is placed by it
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
        self._waiting_since = None  # timed by the sound's own clock from its next frame
        self._request_keyframe()
        if self._pli_task is None or self._pli_task.done():
            self._pli_task = asyncio.ensure_future(self._repeat_keyframe_requests())

    def _media_break(self, video: bool) -> None:
        """Media was lost: end the segment at its last good frame, open a gap, and continue
        in a new segment from the next keyframe, asked for now.

        A break in the video while sound is recorded alone leaves that segment as it is:
        the picture is what is awaited.
        """
        source = self._sources.get("video")
        if source is not None:
            source.skip_lost()  # aiortc would hold newer frames back behind the hole
        seg = self._current
        if seg is not None and (seg.video is not None or not video):
            self.stats.media_breaks += 1
            self._gap_open(seg.end_s, "media_lost", seg)
            self._resume_after = seg.end_s
            self._close_current()
            self._attach_reason = "resumed"
            self._audio_hold.clear()
            self._wait_for_keyframe()
        elif not self._waiting:  # sound alone: ask for the picture now
            self._request_keyframe()

    def _request_keyframe(self) -> None:
        video = self._sources.get("video")
        if video is not None and video.request_keyframe():
            self.stats.keyframe_requests += 1

    def _wants_keyframe(self) -> bool:
        """Waiting for one, or recording sound alone while a camera is there."""
        if self._stopped:
            return False
        seg = self._current
        return self._waiting or (seg is not None and seg.video is None)

    async def _repeat_keyframe_requests(self) -> None:
        while True:
            await asyncio.sleep(self._keyframe_interval)
            video = self._sources.get("video")
            if not self._wants_keyframe() or video is None or video.ended:
                return
            if self._settle_until is not None:
                continue  # frames are held for the clock: a keyframe may be among them
            self._request_keyframe()

    def _backlogged(self, half: bool = False) -> bool:
        seg = self._current
        if seg is None:
            return False
        limit = self._queue_limit // 2 if half else self._queue_limit
        return seg.writer.pending_bytes > limit

    def _start_backlog(self, t: float) -> None:
        self.stats.dropped_backlog += 1
        self._lost("backlog")
        log.warning(
            "take %s: disk backlog over %d bytes; dropping to the next keyframe",
            self.take_id,
            self._queue_limit,
        )
        self._gap_open(t, "disk_backlog")
        self._wait_for_keyframe()

    def _gap_open(self, t: float, reason: str, after: _Segment | None = None) -> None:
        if not self.gaps or self.gaps[-1].end_s is not None:
            self.gaps.append(Gap(t, None, reason, after))

    def _gap_close(self, t: float) -> None:
        if self.gaps and self.gaps[-1].end_s is None:
            self.gaps[-1].end_s = t

    def _on_source_end(self, source: TrackSource) -> None:
        if not self._stopped and self._current is not None:
            self._gap_open(self._current.end_s, "connection_lost", self._current)

    # -- stop ------------------------------------------------------------------------------

    def _catching_up(self) -> bool:
        return self._tail is not None and not self._tail.done()

    async def _catch_up(self, stop: float) -> None:
        """Until every track still sending has delivered what it captured before ``stop``
        (monotonic): a frame of its captured at ``stop`` or later has arrived. At most
        :data:`TAIL_MAX_S`; usually a frame interval and the network's jitter."""
        try:
            async with asyncio.timeout(TAIL_MAX_S):
                while self._behind(stop):
                    self._tail_frame.clear()
                    # woken by each frame, and at least every FLOWING_S: a track may stop
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._tail_frame.wait(), FLOWING_S)
        except TimeoutError:
            behind = self._behind(stop)
            log.warning(
                "take %s: stopped without the %s captured before its stop (%.1f s late)",
                self.take_id,
                " and ".join(s.kind for s in behind),
                max((stop - (s.last_frame_time or stop) for s in behind), default=0.0),
            )

    def _behind(self, stop: float) -> list[TrackSource]:
        """The tracks that still send and have delivered nothing captured at ``stop`` or
        later (monotonic)."""
        now = time.monotonic()
        return [
            s
            for s in self._sources.values()
            if not s.ended
            and s.last_frame_time is not None
            and s.last_frame_time < stop
            and s.last_frame_at is not None
            and now - s.last_frame_at < FLOWING_S
        ]

    async def stop(self) -> dict[str, Any]:
        """Wait for the frames captured before now (or the time limit, if it came first)
        that are still on their way (:meth:`_catch_up`), write what is still in the jitter
        buffers, finish every segment; the manifest."""
        stop_called = time.monotonic()
        if self._end_s is None or self._tail is None:
            self._end_s = take_end_s(stop_called, self.origin, self.limit_s)
            self._tail = asyncio.get_running_loop().create_task(
                self._catch_up(self.origin + self._end_s)
            )
        end_s = self._end_s
        await asyncio.shield(self._tail)  # a second stop waits for the same frames
        if not self._stopped:
            self._settled()
            for source in self._sources.values():
                for frame in source.pending_frames():
                    self._on_frame(source, frame)
            self._stopped = True
            self.quality.finish()  # its last samples measured while the files close
            for source in self._sources.values():
                source.unlisten(self._on_frame)
            if self._pli_task is not None:
                self._pli_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pli_task
            self._close_current()
        if self.gaps and self.gaps[-1].end_s is None:  # still open: it lasted until the stop
            heard = (t for t in (self._last_video_t, self._last_audio_t) if t is not None)
            self.gaps[-1].end_s = max([end_s, *heard])
        results: list[SegmentResult | None] = []
        for seg in self._segments:
            assert seg.future is not None
            try:
                results.append(await seg.future)
            except FileNotFoundError:
                results.append(None)  # opened but nothing reached it
        self.stats.max_lag_s = max((s.writer.max_lag_s for s in self._segments), default=0.0)
        written = {
            seg.index: segment_json(seg, res, self.directory)
            for seg, res in zip(self._segments, results, strict=True)
            if res is not None
        }
        for gap in self.gaps:  # a gap starts where the segment before it ends, as stored
            before = None if gap.after is None else written.get(gap.after.index)
            if before is not None and gap.end_s is not None:
                gap.start_s = min(before["start_s"] + before["duration_s"], gap.end_s)
        segments = list(written.values())
        first_picture = next((s.start_s for s in self._segments if s.video is not None), None)
        quality = await self.quality.report(
            end_s,
            [g.to_json() for g in self.gaps],
            first_picture if self.prior is None else None,
        )
        manifest = {
            "segments": segments,
            "gaps": [g.to_json() for g in self.gaps],
            # Picture the take holds: its holes, and sound without a picture, not counted.
            "recorded_s": rounded(sum(s["picture_s"] for s in segments)),
            "stats": {
                "dropped_before_keyframe": self.stats.dropped_before_keyframe,
                "dropped_backlog": self.stats.dropped_backlog,
                "malformed": self.stats.malformed,
                "keyframe_requests": self.stats.keyframe_requests,
                "media_breaks": self.stats.media_breaks,
                "silence_filled": self.stats.silence_filled,
                "max_lag_ms": round(self.stats.max_lag_s * 1000, 1),
                "finalize_ms": round((time.monotonic() - stop_called) * 1000, 1),
            },
            "quality": quality,  # this camera's entry; the hub makes the take's report
        }
        return manifest if self.prior is None else merged(self.prior, manifest)

"""A tapped remote track: where its encoded frames go, and its clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import av
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from media import tap
from media.detectors.audio_level import LevelNote
from media.tap import EncodedFrame

log = logging.getLogger(__name__)

FrameListener = Callable[["TrackSource", EncodedFrame], None]
# A picture decoded from one of the track's keyframes (the wall's), for whoever records it:
# (the track, when the keyframe was captured on the monotonic clock (time_of), the picture).
PictureListener = Callable[["TrackSource", float, "av.VideoFrame"], None]
# Keyframe requests from watchers (the proctors' wall, live viewers) are merged: at most one
# PLI per this many seconds per track, as SFUs throttle them. The recorder's are never held.
MIN_PLI_GAP_S = 1.0
# Packets whose arrival refines a track's clock (a few seconds of media); after them, or
# once a recorder listens, packets are no longer looked at (no cost per packet).
CLOCK_PACKETS = 500
# A recorder writes with a track's clock once it has seen this much media (RTP time): the
# first packets of a new connection may leave late (frames queued while it set up, a keyframe
# paced out), and a clock fixed at them would place a reconnect's segment that much late.
SETTLE_S = 0.5


class TrackSource:
    """One remote audio or video track of one peer connection.

    Its clock maps the sender's RTP time to our monotonic clock by the
    earliest packet arrival relative to its RTP time, so neither network jitter
    nor a slow first keyframe skews it: ``time_of(frame)`` is when that frame
    would have arrived on the fastest path seen. It is refined over the first
    :data:`CLOCK_PACKETS` packets, and fixed once a recorder writes with it
    (:meth:`fix_clock`; it waits for :attr:`clock_settled`). Audio and video (and a
    second camera) share the monotonic clock, which keeps a take in sync.
    """

    def __init__(
        self, kind: str, receiver: RTCRtpReceiver, peer_id: str, *, preview: bool = False
    ) -> None:
        self.kind = kind
        self.peer_id = peer_id
        self.receiver = receiver
        # A camera's small copy for the wall (media.preview), never recorded; ``preview_of``
        # is its camera's video track, which its pictures are pictures of.
        self.preview = preview
        self.preview_of: TrackSource | None = None
        self.codec: RTCRtpCodecParameters | None = None
        self.codec_name: str | None = None  # "vp8", "h264", "opus": the codec's, lower case
        self.ended = False
        self.frames_received = 0
        self.last_frame_at: float | None = None  # monotonic; how fresh the media is
        self.last_frame_time: float | None = None  # the newest frame's time_of (monotonic)
        # Audio: every packet's level (the ssrc-audio-level extension), for the silence
        # detector (media.detectors.audio_level); noted by the tap for the track's life.
        self.levels: LevelNote | None = LevelNote() if kind == "audio" else None
        self._base: float | None = None
        self._clock_rate = 90000 if kind == "video" else 48000
        # The clock: the earliest "arrival minus media time" of any packet so far, so a
        # slow first keyframe does not skew it; frozen while a recorder listens.
        self._packet_base: float | None = None
        self._first_rtp: int | None = None
        self._last_rtp: int | None = None
        self._rtp_ticks = 0  # RTP time since the first packet, unwrapped
        self._packets_seen = 0
        self._fixed = False  # a recorder writes with the clock: it stays as it is
        self._fix_wanted = False  # ... from its first frame on
        self._listener: FrameListener | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._end_listener: Callable[[TrackSource], None] | None = None
        self._watchers: list[FrameListener] = []
        self.pictured = 0  # watchers that make pictures of its keyframes (the wall's)
        self._picture_listener: PictureListener | None = None
        self._last_pli: float | None = None  # monotonic; when a PLI was last sent

    # -- tap.FrameSink ---------------------------------------------------------------------

    def on_packet(self, arrival: float, timestamp: int) -> bool:
        self._packets_seen += 1
        if self._last_rtp is None:
            self._first_rtp = timestamp
        else:
            step = (timestamp - self._last_rtp) & 0xFFFFFFFF
            self._rtp_ticks += step - (1 << 32) if step >= 1 << 31 else step
        self._last_rtp = timestamp
        if self._fixed:
            return False  # a recorder writes with this clock from now on: it stays as it is
        base = arrival - self._rtp_ticks / self._clock_rate
        if self._packet_base is None or base < self._packet_base:
            self._packet_base = base
            self._rebase()
        return self._packets_seen < CLOCK_PACKETS

    def _rebase(self) -> None:
        """The clock of frame timestamps (0 = aiortc's first frame) from the packets'."""
        if self._packet_base is None or self._first_rtp is None:
            return
        first = tap.rtp_ticks(self.receiver, self._first_rtp)
        if first is None:
            return  # no frame yet
        self._base = self._packet_base - first / self._clock_rate

    def on_frame(self, codec: RTCRtpCodecParameters, frame: EncodedFrame) -> None:
        if self.codec is not codec:
            self.codec = codec
            self.codec_name = codec.mimeType.split("/", 1)[1].lower()
            self._clock_rate = codec.clockRate
        if self._base is None:
            self._rebase()
        if self._base is None:  # pragma: no cover - packets always come before frames
            self._base = time.monotonic() - frame.timestamp / self._clock_rate
        if self._fix_wanted:
            self._fixed = True
        self.frames_received += 1
        self.last_frame_at = time.monotonic()
        self.last_frame_time = self._base + frame.timestamp / self._clock_rate
        if self._listener is not None:
            self._listener(self, frame)
        for watcher in self._watchers:
            try:
                watcher(self, frame)
            except Exception:  # a watcher's fault never stops the recording
                log.exception("a frame watcher failed")

    def on_end(self) -> None:
        self.ended = True
        if self._end_listener is not None:
            self._end_listener(self)

    # -- for the recorder ------------------------------------------------------------------

    @property
    def clock_settled(self) -> bool:
        """Its clock has seen :data:`SETTLE_S` of media (or is fixed): good to write with."""
        if self._fixed:
            return True
        if self._base is None:
            return False
        return self._rtp_ticks >= SETTLE_S * self._clock_rate or self._packets_seen >= CLOCK_PACKETS

    def renew_clock(self) -> None:
        """A new take is to record this track: anchor its clock again on the packets from
        now on if it was fixed for an earlier take or is no longer refined.

        The mapping holds only while the sender's RTP clock keeps pace with ours. One that
        lost time since (its capture stalled, or it was starved of CPU, and went on from
        where it was) would place every new frame that far before the take's start: all
        of them dropped as captured before it, a camera connected that never records.
        """
        if not self._fixed and not self._fix_wanted and self._packets_seen < CLOCK_PACKETS:
            return  # still refined on this connection's first packets
        self._fixed = self._fix_wanted = False
        self._packet_base = self._first_rtp = self._last_rtp = None
        self._rtp_ticks = self._packets_seen = 0
        if not self.ended:
            tap.note_packets(self.receiver, self)

    def fix_clock(self) -> None:
        """A recorder writes with this clock from now on (from its first frame, if none came
        yet): later packets no longer move it."""
        self._fix_wanted = True
        if self._base is not None:
            self._fixed = True

    def time_of(self, frame: EncodedFrame) -> float:
        """The frame's time on the monotonic clock."""
        assert self._base is not None
        return self._base + frame.timestamp / self._clock_rate

    def listen(
        self,
        on_frame: FrameListener | None,
        on_end: Callable[[TrackSource], None] | None = None,
        on_picture: PictureListener | None = None,
    ) -> None:
        """The recorder: every frame, the track's end, and the pictures a watcher made of
        its keyframes (:meth:`picture_made`); None stops them all."""
        self._listener = on_frame
        self._end_listener = on_end
        self._picture_listener = on_picture

    def unlisten(self, on_frame: FrameListener) -> None:
        """Stop what :meth:`listen` gave ``on_frame``, unless another listens now: a recorder
        letting go of its tracks must not silence the next take's, which may already listen
        (a take started on the same session while the last one was still being stopped)."""
        if self._listener == on_frame:
            self.listen(None)

    def watch(self, on_frame: FrameListener, *, pictures: bool = False) -> Callable[[], None]:
        """Also hand every frame to ``on_frame`` (after the recorder); returns the unwatch.

        Watchers (the wall's pictures, live viewers) run on the event loop per frame: they
        must only note or queue the frame, never block. ``pictures``: the watcher decodes
        keyframes into pictures and hands them to :meth:`picture_made` (so the recorder's
        quality meter need not decode its own samples meanwhile; a preview's pictures are
        its camera's).
        """
        self._watchers = [*self._watchers, on_frame]
        pictured = self.preview_of or self
        pictured.pictured += pictures
        watching = True

        def unwatch() -> None:
            nonlocal watching
            if watching:
                watching = False
                pictured.pictured -= pictures
            self._watchers = [w for w in self._watchers if w is not on_frame]

        return unwatch

    def picture_made(self, frame: EncodedFrame, picture: av.VideoFrame) -> None:
        """A watcher decoded ``frame`` (a keyframe of this track) into ``picture``: for the
        recorder of this track, or of the camera's track this one is the preview of."""
        target = self.preview_of or self
        if target._picture_listener is not None and self._base is not None:
            target._picture_listener(target, self.time_of(frame), picture)

    @property
    def listened(self) -> bool:
        """A recorder takes its frames (:meth:`listen`)."""
        return self._listener is not None

    @property
    def packets_seen(self) -> int:
        """Packets its clock noted since it was (re)anchored (up to :data:`CLOCK_PACKETS`)."""
        return self._packets_seen

    @property
    def watched(self) -> bool:
        return bool(self._watchers)

    def request_keyframe(self, *, merge: bool = False) -> bool:
        """Ask the sender for a keyframe (RTCP PLI); False if it can't be asked yet.

        With ``merge`` (watchers' requests) no PLI is sent within :data:`MIN_PLI_GAP_S` of
        the last one: the keyframe already asked for serves every watcher (True).
        """
        if self.kind != "video" or self.ended:
            return False
        now = time.monotonic()
        if merge and self._last_pli is not None and now - self._last_pli < MIN_PLI_GAP_S:
            return True
        tasks = tap.request_keyframe(self.receiver)
        if tasks:
            self._last_pli = now
        for task in tasks:  # keep a reference until sent: the loop holds tasks weakly
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return bool(tasks)

    def skip_lost(self) -> bool:
        """Media was lost: stop waiting for the lost packets (see :func:`tap.skip_lost`)."""
        if self.kind != "video" or self.ended:
            return False
        return tap.skip_lost(self.receiver)

    def pending_frames(self) -> list[EncodedFrame]:
        if self.ended or self._base is None:
            return []
        return tap.pending_frames(self.receiver, self.kind)

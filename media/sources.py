"""A tapped remote track: where its encoded frames go, and its clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from media import tap
from media.tap import EncodedFrame

FrameListener = Callable[["TrackSource", EncodedFrame], None]
# Packets whose arrival refines a track's clock (a few seconds of media); after them, or
# once a recorder listens, packets are no longer looked at (no cost per packet).
CLOCK_PACKETS = 500


class TrackSource:
    """One remote audio or video track of one peer connection.

    Its clock maps the sender's RTP time to our monotonic clock by the
    earliest packet arrival relative to its RTP time, so neither network jitter
    nor a slow first keyframe skews it: ``time_of(frame)`` is when that frame
    would have arrived on the fastest path seen. It is refined over the first
    :data:`CLOCK_PACKETS` packets, and fixed as soon as a recorder listens. Audio and video (and a
    second camera) share the monotonic clock, which keeps a take in sync.
    """

    def __init__(self, kind: str, receiver: RTCRtpReceiver, peer_id: str) -> None:
        self.kind = kind
        self.peer_id = peer_id
        self.receiver = receiver
        self.codec: RTCRtpCodecParameters | None = None
        self.ended = False
        self.frames_received = 0
        self.last_frame_at: float | None = None  # monotonic; how fresh the media is
        self._base: float | None = None
        self._clock_rate = 90000 if kind == "video" else 48000
        # The clock: the earliest "arrival minus media time" of any packet so far, so a
        # slow first keyframe does not skew it; frozen while a recorder listens.
        self._packet_base: float | None = None
        self._first_rtp: int | None = None
        self._last_rtp: int | None = None
        self._rtp_ticks = 0  # RTP time since the first packet, unwrapped
        self._packets_seen = 0
        self._listener: FrameListener | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._end_listener: Callable[[TrackSource], None] | None = None

    # -- tap.FrameSink ---------------------------------------------------------------------

    def on_packet(self, arrival: float, timestamp: int) -> bool:
        self._packets_seen += 1
        if self._last_rtp is None:
            self._first_rtp = timestamp
        else:
            step = (timestamp - self._last_rtp) & 0xFFFFFFFF
            self._rtp_ticks += step - (1 << 32) if step >= 1 << 31 else step
        self._last_rtp = timestamp
        if self._listener is not None and self._base is not None:
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
        origin = tap.timestamp_origin(self.receiver)
        if origin is None:
            return
        offset = (origin - self._first_rtp) & 0xFFFFFFFF
        offset = offset - (1 << 32) if offset >= 1 << 31 else offset
        self._base = self._packet_base + offset / self._clock_rate

    def on_frame(self, codec: RTCRtpCodecParameters, frame: EncodedFrame) -> None:
        if self.codec is not codec:
            self.codec = codec
            self._clock_rate = codec.clockRate
        if self._base is None:
            self._rebase()
        if self._base is None:  # pragma: no cover - packets always come before frames
            self._base = time.monotonic() - frame.timestamp / self._clock_rate
        self.frames_received += 1
        self.last_frame_at = time.monotonic()
        if self._listener is not None:
            self._listener(self, frame)

    def on_end(self) -> None:
        self.ended = True
        if self._end_listener is not None:
            self._end_listener(self)

    # -- for the recorder ------------------------------------------------------------------

    @property
    def codec_name(self) -> str | None:
        if self.codec is None:
            return None
        return self.codec.mimeType.split("/", 1)[1].lower()

    def time_of(self, frame: EncodedFrame) -> float:
        """The frame's time on the monotonic clock."""
        assert self._base is not None
        return self._base + frame.timestamp / self._clock_rate

    def listen(
        self,
        on_frame: FrameListener | None,
        on_end: Callable[[TrackSource], None] | None = None,
    ) -> None:
        self._listener = on_frame
        self._end_listener = on_end

    def request_keyframe(self) -> bool:
        """Ask the sender for a keyframe (RTCP PLI); False if it can't be asked yet."""
        if self.kind != "video" or self.ended:
            return False
        tasks = tap.request_keyframe(self.receiver)
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

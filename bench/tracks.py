"""Tracks that hand aiortc's sender pre-encoded packets, paced in real time.

``RTCRtpSender`` asks its track for the next item; given an ``av.Packet``
instead of a frame it skips the encoder and only packetises
(``Vp8Encoder.pack`` / ``OpusEncoder.pack``), taking the RTP timestamp from
``packet.pts`` in ``packet.time_base``. So pts must rise without a break
when the clip loops, and a keyframe request (RTCP PLI) only sets a flag
for an encoder that is not there: a stream starts at a keyframe and the
recorder waits for the next one if it needs to.
"""

from __future__ import annotations

import asyncio
import fractions
import time

from aiortc.mediastreams import MediaStreamTrack
from av.packet import Packet

from bench.clip import AUDIO_FRAME, AUDIO_RATE, Clip, Sample

VIDEO_CLOCK = 90000


class PacedTrack(MediaStreamTrack):
    """Replays encoded samples in a loop, from ``start_at`` for ``count`` frames.

    Nothing is sent before :meth:`start`; after the last frame the track
    blocks until the sender stops, so the count is exact.
    """

    def __init__(
        self,
        kind: str,
        samples: tuple[Sample, ...],
        interval: float,
        ticks: int,
        clock: int,
        first: int = 0,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._samples = samples
        self._interval = interval
        self._ticks = ticks
        self._time_base = fractions.Fraction(1, clock)
        self._first = first
        self._count = 0
        self._start: float | None = None
        self._go = asyncio.Event()
        self.done = asyncio.Event()  # every frame has been handed over and packetised
        self.sent = 0
        self.max_late_s = 0.0

    def start(self, at: float, count: int) -> None:
        """Send ``count`` frames, the first at ``at`` (``time.monotonic()``)."""
        self._start = at
        self._count = count
        self._go.set()

    async def recv(self) -> Packet:
        await self._go.wait()
        assert self._start is not None
        if self.sent >= self._count:
            # The sender asks for the next frame only once the previous one is
            # on the wire: from here on everything counted has been sent.
            self.done.set()
            await asyncio.Future()  # until the sender stops and cancels us
        index = self.sent
        target = self._start + index * self._interval
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self.max_late_s = max(self.max_late_s, -delay)
        sample = self._samples[(self._first + index) % len(self._samples)]
        packet = Packet(sample.data)
        packet.pts = index * self._ticks
        packet.time_base = self._time_base
        self.sent += 1
        return packet


def clip_tracks(clip: Clip, keyframe: int) -> tuple[PacedTrack, PacedTrack]:
    """An (audio, video) pair replaying ``clip`` from its ``keyframe``-th keyframe."""
    first = clip.keyframes[keyframe % len(clip.keyframes)]
    video = PacedTrack(
        "video", clip.video, 1 / clip.fps, VIDEO_CLOCK // clip.fps, VIDEO_CLOCK, first
    )
    audio_first = round(first / clip.fps * AUDIO_RATE / AUDIO_FRAME)
    audio = PacedTrack(
        "audio", clip.audio, AUDIO_FRAME / AUDIO_RATE, AUDIO_FRAME, AUDIO_RATE, audio_first
    )
    return audio, video

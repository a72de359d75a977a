"""Tracks that hand aiortc's sender pre-encoded packets, paced in real time.

``RTCRtpSender`` asks its track for the next item; given an ``av.Packet``
instead of a frame it skips the encoder and only packetises
(``Vp8Encoder.pack`` / ``OpusEncoder.pack``), taking the RTP timestamp from
``packet.pts`` in ``packet.time_base``. So pts must rise without a break
when the clip loops. A keyframe request (RTCP PLI or FIR) would only set a
flag for an encoder that is not there: the video sender's is routed to
:meth:`PacedTrack.request_keyframe` instead, and the track sends the next
picture that has a keyframe version (:attr:`Clip.key_video`, every third)
in its place, as a browser's encoder answers a request. A stream may start at
any such picture (:func:`clip_tracks`' ``phase``), with its keyframe version.
The wall preview's track (:func:`preview_track`) has a keyframe version of
every picture: it answers a request at its very next frame.
The load generator's candidates skip the ``av.Packet`` too: their senders run
:mod:`bench.fast_sender`'s loop, which takes :meth:`PacedTrack.next_sample`.

Each track notes when it handed over each frame (:attr:`PacedTrack.sent_at`):
the "glass" time of the viewers' glass-to-glass latency.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Mapping

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack
from av.packet import Packet

from bench.clip import AUDIO_FRAME, AUDIO_RATE, PREVIEW_EVERY, Clip, Sample

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
        keys: Mapping[int, Sample] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._samples = samples
        self._keys = keys or {}
        self._interval = interval
        self._ticks = ticks
        self.clock = clock  # pts ticks a second: the RTP clock rate
        self._time_base = fractions.Fraction(1, clock)
        self.first = first
        self._count: int | None = 0
        self._start: float | None = None
        self._go = asyncio.Event()
        self._want_keyframe = False
        self.done = asyncio.Event()  # every frame has been handed over and packetised
        self.sent = 0
        self.sent_at: list[float] = []  # time.monotonic() each frame was handed over
        self.keyframes_on_request = 0
        self.max_late_s = 0.0
        self._cover: tuple[Sample, ...] | None = None
        self._uncover = False
        self.covered_at: float | None = None  # time.time() the first covering frame went
        # tracks of the same camera (its wall preview), covered with it, each with its black
        self._copies: list[tuple[PacedTrack, tuple[Sample, ...]]] = []

    def cover(self, samples: tuple[Sample, ...]) -> None:
        """Send ``samples`` (all keyframes: :func:`bench.clip.make_black`) from the next frame
        on, instead of the clip, until :meth:`uncover`; :attr:`covered_at` says when. The
        camera's copies (:meth:`copied_to`) go black too, as a covered lens is in both."""
        self._cover, self._uncover, self.covered_at = samples, False, None
        for copy, black in self._copies:
            copy.cover(black)

    def uncover(self) -> None:
        """Back to the clip at its next picture that has a keyframe version (its copies too)."""
        self._uncover = True
        for copy, _ in self._copies:
            copy.uncover()

    def copied_to(self, copy: PacedTrack, black: tuple[Sample, ...]) -> None:
        """``copy`` shows this camera too (its wall preview, a browser's clone of the camera's
        track): :meth:`cover` covers it with ``black``, pictures of its own size."""
        self._copies.append((copy, black))

    def repacked(self, samples: tuple[Sample, ...], interval: float) -> None:
        """The same sound in packets of ``interval`` seconds (the answer's ``a=ptime``),
        before :meth:`start`: from the packet of the moment the track was to start at."""
        assert self._start is None, "repacked after the start"
        self.first = round(self.first * self._interval / interval)
        self._samples, self._interval = samples, interval
        self._ticks = round(self.clock * interval)

    @property
    def interval(self) -> float:
        """Seconds between frames (of sound: in a packet)."""
        return self._interval

    def start(self, at: float, count: int | None) -> None:
        """Send ``count`` frames, the first at ``at`` (``time.monotonic()``); None: until
        :meth:`finish` says how many."""
        self._start = at
        self._count = count
        self._go.set()

    def finish(self, count: int) -> None:
        """Stop after ``count`` frames in all (at least the ones already sent)."""
        self._count = max(count, self.sent)

    def frames_due(self, by: float) -> int:
        """How many frames the schedule has sent by ``by`` (``time.monotonic()``)."""
        if self._start is None:
            return 0
        return max(0, int((by - self._start) / self._interval) + 1)

    def request_keyframe(self) -> None:
        """The sender's RTCP PLI/FIR: a keyframe at the next picture that has one."""
        self._want_keyframe = True

    def route_keyframe_requests(self, sender: RTCRtpSender) -> None:
        """Make ``sender``'s keyframe requests ours (aiortc 1.16 ``_send_keyframe`` only sets
        a flag for its encoder, which packets skip)."""
        sender._send_keyframe = self.request_keyframe  # type: ignore[method-assign]

    @property
    def samples(self) -> int:
        """Pictures in the clip: the stream shows them again after this many frames."""
        return len(self._samples)

    def sample_index(self, index: int) -> int:
        """The clip picture the ``index``-th frame sent shows."""
        return (self.first + index) % len(self._samples)

    async def recv(self) -> Packet:
        data, pts = await self.next_sample()
        packet = Packet(data)
        packet.pts = pts
        packet.time_base = self._time_base
        return packet

    async def next_sample(self) -> tuple[bytes, int]:
        """The next frame's bytes and its pts in ticks of :attr:`clock`, when it is due:
        what :meth:`recv` wraps in an ``av.Packet``, and what the bench's own send loop
        (:mod:`bench.fast_sender`) takes without one."""
        await self._go.wait()
        assert self._start is not None
        if self._count is not None and self.sent >= self._count:
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
            # Late: still let the loop run between frames. aiortc's sender packs a
            # pre-encoded frame and sends it without suspending, so a sender catching up
            # would otherwise hold the loop for its whole backlog, and the other senders
            # and the Socket.IO pongs (5 s: the server drops the candidate) wait for it.
            await asyncio.sleep(0)
        at = self.sample_index(index)
        sample = self._samples[at]
        cover = self._cover
        if cover is not None and self._uncover and (sample.keyframe or at in self._keys):
            self._cover = cover = None
            self._want_keyframe = True
        if cover is not None:
            sample = cover[index % len(cover)]
            if self.covered_at is None:
                self.covered_at = time.time()
        elif index == 0 and not sample.keyframe and at in self._keys:
            sample = self._keys[at]  # a stream starts with a keyframe (a staggered start)
        elif self._want_keyframe and (sample.keyframe or at in self._keys):
            self._want_keyframe = False
            if not sample.keyframe:
                sample = self._keys[at]
                self.keyframes_on_request += 1
        self.sent += 1
        self.sent_at.append(time.monotonic())
        return sample.data, index * self._ticks


def clip_tracks(clip: Clip, keyframe: int, phase: float = 0.0) -> tuple[PacedTrack, PacedTrack]:
    """An (audio, video) pair replaying ``clip`` from its ``keyframe``-th keyframe, or
    ``phase`` (0 <= phase < 1) of a GOP after it: from the picture with a keyframe version
    there, sent as its keyframe. Streams of different phases have their keyframes at
    different moments, as independent cameras do, not all on the clip's beat."""
    first = clip.keyframes[keyframe % len(clip.keyframes)]
    gop = len(clip.video) // max(1, len(clip.keyframes))
    later = [i for i in clip.key_video if first <= i <= first + phase * gop]
    first = max(later, default=first)
    video = PacedTrack(
        "video",
        clip.video,
        1 / clip.fps,
        VIDEO_CLOCK // clip.fps,
        VIDEO_CLOCK,
        first,
        clip.key_video,
    )
    audio_first = round(first / clip.fps * AUDIO_RATE / AUDIO_FRAME)
    audio = PacedTrack(
        "audio", clip.audio, AUDIO_FRAME / AUDIO_RATE, AUDIO_FRAME, AUDIO_RATE, audio_first
    )
    return audio, video


def preview_track(preview: Clip, video: PacedTrack) -> PacedTrack:
    """The wall preview's track (:func:`bench.clip.make_preview`) beside ``video``, the camera
    track of :func:`clip_tracks`: from the preview picture of the camera's first one, so that
    started together they show the same moment (the preview at most five camera frames
    behind: within its own 0.2 s frame) and loop together; covering the camera covers it."""
    if video.samples != len(preview.video) * PREVIEW_EVERY:
        raise ValueError(
            f"a preview of {len(preview.video)} pictures does not loop with a clip of "
            f"{video.samples}"
        )
    track = PacedTrack(
        "video",
        preview.video,
        1 / preview.fps,
        VIDEO_CLOCK // preview.fps,
        VIDEO_CLOCK,
        video.first // PREVIEW_EVERY,
        preview.key_video,
    )
    video.copied_to(track, preview.black)
    return track

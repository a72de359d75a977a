"""Live viewers of a camera, fed its encoded frames: nothing decoded, nothing encoded.

A :class:`SourceRelay` watches one :class:`~media.sources.TrackSource` (a
candidate's camera or microphone, received once however many people watch)
and hands every frame to each subscribed :class:`~media.relay_queue.ViewerQueue`:
it only enqueues, so the recording, which hears of the frame first, is never
slowed. It keeps the last keyframe and the frames since (as many as one
viewer queue holds), so a new viewer starts at once; otherwise it asks the
candidate's sender for a keyframe, merged with every other request
(:meth:`TrackSource.request_keyframe`).

A :class:`RelayTrack` is what a viewer's ``RTCRtpSender`` sends: its
``recv()`` yields ``av.Packet`` s, which aiortc only re-packetises
(``encoder.pack``) with the sender's own SSRC, sequence numbers and RTP
timestamps. The track can move to another source (the candidate reconnected:
a new peer connection, new sources); its timestamps keep increasing across
the move and the picture resumes at the new source's first keyframe.
"""

from __future__ import annotations

import fractions
import logging
import time
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import bitstream
from media.relay_queue import RelayFrame, ViewerQueue
from media.sources import MIN_PLI_GAP_S, TrackSource
from media.tap import EncodedFrame

log = logging.getLogger(__name__)

# A viewer's queue: about 3 s of video at 30 frames a second, 2 s of Opus at 20 ms (4 s at
# the 40 ms of media_profile.AUDIO_PTIME_MS).
VIDEO_QUEUE_FRAMES = 90
AUDIO_QUEUE_FRAMES = 100
# While the server sheds load, viewers (keyframe-only) ask a camera for a keyframe at most
# this often: a picture every few seconds, without many extra keyframes to receive.
SHED_PLI_GAP_S = 2.5


def _is_keyframe(mime: str, data: bytes) -> bool:
    """Raises :class:`bitstream.BitstreamError` for a frame that is cut short."""
    if mime == "video/vp8":
        return bitstream.vp8_keyframe(data) is not None
    if mime == "video/h264":
        return bitstream.h264_keyframe(data) is not None
    return False


class SourceRelay:
    """One source's frames to its viewers' queues (created by :class:`Relays`)."""

    def __init__(
        self,
        source: TrackSource,
        cache_frames: int,
        on_idle: Callable[[], None],
        shedding: Callable[[], bool] | None = None,
    ) -> None:
        self.source = source
        self._shedding = shedding
        self.kind = source.kind
        self._cache_frames = cache_frames
        self._on_idle = on_idle
        self._queues: list[ViewerQueue] = []
        self._cache: list[RelayFrame] = []  # the last keyframe and the frames since
        self._broken = source.kind == "video"  # until a keyframe: nothing to show
        self._unwatch: Callable[[], None] | None = source.watch(self._on_frame)
        self._asked_at: float | None = None  # monotonic: our last keyframe request
        self.frames = 0

    @property
    def mime(self) -> str | None:
        """The source's codec (``video/vp8``, ``video/h264``, ``audio/opus``) once known."""
        codec = self.source.codec
        return None if codec is None else codec.mimeType.lower()

    def subscribe(self, queue: ViewerQueue) -> None:
        """Feed ``queue`` from now on: from the cached keyframe if it fits, else the next one."""
        self._queues = [*self._queues, queue]
        if self.kind != "video":
            return
        queue.wait_for_keyframe()
        if not queue.prefill(self._cache):
            self.request_keyframe()

    def unsubscribe(self, queue: ViewerQueue) -> None:
        self._queues = [q for q in self._queues if q is not queue]
        if not self._queues:
            self.close()
            self._on_idle()

    def request_keyframe(self) -> bool:
        """Ask the candidate's sender for a keyframe, merged across viewers (one a second;
        one every :data:`SHED_PLI_GAP_S` while the server sheds load, :mod:`media.load`)."""
        now = time.monotonic()
        if self._shed() and self._asked_at is not None and now - self._asked_at < SHED_PLI_GAP_S:
            return True
        self._asked_at = now
        return self.source.request_keyframe(merge=True)

    def _shed(self) -> bool:
        return self._shedding is not None and self._shedding()

    def _ask_again(self) -> None:
        """A viewer still waits for a keyframe a second after asking: ask again. A request
        merged into an earlier one may have been answered before this viewer came."""
        gap = SHED_PLI_GAP_S if self._shed() else MIN_PLI_GAP_S
        if self._asked_at is not None and time.monotonic() - self._asked_at < gap:
            return
        if any(q.waiting_keyframe for q in self._queues):
            self.request_keyframe()

    def close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self._cache = []

    def _on_frame(self, source: TrackSource, frame: EncodedFrame) -> None:
        """A watcher of the source: runs on the loop per frame, so it only enqueues."""
        codec = source.codec
        if codec is None:  # pragma: no cover - the tap sets the codec before each frame
            return
        mime = codec.mimeType.lower()
        keyframe = False
        if self.kind == "video":
            cut = frame.partial
            try:
                keyframe = not cut and _is_keyframe(mime, frame.data)
            except bitstream.BitstreamError:
                cut = True  # a frame cut short: a decoder would fail on it too
            if cut or (frame.lost_before and not keyframe):
                self._break()
                return
            if not keyframe:
                self._ask_again()
                if self._broken:
                    return
            self._broken = False
        relayed = RelayFrame(
            frame.data, frame.timestamp, codec.clockRate, keyframe, self, time.monotonic()
        )
        self.frames += 1
        if self.kind == "video":
            if keyframe:
                self._cache = [relayed]
            elif self._cache and len(self._cache) < self._cache_frames:
                self._cache.append(relayed)
            else:
                self._cache = []  # too long since the keyframe: a new viewer asks a fresh one
        for queue in self._queues:
            queue.put(relayed)

    def _break(self) -> None:
        """Frames were lost: nothing is worth showing until the next keyframe (the
        recorder asks for one at once)."""
        self._broken = True
        self._cache = []
        for queue in self._queues:
            queue.wait_for_keyframe()
        if self._queues:
            self.request_keyframe()


class Relays:
    """The relay of each watched source: one per source, however many viewers."""

    def __init__(
        self,
        cache_frames: int = VIDEO_QUEUE_FRAMES,
        shedding: Callable[[], bool] | None = None,
    ) -> None:
        self._cache_frames = cache_frames
        self.shedding = shedding  # :attr:`media.load.ViewerLoad.shedding`, read per frame
        self._relays: dict[int, SourceRelay] = {}

    def of(self, source: TrackSource) -> SourceRelay:
        key = id(source)
        relay = self._relays.get(key)
        if relay is None or relay.source is not source:
            relay = SourceRelay(
                source, self._cache_frames, lambda: self._forget(key), self.shedding
            )
            self._relays[key] = relay
        return relay

    def _forget(self, key: int) -> None:
        self._relays.pop(key, None)

    def __len__(self) -> int:
        return len(self._relays)


class RelayTrack(MediaStreamTrack):
    """A viewer's track of one camera's picture or sound, fed by whichever source is bound.

    ``mime``: the codec the viewer's peer negotiated for it; a source sending
    another codec is not relayed (``on_mismatch`` is told: the viewer re-offers).
    """

    def __init__(
        self,
        kind: str,
        mime: str,
        *,
        queue_frames: int | None = None,
        on_mismatch: Callable[[RelayTrack], None] | None = None,
        shedding: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.mime = mime.lower()
        limit = queue_frames or (VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_FRAMES)
        self.queue = ViewerQueue(kind, limit, self.request_keyframe, shedding)
        self.relay: SourceRelay | None = None
        self.mismatch = False
        self._on_mismatch = on_mismatch
        self._source: object = None  # the relay of the last frame sent
        self._offset = 0  # added to the source's ticks
        self._last_pts: int | None = None
        self._last_sent = 0.0
        self._rate = 90000 if kind == "video" else 48000

    def bind(self, relay: SourceRelay | None) -> None:
        """Take frames from ``relay`` from now on (None: from nobody, until bound again)."""
        if relay is self.relay:
            return
        if self.relay is not None:
            self.relay.unsubscribe(self.queue)
            self.relay = None
        self.mismatch = relay is not None and relay.mime not in (None, self.mime)
        if relay is None or self.mismatch:
            if self.mismatch and self._on_mismatch is not None:
                self._on_mismatch(self)
            return
        self.relay = relay
        relay.subscribe(self.queue)

    def request_keyframe(self) -> None:
        """The viewer's PLI/FIR (or its queue skipping): passed on to the candidate, merged."""
        if self.relay is not None:
            self.relay.request_keyframe()

    async def recv(self) -> av.Packet:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.queue.get()
            if frame is None:
                raise MediaStreamError
            if frame.source is self.relay and self.relay is not None:
                mime = self.relay.mime
                if mime is not None and mime != self.mime:  # the codec changed under us
                    self.mismatch = True
                    self.bind(None)
                    if self._on_mismatch is not None:
                        self._on_mismatch(self)
                    continue
            packet = av.Packet(frame.data)
            packet.pts = self._pts(frame)
            packet.time_base = fractions.Fraction(1, frame.clock_rate)
            return packet

    def _pts(self, frame: RelayFrame) -> int:
        now = time.monotonic()
        if frame.source is not self._source:
            # A new source counts from its own first frame: continue from where the last one
            # stopped, plus the time that went by, so the viewer's timestamps only increase.
            if self._last_pts is None:
                self._offset = -frame.timestamp
            else:
                gap = max(1, round((now - self._last_sent) * frame.clock_rate))
                self._offset = self._last_pts + gap - frame.timestamp
            self._source = frame.source
        pts = frame.timestamp + self._offset
        if self._last_pts is not None and pts <= self._last_pts and self.kind == "video":
            pts = self._last_pts + 1  # never backwards (a source's own timestamps may repeat)
        self._last_pts, self._last_sent = pts, now
        return pts

    def stop(self) -> None:
        self.bind(None)
        self.queue.close()
        super().stop()

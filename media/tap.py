"""Encoded frames out of aiortc without decoding them.

aiortc has no public API for encoded frames (aiortc#449, aiortc#984). Its
``RTCRtpReceiver`` reassembles each frame in its jitter buffer and puts
``(codec, JitterFrame)`` on a private ``queue.Queue`` that a per-receiver
decoder thread drains. Before the receiver starts (aiortc fires the "track"
event before it does) we swap that queue for one that hands every frame
straight to our code on the event loop, and whose ``get`` tells the decoder
thread to exit at once: no decoder, no thread hand-off.

The receiver's video jitter buffer is swapped here for :mod:`media.receive_jitter`'s
(the same frames, without walking each frame's packets again for every packet).

This module and :mod:`media.receive_path` are the ones that touch aiortc's private
attributes. It was written for aiortc 1.16; :func:`check_compatible` fails with a
clear message if the installed aiortc no longer looks the way it expects.
"""

from __future__ import annotations

import asyncio
import copy
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import aiortc
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from media.detectors.audio_level import SOUND_MAX_LEVEL, LevelNote
from media.receive_jitter import AudioJitterBuffer, VideoJitterBuffer

SUPPORTED_AIORTC = "1.16"

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_STARTED_ATTR = "_RTCRtpReceiver__started"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_MAPPER_ATTR = "_RTCRtpReceiver__timestamp_mapper"
_CODECS_ATTR = "_RTCRtpReceiver__codecs"


class TapUnavailable(RuntimeError):
    """The installed aiortc does not have the internals this tap relies on."""


@dataclass(slots=True)
class EncodedFrame:
    """One depacketised frame, as the sender encoded it."""

    data: bytes
    timestamp: int  # RTP timestamp, unwrapped, counted from the receiver's first frame
    # Video only: packets right before this frame were lost (the jitter buffer gave up
    # on them), or this frame itself lacks its first packets (``partial``).
    lost_before: bool = False
    partial: bool = False


class FrameSink(Protocol):
    # An audio track's level note: every packet's audio-level header extension goes here.
    levels: LevelNote | None

    def on_packet(self, arrival: float, timestamp: int) -> bool:
        """A packet arrived; return False to hear of no more packets."""

    def on_frame(self, codec: RTCRtpCodecParameters, frame: EncodedFrame) -> None: ...

    def on_end(self) -> None: ...


class _TapQueue:
    """Stands in for the receiver's decoder queue.

    ``put`` runs on the event loop inside ``RTCRtpReceiver._handle_rtp_packet``;
    ``get`` runs once in the decoder thread, which exits when it returns None.
    """

    def __init__(self, sink: FrameSink, continuity: _Continuity | None, mapper: Any) -> None:
        self._sink = sink
        self._ended = False
        self.continuity = continuity
        self.unwrap = _Unwrapper(mapper)

    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            if not self._ended:
                self._ended = True
                self._sink.on_end()
            return
        codec, jitter_frame = item
        frame = EncodedFrame(jitter_frame.data, self.unwrap(jitter_frame.timestamp))
        if self.continuity is None:
            self._sink.on_frame(codec, frame)
            return
        frame.lost_before, frame.partial = self.continuity.take(codec)
        self._sink.on_frame(codec, frame)
        if frame.lost_before:
            for held in self.continuity.held_back():
                self.put((codec, held))

    def get(self) -> None:
        return None


class _Unwrapper:
    """RTP timestamps counted from the receiver's first frame, each frame's taken as the
    nearest to the one before (a signed 32-bit step).

    aiortc's mapper takes any timestamp smaller than the last for a wrap and adds
    2**32 ticks (13 hours of video) to everything after it: a frame released out
    of order after a loss (a late retransmission restarting the jitter buffer)
    would push the rest of the take half a day ahead. Its output is turned back
    into the sender's timestamp and unwrapped here instead.
    """

    def __init__(self, mapper: Any) -> None:
        self._mapper = mapper
        self._raw: int | None = None
        self._ticks = 0

    def __call__(self, mapped: int) -> int:
        """``mapped``: the timestamp aiortc's mapper gave a frame (the hot path of
        :meth:`raw`, once per frame)."""
        raw = (mapped + self._mapper._origin) & 0xFFFFFFFF
        if self._raw is not None:
            step = (raw - self._raw) & 0xFFFFFFFF
            mapped = self._ticks + (step - (1 << 32) if step >= 1 << 31 else step)
        self._raw, self._ticks = raw, mapped
        return mapped

    def ticks(self, raw: int) -> int | None:
        """A sender's timestamp on this count, nearest the newest frame's (no frame yet:
        None); nothing is changed."""
        if self._raw is None:
            return None
        step = (raw - self._raw) & 0xFFFFFFFF
        return self._ticks + (step - (1 << 32) if step >= 1 << 31 else step)

    def raw(self, raw: int, first: int = 0) -> int:
        """A sender's timestamp; ``first``: its ticks if it is the first frame."""
        ticks = first
        if self._raw is not None:
            step = (raw - self._raw) & 0xFFFFFFFF
            ticks = self._ticks + (step - (1 << 32) if step >= 1 << 31 else step)
        self._raw, self._ticks = raw, ticks
        return ticks


class _Continuity:
    """Which packets each frame of a video jitter buffer was made of.

    aiortc's video jitter buffer releases a frame as the run of consecutive
    packets from its origin up to the next timestamp, through ``remove(count)``.
    When a hole blocks it for ``capacity`` packets it moves the origin past the
    hole (``smart_remove``), or drops everything on a large sequence jump
    (``remove(capacity)``), and the frames released next may lack their first
    packets. So a frame follows a loss when its first packet is not where the
    previous frame ended, and is partial when that packet does not start a frame
    (VP8: the payload descriptor's S bit and partition 0, RFC 7741 4.2).

    Only ``remove`` is wrapped: it runs once per released frame, not per packet.
    """

    def __init__(self, jitter: Any, mapper: Any) -> None:
        self._jitter = jitter
        self._mapper = mapper
        self._expected: int | None = None  # sequence number the next frame should start at
        self._lost = False
        self._first_descriptor: int | None = None  # first payload byte of the last frame
        original = jitter.remove

        def remove(count: int) -> None:
            self._released(count)
            original(count)

        jitter.remove = remove

    def _released(self, count: int) -> None:
        jitter = self._jitter
        capacity: int = jitter._capacity
        if count >= capacity:  # a sequence jump: aiortc dropped everything it held
            self._lost, self._expected = True, None
            return
        origin: int = jitter._origin
        if self._expected is not None and origin != self._expected:
            self._lost = True
        first = jitter._packets[origin % capacity]
        self._first_descriptor = first.payload[0] if first is not None and first.payload else None
        self._expected = (origin + count) & 0xFFFF

    def held_back(self) -> Iterator[JitterFrame]:
        """The complete frames the buffer holds after a loss, released now.

        aiortc releases at most one frame per arriving packet, so frames that
        piled up behind a hole (or came back by retransmission) would stay
        that far behind for the rest of the connection, and so would the
        keyframe asked for after the loss.
        """
        while (frame := self._jitter._remove_frame(0)) is not None:
            frame.timestamp = self._mapper.map(frame.timestamp)
            yield frame

    def take(self, codec: RTCRtpCodecParameters) -> tuple[bool, bool]:
        """(lost_before, partial) for the frame just released; resets the loss flag."""
        lost, self._lost = self._lost, False
        return lost, _partial(codec, self._first_descriptor)

    def pending(
        self, codec: RTCRtpCodecParameters | None, first: Any, origin: int
    ) -> tuple[bool, bool]:
        """(lost_before, partial) for a frame still in the buffer, starting at ``first``."""
        lost = self._lost or (self._expected is not None and origin != self._expected)
        descriptor = first.payload[0] if first.payload else None
        return lost, codec is not None and _partial(codec, descriptor)


def _partial(codec: RTCRtpCodecParameters, descriptor: int | None) -> bool:
    """A VP8 frame starts with S (0x10) set and partition id (0x07) zero (RFC 7741 4.2)."""
    return (
        descriptor is not None
        and descriptor & 0x17 != 0x10
        and codec.mimeType.lower() == "video/vp8"
    )


def check_compatible() -> None:
    """Raise :class:`TapUnavailable` unless aiortc has the internals we use."""
    version = getattr(aiortc, "__version__", "?")
    if not version.startswith(SUPPORTED_AIORTC + "."):
        raise TapUnavailable(
            f"media.tap was written for aiortc {SUPPORTED_AIORTC}.x, found {version}: "
            "re-check RTCRtpReceiver's decoder queue, jitter buffer and timestamp mapper, "
            "then update SUPPORTED_AIORTC and the pin in pyproject.toml"
        )
    probe = object.__new__(RTCRtpReceiver)
    try:
        RTCRtpReceiver.__init__(probe, "video", cast(Any, _ProbeTransport()))
    except Exception as exc:  # pragma: no cover - only when aiortc changed shape
        raise TapUnavailable(f"cannot construct RTCRtpReceiver to inspect it: {exc}") from exc
    for attr, kind in ((_QUEUE_ATTR, queue.Queue), (_STARTED_ATTR, bool), (_CODECS_ATTR, dict)):
        value = getattr(probe, attr, None)
        if not isinstance(value, kind):
            raise TapUnavailable(
                f"aiortc {version}: RTCRtpReceiver.{attr} is {type(value).__name__}, "
                f"expected {kind.__name__}; the encoded-frame tap must be rewritten"
            )
    jitter = getattr(probe, _JITTER_ATTR, None)
    if not all(
        hasattr(jitter, a)
        for a in (
            "_packets",
            "_origin",
            "_capacity",
            "_is_video",
            "remove",
            "smart_remove",
            "_remove_frame",
        )
    ):
        raise TapUnavailable(f"aiortc {version}: the receiver's jitter buffer changed shape")
    mapper = getattr(probe, _MAPPER_ATTR, None)
    if not callable(getattr(mapper, "map", None)) or not hasattr(mapper, "_origin"):
        raise TapUnavailable(f"aiortc {version}: the receiver's timestamp mapper changed shape")


class _ProbeTransport:
    state = "new"


def install(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Route ``receiver``'s encoded frames to ``sink``; call before the receiver starts."""
    if getattr(receiver, _STARTED_ATTR, None) is not False:
        raise TapUnavailable("the receiver has already started; tap it from the 'track' event")
    if not isinstance(getattr(receiver, _QUEUE_ATTR, None), queue.Queue):
        raise TapUnavailable("RTCRtpReceiver has no decoder queue to tap (aiortc changed)")
    jitter = getattr(receiver, _JITTER_ATTR)
    faster = VideoJitterBuffer.replacing(jitter) or AudioJitterBuffer.replacing(jitter)
    if faster is not None:  # the same frames for less (media/receive_jitter.py)
        jitter = faster
        setattr(receiver, _JITTER_ATTR, jitter)
    mapper = getattr(receiver, _MAPPER_ATTR)
    continuity = _Continuity(jitter, mapper) if jitter._is_video else None
    tapped = _TapQueue(sink, continuity, mapper)
    setattr(receiver, _QUEUE_ATTR, tapped)
    if not jitter._is_video:
        _keep_dropped_audio(receiver, tapped)
        if sink.levels is not None:
            _note_levels(receiver, sink.levels)
    note_packets(receiver, sink)


def _keep_dropped_audio(receiver: RTCRtpReceiver, tapped: _TapQueue) -> None:
    """Hand over the audio frames aiortc's jitter buffer throws away when packets were lost.

    When a sequence jump overflows it, the audio jitter buffer removes its oldest
    slots (``smart_remove``), and with them the complete frames it was still
    holding back as prefetch: the last 80 ms before every hole. Each is one
    packet, whole: they are passed on, in order, before the removal.
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    mapper = getattr(receiver, _MAPPER_ATTR)
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, _CODECS_ATTR)
    original = jitter.smart_remove

    def smart_remove(count: int) -> bool:
        capacity: int = jitter._capacity
        origin = jitter._origin
        for i in range(min(count, capacity) if origin is not None else 0):
            packet = jitter._packets[(origin + i) % capacity]
            if packet is not None and packet.payload_type in codecs:
                frame = JitterFrame(packet._data, mapper.map(packet.timestamp))
                tapped.put((codecs[packet.payload_type], frame))
        return bool(original(count))

    jitter.smart_remove = smart_remove


def _note_levels(receiver: RTCRtpReceiver, note: LevelNote) -> None:
    """Count every audio packet's level (RFC 6464, parsed by aiortc) into ``note``.

    The one thing of ours that runs for every audio packet for the life of the track:
    a few attribute updates (see ``bench/audio_levels.py`` for what it costs).
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    original = jitter.add
    clock = time.monotonic

    def levelled_add(packet: Any) -> Any:
        level = packet.extensions.audio_level
        if level is not None:
            note.packets += 1
            if level[1] <= SOUND_MAX_LEVEL:
                note.loud += 1
                note.last_loud_at = clock()
        return original(packet)

    jitter.add = levelled_add


def note_packets(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Tell ``sink`` when each RTP packet reaches the jitter buffer, with its RTP time,
    until it has heard enough (again, if it had: a track clock anchored afresh).

    Frames leave the jitter buffer later than their packets arrive (audio
    waits for four frames of prefetch, video for the next frame's first
    packet), so packet arrivals, not frame releases, are what anchor the
    track's clock. Once the sink says it has enough, the wrapper removes
    itself: later packets go straight to ``JitterBuffer.add`` (or the level note's
    wrapper, for audio) at no cost.
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    original = jitter.add
    if getattr(original, "noting", None) is sink:
        return  # still telling it
    wrapped = "add" in vars(jitter)  # the level note's: it stays

    def noted_add(packet: Any) -> Any:
        if not sink.on_packet(time.monotonic(), packet.timestamp):
            if wrapped:
                jitter.add = original
            else:
                del jitter.add
        return original(packet)

    noted_add.noting = sink  # type: ignore[attr-defined]
    jitter.add = noted_add


def rtp_ticks(receiver: RTCRtpReceiver, timestamp: int) -> int | None:
    """The RTP ``timestamp`` of a packet on the count of its frames' timestamps (unwrapped,
    0 = the receiver's first frame), taken as the nearest to the newest frame's; None
    before the first frame."""
    tapped = getattr(receiver, _QUEUE_ATTR)
    return tapped.unwrap.ticks(timestamp) if isinstance(tapped, _TapQueue) else None


def pending_frames(receiver: RTCRtpReceiver, kind: str) -> list[EncodedFrame]:
    """Complete frames still held by the receiver's jitter buffer, oldest first.

    The video jitter buffer releases a frame only when the next frame's first
    packet arrives, and the audio one keeps a few frames of prefetch, so at the
    end of a take the newest frames are still there. They are read, not
    removed: a later packet releases them as usual.
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    tapped = getattr(receiver, _QUEUE_ATTR)
    if not isinstance(tapped, _TapQueue):
        return []
    # A copy: these frames will be unwrapped again when the jitter buffer releases them.
    unwrap = copy.copy(tapped.unwrap)
    capacity: int = jitter._capacity
    origin = jitter._origin
    if origin is None:
        return []
    groups: list[list[Any]] = []
    for count in range(capacity):
        packet = jitter._packets[(origin + count) % capacity]
        if packet is None:
            break
        if groups and groups[-1][0].timestamp == packet.timestamp:
            groups[-1].append(packet)
        else:
            groups.append([packet])
    if kind == "video" and groups and not groups[-1][-1].marker:
        groups.pop()  # a video frame ends with the marker bit: this one is incomplete
    frames = [
        EncodedFrame(b"".join(p._data for p in group), unwrap.raw(group[0].timestamp))
        for group in groups
    ]
    if frames and tapped.continuity is not None:
        first = groups[0][0]
        codec = getattr(receiver, _CODECS_ATTR, {}).get(first.payload_type)
        frames[0].lost_before, frames[0].partial = tapped.continuity.pending(codec, first, origin)
    return frames


def first_hole(receiver: RTCRtpReceiver, newest: int | None) -> int | None:
    """The sequence number of the first packet missing from the video jitter buffer
    before ``newest`` (the newest one received): the one that holds every later frame
    back. None when nothing is missing."""
    jitter = getattr(receiver, _JITTER_ATTR)
    origin = jitter._origin
    if origin is None or newest is None:
        return None
    ahead = (newest - origin) & 0xFFFF
    if ahead >= 0x8000:
        return None  # the newest packet is behind the buffer's origin: nothing waits on it
    capacity: int = jitter._capacity
    packets = jitter._packets
    for count in range(min(ahead, capacity)):
        if packets[(origin + count) % capacity] is None:
            return (origin + count) & 0xFFFF
    return None


def skip_lost(receiver: RTCRtpReceiver) -> bool:
    """Move a video jitter buffer held up by lost packets past them, now.

    aiortc waits for a missing packet until ``capacity`` (512) newer ones have
    arrived, seconds of video, and only then moves on; meanwhile every newer
    frame, the keyframe asked for included, is held back. Once the recorder (or
    :mod:`media.receive_handler`) knows media was lost, the frames after the hole
    are useless until a keyframe anyway, so it skips to the first packet after the
    last hole that starts a new timestamp (aiortc's own ``smart_remove``). The next
    frame released is marked ``lost_before``. False if nothing was held up.
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    origin = jitter._origin
    if origin is None or not jitter._is_video:
        return False
    capacity: int = jitter._capacity
    packets = jitter._packets
    held = [i for i in range(capacity) if packets[(origin + i) % capacity] is not None]
    if not held or (held[0] == 0 and held[-1] + 1 == len(held)):
        return False  # empty, or one unbroken run from the origin: nothing is held up
    # The last hole (the origin itself, when that is all): everything before it is no use
    # without a keyframe.
    newest_run = next(
        (held[i] for i in range(len(held) - 1, 0, -1) if held[i - 1] != held[i] - 1), held[0]
    )
    jitter.smart_remove(newest_run)
    return True


def request_keyframe(receiver: RTCRtpReceiver) -> list[asyncio.Task[None]]:
    """Send an RTCP PLI for every source the receiver has heard (none yet: no tasks)."""
    return [
        asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
        for source in receiver.getSynchronizationSources()
    ]

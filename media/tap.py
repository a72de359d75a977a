"""Encoded frames out of aiortc without decoding them.

aiortc has no public API for encoded frames (aiortc#449, aiortc#984). Its
``RTCRtpReceiver`` reassembles each frame in its jitter buffer and puts
``(codec, JitterFrame)`` on a private ``queue.Queue`` that a per-receiver
decoder thread drains. Before the receiver starts (aiortc fires the "track"
event before it does) we swap that queue for one that hands every frame
straight to our code on the event loop, and whose ``get`` tells the decoder
thread to exit at once: no decoder, no thread hand-off.

This is the only module that touches aiortc's private attributes. It was
written for aiortc 1.16; :func:`check_compatible` fails with a clear message
if the installed aiortc no longer looks the way it expects.
"""

from __future__ import annotations

import asyncio
import copy
import queue
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

import aiortc
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

SUPPORTED_AIORTC = "1.16"

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_STARTED_ATTR = "_RTCRtpReceiver__started"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_MAPPER_ATTR = "_RTCRtpReceiver__timestamp_mapper"


class TapUnavailable(RuntimeError):
    """The installed aiortc does not have the internals this tap relies on."""


@dataclass(slots=True)
class EncodedFrame:
    """One depacketised frame, as the sender encoded it."""

    data: bytes
    timestamp: int  # RTP timestamp, unwrapped, counted from the receiver's first frame


class FrameSink(Protocol):
    def on_packet(self, arrival: float, timestamp: int) -> bool:
        """A packet arrived; return False to hear of no more packets."""

    def on_frame(self, codec: RTCRtpCodecParameters, frame: EncodedFrame) -> None: ...

    def on_end(self) -> None: ...


class _TapQueue:
    """Stands in for the receiver's decoder queue.

    ``put`` runs on the event loop inside ``RTCRtpReceiver._handle_rtp_packet``;
    ``get`` runs once in the decoder thread, which exits when it returns None.
    """

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self._ended = False

    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            if not self._ended:
                self._ended = True
                self._sink.on_end()
            return
        codec, jitter_frame = item
        self._sink.on_frame(codec, EncodedFrame(jitter_frame.data, jitter_frame.timestamp))

    def get(self) -> None:
        return None


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
    for attr, kind in ((_QUEUE_ATTR, queue.Queue), (_STARTED_ATTR, bool)):
        value = getattr(probe, attr, None)
        if not isinstance(value, kind):
            raise TapUnavailable(
                f"aiortc {version}: RTCRtpReceiver.{attr} is {type(value).__name__}, "
                f"expected {kind.__name__}; the encoded-frame tap must be rewritten"
            )
    jitter = getattr(probe, _JITTER_ATTR, None)
    if not all(hasattr(jitter, a) for a in ("_packets", "_origin", "_capacity")):
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
    setattr(receiver, _QUEUE_ATTR, _TapQueue(sink))
    _note_packets(receiver, sink)


def _note_packets(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Tell ``sink`` when each RTP packet reaches the jitter buffer, with its RTP time,
    until it has heard enough.

    Frames leave the jitter buffer later than their packets arrive (audio
    waits for four frames of prefetch, video for the next frame's first
    packet), so packet arrivals, not frame releases, are what anchor the
    track's clock. Once the sink says it has enough, the wrapper removes
    itself: later packets go straight to ``JitterBuffer.add`` at no cost.
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    original = jitter.add

    def noted_add(packet: Any) -> Any:
        if not sink.on_packet(time.monotonic(), packet.timestamp):
            del jitter.add
        return original(packet)

    jitter.add = noted_add


def timestamp_origin(receiver: RTCRtpReceiver) -> int | None:
    """The RTP timestamp aiortc rebased to 0 (its first released frame's), once known."""
    origin = getattr(receiver, _MAPPER_ATTR)._origin
    return None if origin is None else int(origin)


def pending_frames(receiver: RTCRtpReceiver, kind: str) -> list[EncodedFrame]:
    """Complete frames still held by the receiver's jitter buffer, oldest first.

    The video jitter buffer releases a frame only when the next frame's first
    packet arrives, and the audio one keeps a few frames of prefetch, so at the
    end of a take the newest frames are still there. They are read, not
    removed: a later packet releases them as usual.
    """
    jitter = getattr(receiver, _JITTER_ATTR)
    # A copy: mapping moves the mapper's wrap detection forward, and these frames
    # will be mapped again when the jitter buffer releases them.
    mapper = copy.copy(getattr(receiver, _MAPPER_ATTR))
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
    return [
        EncodedFrame(b"".join(p._data for p in group), mapper.map(group[0].timestamp))
        for group in groups
    ]


def request_keyframe(receiver: RTCRtpReceiver) -> list[asyncio.Task[None]]:
    """Send an RTCP PLI for every source the receiver has heard (none yet: no tasks)."""
    return [
        asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
        for source in receiver.getSynchronizationSources()
    ]

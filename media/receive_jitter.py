"""aiortc's video jitter buffer, releasing the same frames without rescanning them.

``aiortc.jitterbuffer.JitterBuffer._remove_frame`` runs for every packet: it walks the
buffer from its origin over every packet it holds until the first packet of the next
timestamp (a whole frame: released) or the first hole. While a frame's packets arrive,
each one walks over all those before it again, so a frame of *n* packets costs n²/2
steps: ~1,000 for a 640x480 keyframe of 45 packets, 6% of the event loop at 96 cameras.

:class:`VideoJitterBuffer` keeps how far the last walk got (the run of packets from the
origin, all of the origin's timestamp) and goes on from there, as long as nothing it
walked over changed: the origin did not move (``remove``, ``smart_remove``, a new origin
in ``add``) and the new packet landed after the run (a duplicate or retransmission inside
it, possibly with another timestamp, starts the walk afresh). Everything else is
aiortc's class, so the receiver, :mod:`media.tap`'s wrappers of ``remove`` and
``smart_remove`` and its reads of ``_packets``/``_origin`` see no difference; only the
video buffer (no prefetch) is replaced. tests/unit/media/test_receive_jitter.py feeds
both the same packets (losses, reordering, duplicates, jumps, wraps) and checks every
frame and every state.
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket


class VideoJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer for video (no prefetch) with a resumed walk (see the module)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity, prefetch=0, is_video=True)
        self._run = 0  # packets from the origin, all of one timestamp, walked already
        self._run_origin: int | None = None
        self._run_timestamp = 0

    @classmethod
    def replacing(cls, jitter: Any) -> VideoJitterBuffer | None:
        """A new buffer to use instead of ``jitter``, if it is aiortc's video buffer and
        has seen no packet yet; None otherwise (kept as it is)."""
        if (
            type(jitter) is not JitterBuffer
            or not jitter._is_video
            or jitter._prefetch
            or jitter._origin is not None
        ):
            return None
        return cls(jitter.capacity)

    def remove(self, count: int) -> None:
        self._run = 0
        super().remove(count)

    def smart_remove(self, count: int) -> bool:
        self._run = 0
        return super().smart_remove(count)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        origin = self._origin
        if origin is None:
            return None
        run = self._run
        if run and (self._run_origin != origin or (sequence_number - origin) & 0xFFFF < run):
            run = 0  # the origin moved, or a packet landed inside the run: walk again
        packets: list[RtpPacket | None] = self._packets
        capacity = self._capacity
        timestamp = self._run_timestamp
        count = run
        while count < capacity:
            packet = packets[(origin + count) % capacity]
            if packet is None:
                break
            if count == 0:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # the frame before it is complete
                start = origin % capacity
                if start + count <= capacity:
                    parts = packets[start : start + count]
                else:
                    parts = packets[start:] + packets[: start + count - capacity]
                frame = JitterFrame(
                    data=b"".join([p._data for p in parts]),  # type: ignore[union-attr]
                    timestamp=timestamp,
                )
                self.remove(count)
                return frame
            count += 1
        self._run, self._run_origin, self._run_timestamp = count, origin, timestamp
        return None

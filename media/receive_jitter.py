"""aiortc's video jitter buffer, releasing the same frames for less.

``aiortc.jitterbuffer.JitterBuffer._remove_frame`` runs for every packet: it walks the
buffer from its origin over every packet it holds until the first packet of the next
timestamp (a whole frame: released) or the first hole. While a frame's packets arrive,
each one walks over all those before it again, so a frame of *n* packets costs n²/2
steps: ~1,000 for a 640x480 keyframe of 45 packets, 6% of the event loop at 96 cameras.
Around it, ``add`` computes two 16-bit differences by function calls and reads the
capacity through a property, and ``remove`` clears the released slots one by one, a
function call each to move the origin.

:class:`VideoJitterBuffer` keeps how far the last walk got (the run of packets from the
origin, all of the origin's timestamp) and goes on from there, as long as nothing it
walked over changed: the origin did not move (``remove``, ``smart_remove``, a new origin
in ``add``) and the new packet landed after the run (a duplicate or retransmission inside
it, possibly with another timestamp, starts the walk afresh); it does ``add``'s
arithmetic inline and ``remove`` by slices. Everything else is aiortc's class, so the
receiver, :mod:`media.tap`'s wrappers of ``add``, ``remove`` and ``smart_remove`` and
its reads of ``_packets``/``_origin`` see no difference. Only the video buffer is
replaced: the audio one (four frames of prefetch, one packet each) walks five packets a
packet, which a resumed walk did not make cheaper. tests/unit/media/test_receive_jitter.py
feeds aiortc's buffer and this one the same packets (losses, reordering, duplicates,
jumps, wraps) and checks every frame and every state.
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import MAX_MISORDER, JitterBuffer, JitterFrame
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

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli = False
        sequence_number = packet.sequence_number
        origin = self._origin
        if origin is None:
            self._origin = sequence_number
            delta = misorder = 0
        else:
            delta = (sequence_number - origin) & 0xFFFF
            misorder = (origin - sequence_number) & 0xFFFF
        if misorder < delta:
            if misorder >= MAX_MISORDER:
                self.remove(self._capacity)
                self._origin = sequence_number
                delta = 0
                pli = True
            else:
                return pli, None
        capacity = self._capacity
        if delta >= capacity:  # make room: the oldest frames go
            if self.smart_remove(delta - capacity + 1):
                self._origin = sequence_number
            pli = True
        self._packets[sequence_number % capacity] = packet
        return pli, self._remove_frame(sequence_number)

    def remove(self, count: int) -> None:
        self._run = 0
        capacity = self._capacity
        assert count <= capacity
        if not count:
            return
        origin = self._origin
        assert origin is not None
        start = origin % capacity
        packets = self._packets
        end = start + count
        if end <= capacity:
            packets[start:end] = [None] * count
        else:
            packets[start:] = [None] * (capacity - start)
            packets[: end - capacity] = [None] * (end - capacity)
        self._origin = (origin + count) & 0xFFFF

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
                return self._frame(count, timestamp)
            count += 1
        self._run, self._run_origin, self._run_timestamp = count, origin, timestamp
        return None

    def _frame(self, count: int, timestamp: int) -> JitterFrame:
        """The frame of the ``count`` packets from the origin, removed from the buffer."""
        origin = self._origin
        assert origin is not None
        capacity = self._capacity
        packets = self._packets
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

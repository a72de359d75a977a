"""aiortc's jitter buffers, releasing the same frames for less.

``aiortc.jitterbuffer.JitterBuffer._remove_frame`` runs for every packet: it walks the
buffer from its origin over every packet it holds until the first packet of the next
timestamp (a whole frame: released) or the first hole. While a video frame's packets
arrive, each one walks over all those before it again, so a frame of *n* packets costs
n²/2 steps: ~1,000 for a 640x480 keyframe of 45 packets, 6% of the event loop at 96
cameras. The audio buffer holds four frames back (prefetch), so each Opus packet walks
five and builds a list of them. Around it, ``add`` computes two 16-bit differences by
function calls and reads the capacity through a property, and ``remove`` clears the
released slots one by one, a function call each to move the origin.

Both buffers here keep how far the last walk got (the run of packets from the origin
with no hole) and go on from there, as long as nothing it walked over changed: the
origin did not move (``remove``, ``smart_remove``, a new origin in ``add``) and the new
packet landed after the run (a duplicate or retransmission inside it, possibly with
another timestamp, starts the walk afresh). The walk keeps where each frame in the run
ends, so releasing the first frame (video: at once; audio: once four more are complete)
keeps the rest of the run walked. Both do ``add``'s
arithmetic inline and ``remove`` by slices. Everything else is aiortc's class, so the
receiver, :mod:`media.tap`'s wrappers of ``add``, ``remove`` and ``smart_remove`` and its
reads of ``_packets``/``_origin`` see no difference (a packet: 1.4 -> 0.65 µs for video,
1.9 -> 1.1 µs for audio, in a loop of each). tests/unit/media/test_receive_jitter.py
feeds aiortc's buffers and these the same packets (losses, reordering, duplicates,
jumps, wraps) and checks every frame and every state.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from aiortc.jitterbuffer import MAX_MISORDER, JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket


class _Buffer(JitterBuffer):
    """aiortc's buffer with ``add`` and ``remove`` inline, and a walk from the origin that
    goes on where the last one stopped (:attr:`_run` packets, no hole among them), keeping
    where the frames in it end (as sequence numbers, which a release does not move)."""

    def __init__(self, capacity: int, prefetch: int, is_video: bool) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        self._run = 0  # packets from the origin walked already (0: walk afresh)
        self._run_origin: int | None = None
        self._run_timestamp = 0  # the last one's
        self._ends: deque[int] = deque()  # the first packet of each frame after the first

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
                pli = self._is_video
            else:
                return pli, None
        capacity = self._capacity
        if delta >= capacity:  # make room: the oldest frames go
            if self.smart_remove(delta - capacity + 1):
                self._origin = sequence_number
            pli = self._is_video
        self._packets[sequence_number % capacity] = packet
        return pli, self._remove_frame(sequence_number)

    def remove(self, count: int) -> None:
        self._run = 0  # what the walk went over may have moved
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

    def _resumed(self, sequence_number: int) -> int:
        """How many packets from the origin need no walk again for ``sequence_number``'s."""
        run = self._run
        if run and (
            self._run_origin != self._origin
            or (sequence_number - (self._origin or 0)) & 0xFFFF < run
        ):
            return 0  # the origin moved, or a packet landed inside the run: walk again
        return run

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        origin = self._origin
        if origin is None:
            return None
        run = self._resumed(sequence_number)
        ends = self._ends
        if not run:
            ends.clear()
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
                ends.append((origin + count) & 0xFFFF)
                timestamp = packet.timestamp
                if len(ends) >= self._prefetch:  # enough held back (video: none): the first goes
                    first = (ends.popleft() - origin) & 0xFFFF
                    first_packet = packets[origin % capacity]
                    assert first_packet is not None
                    frame = self._frame(first, first_packet.timestamp)
                    # the rest of the walk stands, from the new origin
                    self._run, self._run_origin = count + 1 - first, self._origin
                    self._run_timestamp = timestamp
                    return frame
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
        if count == 1:  # (an Opus frame, a small video one)
            data = packets[start]._data  # type: ignore[union-attr]
        else:
            if start + count <= capacity:
                parts = packets[start : start + count]
            else:
                parts = packets[start:] + packets[: start + count - capacity]
            data = b"".join([p._data for p in parts])  # type: ignore[union-attr]
        frame = JitterFrame(data, timestamp)
        self.remove(count)
        return frame


class VideoJitterBuffer(_Buffer):
    """aiortc's jitter buffer for video (no prefetch) with a resumed walk (see the module)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity, prefetch=0, is_video=True)

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


class AudioJitterBuffer(_Buffer):
    """aiortc's audio jitter buffer (``prefetch`` frames held back) with a resumed walk."""

    def __init__(self, capacity: int, prefetch: int) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=False)

    @classmethod
    def replacing(cls, jitter: Any) -> AudioJitterBuffer | None:
        """A new buffer to use instead of ``jitter``, if it is aiortc's audio buffer and
        has seen no packet yet; None otherwise (kept as it is)."""
        if type(jitter) is not JitterBuffer or jitter._is_video or jitter._origin is not None:
            return None
        return cls(jitter.capacity, jitter._prefetch)

"""aiortc's receive-side bandwidth estimate (REMB for Chromium), the same figures for less.

``aiortc.rate.RemoteBitrateEstimator`` runs for every video packet: the delay-based
estimate Chromium's sender relies on when it is sent REMB, so it stays as it is.
Five of its parts cost far more than they need to:

- ``RateCounter`` keeps the last second in 1000 one-millisecond buckets and, on
  every packet (twice: ``rate`` then ``add``), walks bucket by bucket over every
  millisecond since the previous packet to empty them;
- ``InterArrival`` groups packets by send time with four method calls a packet and
  two objects a group;
- ``OveruseEstimator.update_min_frame_period`` finds the smallest of the last 60
  frame periods with a Python loop of ``min`` calls, once per group of packets;
- ``add`` itself calls ``feedback_interval()`` (a constant), asks the detector for its
  state by a method call and compares it with an enum member looked up on its class,
  and works out the incoming rate only to see whether there is one yet, for every packet;
- while the detector says "overusing", ``add`` updates the rate control and returns
  a REMB for **every** packet, and the receiver protects and sends each one: on a
  busy server (arrival delays growing) that was a fifth of the event loop. libwebrtc
  (``RemoteBitrateEstimatorAbsSendTime``, ``AimdRateControl::TimeToReduceFurther``)
  reduces again only once the last change is a round trip old (clamped to 10-200 ms)
  or when the incoming rate has fallen below half the estimate.

:class:`Estimator` is aiortc's class with those five replaced: a counter that keeps
the packets of the last second in arrival order (one entry for those of one
millisecond) and drops the old ones from the front, the groups as a few fields of one
object (:class:`SendGroups`), a running minimum of the frame periods, those two
constants read once, the detector's state read as its attribute, whether there is a
rate yet without working it out (:meth:`PacketRate.counting`), and libwebrtc's rule for
reducing again. Every other step (the Kalman filter, the overuse detector, the AIMD
rate control, the periodic REMB) is aiortc's own code.
tests/unit/media/test_receive_rate.py feeds both the same packets: every figure and
REMB is aiortc's until the detector first says "overusing"; then the same first
reduction, and the next no sooner than libwebrtc.
"""

from __future__ import annotations

import bisect
from collections import deque

from aiortc.rate import (
    BURST_DELTA_THRESHOLD_MS,
    INTER_ARRIVAL_SHIFT,
    MIN_FRAME_PERIOD_HISTORY_LENGTH,
    TIMESTAMP_GROUP_LENGTH_MS,
    TIMESTAMP_TO_MS,
    BandwidthUsage,
    OveruseEstimator,
    RemoteBitrateEstimator,
)

_GROUP_LENGTH = (TIMESTAMP_GROUP_LENGTH_MS << INTER_ARRIVAL_SHIFT) // 1000  # send time
_OVERUSING = BandwidthUsage.OVERUSING
_MASK, _HALF = 0xFFFFFFFF, 0x80000000  # send times are 32-bit, compared as aiortc does

# libwebrtc's AimdRateControl: reduce again no sooner than a round trip after the last
# change, the round trip clamped to this (aiortc's rate control assumes 200 ms), ...
MIN_REDUCTION_INTERVAL_MS, MAX_REDUCTION_INTERVAL_MS = 10, 200
# ... unless the incoming rate fell below this share of the current estimate
REDUCE_AT_ONCE_BELOW = 0.5


class PacketRate:
    """``aiortc.rate.RateCounter`` over packets instead of millisecond buckets.

    Its window starts at the first packet's millisecond and then follows the clock,
    ``window_ms`` long; ``rate`` is ``scale * bytes in the window / its length``. A
    packet stamped before the window's start (arrival jitter right after the first
    packet) counts, as in aiortc's wrapped bucket index, as arriving a window later.
    The packets of one millisecond (a frame's, often) are kept as one entry.
    """

    __slots__ = ("_origin_ms", "_packets", "_scale", "_total", "_window_ms")

    def __init__(self, window_ms: int, scale: int = 8000) -> None:
        self._window_ms = window_ms
        self._scale = scale
        self.reset()

    def reset(self) -> None:
        self._origin_ms: int | None = None
        self._packets: deque[list[int]] = deque()  # [ms, bytes], in time order
        self._total = 0

    def add(self, value: int, now_ms: int) -> None:
        origin = self._origin_ms
        if origin is None:
            self._origin_ms = origin = now_ms
        elif origin < now_ms - self._window_ms + 1:
            origin = self._erase_old(now_ms)
        if now_ms < origin:  # aiortc's bucket index wraps: a window later
            now_ms = origin + (now_ms - origin) % self._window_ms
        packets = self._packets
        if packets and now_ms <= packets[-1][0]:
            last = packets[-1]
            if now_ms == last[0]:
                last[1] += value
            else:  # arrived out of order (jitter): kept in time order, as a bucket would be
                at = bisect.bisect_left(packets, now_ms, key=_ms)
                if packets[at][0] == now_ms:
                    packets[at][1] += value
                else:
                    packets.insert(at, [now_ms, value])
        else:
            packets.append([now_ms, value])
        self._total += value

    def counting(self, now_ms: int) -> bool:
        """Whether :meth:`rate` has a figure now (the window moved on to ``now_ms``): some
        packets in a window over a millisecond long. The estimate asks it every packet."""
        origin = self._origin_ms
        if origin is None:
            return False
        if origin < now_ms - self._window_ms + 1:
            origin = self._erase_old(now_ms)
        return bool(self._packets) and now_ms > origin

    def rate(self, now_ms: int) -> int | None:
        if not self.counting(now_ms):
            return None
        assert self._origin_ms is not None
        return round(self._scale * self._total / (now_ms - self._origin_ms + 1))

    def _erase_old(self, now_ms: int) -> int:
        """Move the window's start to follow ``now_ms``: the new start."""
        self._origin_ms = origin = now_ms - self._window_ms + 1
        packets = self._packets
        while packets and packets[0][0] < origin:
            self._total -= packets.popleft()[1]
        return origin


def _ms(packet: list[int]) -> int:
    return packet[0]


class _OveruseEstimator(OveruseEstimator):
    """aiortc's, the smallest recent frame period kept as a running minimum."""

    def __init__(self) -> None:
        super().__init__()
        self._periods = 0  # frame periods seen
        self._minima: deque[tuple[int, float]] = deque()  # (index, period), rising

    def update_min_frame_period(self, ts_delta: float) -> float:
        # aiortc: the smallest of the last MIN_FRAME_PERIOD_HISTORY_LENGTH - 1 periods
        # before this one (and this one), its history list kept for what reads it
        history = self.ts_delta_hist
        if len(history) >= MIN_FRAME_PERIOD_HISTORY_LENGTH:
            del history[0]
        history.append(ts_delta)
        index = self._periods
        self._periods = index + 1
        minima = self._minima
        while minima and minima[0][0] <= index - MIN_FRAME_PERIOD_HISTORY_LENGTH:
            minima.popleft()
        smallest = minima[0][1] if minima and minima[0][1] < ts_delta else ts_delta
        while minima and minima[-1][1] >= ts_delta:
            minima.pop()
        minima.append((index, ts_delta))
        return smallest


class SendGroups:
    """``aiortc.rate.InterArrival`` as a few fields: packets grouped by send time (a
    group: 5 ms of send time, or a burst), and when a packet opens a new group, the
    deltas (send time, arrival ms, bytes) of the group it closes against the one
    before, as ``compute_deltas`` returns them. A packet sent before the current
    group's start is out of order and counted in none."""

    __slots__ = (
        "_arrival",
        "_first",
        "_last",
        "_prev_arrival",
        "_prev_last",
        "_prev_size",
        "_size",
    )

    def __init__(self) -> None:
        self._first: int | None = None  # the current group's first send time; None: none yet
        self._last = self._arrival = self._size = 0
        self._prev_last: int | None = None  # the group before; None: none yet
        self._prev_arrival = self._prev_size = 0

    def add(self, timestamp: int, arrival_ms: int, size: int) -> tuple[int, int, int] | None:
        deltas = None
        first = self._first
        if first is None:
            self._first = self._last = timestamp
        elif (timestamp - first) & _MASK >= _HALF:
            return None
        else:
            last = self._last
            ahead = (timestamp - last) & _MASK  # of the group's last send time
            ahead_ms = round(TIMESTAMP_TO_MS * ahead)
            waited = arrival_ms - self._arrival
            burst = ahead_ms == 0 or (waited - ahead_ms < 0 and waited <= BURST_DELTA_THRESHOLD_MS)
            if not burst and (timestamp - first) & _MASK > _GROUP_LENGTH:
                if self._prev_last is not None:
                    deltas = (
                        (last - self._prev_last) & _MASK,
                        self._arrival - self._prev_arrival,
                        self._size - self._prev_size,
                    )
                self._prev_last, self._prev_arrival, self._prev_size = (
                    last,
                    self._arrival,
                    self._size,
                )
                self._first = self._last = timestamp
                self._size = 0
            elif ahead < _HALF:  # not before the group's last (aiortc: uint32_gt)
                self._last = timestamp
        self._size += size
        self._arrival = arrival_ms
        return deltas


class Estimator(RemoteBitrateEstimator):
    """aiortc's estimator with the cheaper rate counter, send-time groups and
    frame-period minimum, and libwebrtc's pace for reducing while overusing (see the
    module)."""

    def __init__(self) -> None:
        super().__init__()
        self._incoming = PacketRate(1000, 8000)
        self.incoming_bitrate = self._incoming  # type: ignore[assignment]  # (aiortc's name)
        self.estimator = _OveruseEstimator()
        self.groups = SendGroups()
        self._feedback_ms = self.rate_control.feedback_interval()  # aiortc's: a constant

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        """One video packet; the REMB to send now (bitrate, SSRCs), if one is due."""
        self.ssrcs[ssrc] = arrival_time_ms
        incoming = self._incoming
        if incoming.counting(arrival_time_ms):
            self.incoming_bitrate_initialized = True
        elif self.incoming_bitrate_initialized:  # a second with no packet: start afresh
            incoming.reset()
            self.incoming_bitrate_initialized = False
        incoming.add(payload_size, arrival_time_ms)

        detector = self.detector
        deltas = self.groups.add(abs_send_time << 8, arrival_time_ms, payload_size)
        if deltas is not None:  # a group of packets is complete: the delay filter moves
            sent, arrived, size = deltas
            timestamp_delta_ms = sent * TIMESTAMP_TO_MS
            estimator = self.estimator
            estimator.update(
                arrived, timestamp_delta_ms, size, detector.hypothesis, arrival_time_ms
            )
            detector.detect(
                estimator.offset(), timestamp_delta_ms, estimator.num_of_deltas(), arrival_time_ms
            )

        last = self.last_update_ms
        if last is None or arrival_time_ms - last > self._feedback_ms:
            pass  # the periodic REMB
        elif detector.hypothesis is not _OVERUSING or not self._time_to_reduce_further(
            arrival_time_ms
        ):
            return None
        control = self.rate_control
        target = control.update(
            detector.hypothesis, incoming.rate(arrival_time_ms), arrival_time_ms
        )
        if target is None:
            return None
        self.last_update_ms = arrival_time_ms
        return target, list(self.ssrcs)

    def _time_to_reduce_further(self, now_ms: int) -> bool:
        control = self.rate_control
        interval = min(max(control.rtt, MIN_REDUCTION_INTERVAL_MS), MAX_REDUCTION_INTERVAL_MS)
        changed = control.last_change_ms
        if changed is None or now_ms - changed >= interval:
            return True
        if not control.current_bitrate_initialized:
            return False
        rate = self.incoming_bitrate.rate(now_ms)
        return rate is not None and rate < REDUCE_AT_ONCE_BELOW * control.current_bitrate

"""aiortc's receive-side bandwidth estimate (REMB for Chromium), the same figures for less.

``aiortc.rate.RemoteBitrateEstimator`` runs for every video packet: the delay-based
estimate Chromium's sender relies on when it is sent REMB, so it stays as it is.
Two of its parts cost far more than they need to:

- ``RateCounter`` keeps the last second in 1000 one-millisecond buckets and, on
  every packet (twice: ``rate`` then ``add``), walks bucket by bucket over every
  millisecond since the previous packet to empty them;
- ``OveruseEstimator.update_min_frame_period`` finds the smallest of the last 60
  frame periods with a Python loop of ``min`` calls, once per group of packets.

:class:`Estimator` is aiortc's class with those two replaced: a counter that keeps
the packets of the last second in arrival order and drops the old ones from the
front, and one builtin ``min``. Every other step (inter-arrival groups, the Kalman
filter, the overuse detector, the AIMD rate control, when a REMB is due) is
aiortc's own code. tests/unit/media/test_receive_rate.py feeds both the same
packets and checks every figure and every REMB is the same.
"""

from __future__ import annotations

import bisect
from collections import deque

from aiortc.rate import (
    MIN_FRAME_PERIOD_HISTORY_LENGTH,
    OveruseEstimator,
    RemoteBitrateEstimator,
)


class PacketRate:
    """``aiortc.rate.RateCounter`` over packets instead of millisecond buckets.

    Its window starts at the first packet's millisecond and then follows the clock,
    ``window_ms`` long; ``rate`` is ``scale * bytes in the window / its length``. A
    packet stamped before the window's start (arrival jitter right after the first
    packet) counts, as in aiortc's wrapped bucket index, as arriving a window later.
    """

    __slots__ = ("_count", "_origin_ms", "_packets", "_scale", "_total", "_window_ms")

    def __init__(self, window_ms: int, scale: int = 8000) -> None:
        self._window_ms = window_ms
        self._scale = scale
        self.reset()

    def reset(self) -> None:
        self._origin_ms: int | None = None
        self._packets: deque[tuple[int, int]] = deque()
        self._total = 0
        self._count = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        if now_ms < self._origin_ms:  # aiortc's bucket index wraps: a window later
            now_ms = self._origin_ms + (now_ms - self._origin_ms) % self._window_ms
        packets = self._packets
        if not packets or now_ms >= packets[-1][0]:
            packets.append((now_ms, value))
        else:  # arrived out of order (jitter): kept in time order, as a bucket would be
            packets.insert(bisect.bisect_right(packets, now_ms, key=_ms), (now_ms, value))
        self._total += value
        self._count += 1

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is None:
            return None
        self._erase_old(now_ms)
        active_window_ms = now_ms - self._origin_ms + 1
        if self._count > 0 and active_window_ms > 1:
            return round(self._scale * self._total / active_window_ms)
        return None

    def _erase_old(self, now_ms: int) -> None:
        new_origin_ms = now_ms - self._window_ms + 1
        assert self._origin_ms is not None
        if self._origin_ms >= new_origin_ms:
            return
        self._origin_ms = new_origin_ms
        packets = self._packets
        while packets and packets[0][0] < new_origin_ms:
            self._total -= packets.popleft()[1]
            self._count -= 1


def _ms(packet: tuple[int, int]) -> int:
    return packet[0]


class _OveruseEstimator(OveruseEstimator):
    def update_min_frame_period(self, ts_delta: float) -> float:
        history = self.ts_delta_hist
        if len(history) >= MIN_FRAME_PERIOD_HISTORY_LENGTH:
            del history[0]
        smallest = min(history, default=ts_delta)
        history.append(ts_delta)
        return ts_delta if ts_delta < smallest else smallest


class Estimator(RemoteBitrateEstimator):
    """aiortc's estimator with the cheaper rate counter and frame-period minimum."""

    def __init__(self) -> None:
        super().__init__()
        self.incoming_bitrate = PacketRate(1000, 8000)  # type: ignore[assignment]
        self.estimator = _OveruseEstimator()

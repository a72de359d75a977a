"""``examcast bench --capacity``: how many streams one core records without falling behind.

A step runs N candidates for ``--seconds`` against a fresh server (pinned to one core, as a
plain run is) and *holds* when every frame sent was written and the recorder kept up: p99
of its lag (bench/lag.py) at most a second. The count goes up by half (at least
``resolution``) from ``start`` until a step fails, then halves the interval between the
last count that held and the first that failed until it is ``resolution`` wide.
``capacity_streams`` is the last count that held. The baseline (aiortc's
``MediaRecorder``) is stepped the same way from one stream, one at a time; it has no lag
histogram, so its lag is ``max_recorder_lag_ms`` (how late frames reached its encoder).

The search is pure (:class:`CapacitySearch`, :func:`judge`, :func:`search`): tests drive it
with made-up measurements.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.lag import P99_LIMIT_MS

GROWTH = 1.5
STEP_KEYS = (
    "frames_sent",
    "frames_missing",
    "udp_drops",
    "recorder_lag_p50_ms",
    "recorder_lag_p99_ms",
    "max_recorder_lag_ms",
    "cpu_per_stream_pct",
    "server_cpu_pct",
    "loadgen_cpu_pct",
    "loadgen_max_late_ms",
    "loadgen_bound",
    "other_cpu_pct",
    "window_s",
    "error",
)


@dataclass
class CapacitySearch:
    """Which stream count to try next, from the counts that held or failed so far."""

    start: int
    limit: int
    resolution: int = 1
    growth: float = GROWTH
    held_max: int = 0  # the largest count that held
    failed_min: int | None = None  # the smallest count that failed
    tried: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.start <= self.limit or self.resolution < 1 or self.growth <= 1:
            raise ValueError("need 1 <= start <= limit, resolution >= 1, growth > 1")

    def next(self) -> int | None:
        """The next count to measure, or None when the capacity is known."""
        if not self.tried:
            return self.start
        if self.failed_min is None:  # still going up
            if self.held_max >= self.limit:
                return None
            up = max(math.ceil(self.held_max * self.growth), self.held_max + self.resolution)
            return min(up, self.limit)
        if self.failed_min - self.held_max <= self.resolution:
            return None
        return (self.held_max + self.failed_min) // 2

    def record(self, streams: int, held: bool) -> None:
        self.tried.append(streams)
        if held:
            self.held_max = max(self.held_max, streams)
        elif self.failed_min is None or streams < self.failed_min:
            self.failed_min = streams

    @property
    def capacity(self) -> int:
        """The largest count that held (0: not even the first)."""
        return self.held_max


def judge(result: dict[str, Any], baseline: bool = False) -> tuple[bool, str]:
    """(held, why not) for one step's figures."""
    if result.get("error"):
        return False, str(result["error"])
    missing = result.get("frames_missing") or 0
    if baseline and missing and result.get("streams_missing_over_one_frame") == 0:
        # aiortc's jitter buffer hands a frame on only when a packet of the next one comes,
        # so MediaRecorder never gets each stream's last frame: not a sign of load.
        missing = 0
    if missing > 0:
        return False, f"{missing} frame(s) not written"
    if not result.get("frames_sent"):
        return False, "no frame sent"
    if baseline:
        lag = result.get("max_recorder_lag_ms")
        if lag is not None and lag > P99_LIMIT_MS:
            return False, f"max_recorder_lag_ms {lag} over {P99_LIMIT_MS:g}"
        return True, ""
    p99 = result.get("recorder_lag_p99_ms")
    if p99 is None:
        return False, "no recorder lag read from /metrics"
    if p99 > P99_LIMIT_MS:
        return False, f"recorder_lag_p99_ms {p99} over {P99_LIMIT_MS:g}"
    return True, ""


Measure = Callable[[int], Awaitable[dict[str, Any]]]


async def search(
    plan: CapacitySearch,
    measure_step: Measure,
    progress: Callable[[str], None],
    *,
    baseline: bool = False,
    name: str = "examcast",
    step_errors: tuple[type[Exception], ...] = (),
) -> dict[str, Any]:
    """Run steps until the capacity is known: ``capacity_streams`` and every step.

    A step that raises one of ``step_errors`` (the load generator lost candidates' connections
    to an overloaded server, the server died) did not hold; the search goes on."""
    steps: list[dict[str, Any]] = []
    while (streams := plan.next()) is not None:
        progress(f"{name} capacity: step {len(steps) + 1}, {streams} stream(s)")
        try:
            result = await measure_step(streams)
        except step_errors as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        held, why = judge(result, baseline)
        if not held and result.get("loadgen_bound"):
            why += (
                f" while the load generator was the limit (loadgen_cpu_pct "
                f"{result.get('loadgen_cpu_pct')}, loadgen_max_late_ms "
                f"{result.get('loadgen_max_late_ms')}): the server may have held"
            )
        plan.record(streams, held)
        step: dict[str, Any] = {"streams": streams, "held": held, "why_not": why or None}
        step.update({k: result.get(k) for k in STEP_KEYS})
        step["load_average_1m"] = load_average()
        steps.append(step)
        progress(
            f"{name} capacity: {streams} stream(s) " + ("held" if held else f"did not hold ({why})")
        )
    return {"capacity_streams": plan.capacity, "steps": steps}


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - every Linux has it
        return None


NOTE = (
    "Each step is a fresh server pinned to one core and --seconds of recording; held: every "
    "frame sent was written and the recorder's p99 lag over the step (bench/lag.py) was at "
    "most 1 s. capacity_streams is the largest count that held. On a shared machine a step "
    "can fail for others' load: read load_average_1m and other_cpu_pct of each step, and "
    "loadgen_cpu_pct (near 100: the load generator, not the server, was the limit; "
    "loadgen_bound says so, and a step that failed while it was says so in why_not)."
)

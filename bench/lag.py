"""The recorder's lag over time: percentiles per window from the server's ``/metrics``.

The server samples how long frames waited between the recorder and the file
(``examcast_recorder_lag_seconds``, a histogram: the oldest frame of each write pass of a
segment, so a pass that kept a frame waiting counts once). :class:`LagSampler` reads the
histogram's cumulative buckets every ``window_s`` from the first sender's start until every
take is stopped; the difference between two reads is that window's distribution.
Percentiles are interpolated inside their bucket as Prometheus' ``histogram_quantile``
does; a window's ``max_ms`` is the upper bound of its highest non-empty bucket (the exact
largest wait of the whole run is ``max_recorder_lag_ms``, from the manifests).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

LAG_BUCKET = "examcast_recorder_lag_seconds_bucket"
WINDOW_S = 10.0
P99_LIMIT_MS = 1000.0  # the goal: p99 under a second

Buckets = list[tuple[float, float]]  # (upper bound in seconds, cumulative count), ascending


def lag_buckets(text: str) -> Buckets:
    """The recorder-lag histogram's cumulative buckets in a ``/metrics`` text."""
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == LAG_BUCKET:
                le = float(sample.labels["le"])
                out[le] = out.get(le, 0.0) + sample.value
    return sorted(out.items())


def difference(after: Buckets, before: Buckets) -> Buckets:
    """The samples between two reads of the same histogram."""
    old = dict(before)
    return [(le, count - old.get(le, 0.0)) for le, count in after]


def quantile(buckets: Buckets, q: float) -> float | None:
    """The ``q`` quantile (0-1) of a cumulative histogram, in seconds; None when empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower  # past the last finite bound: all that can be said
            inside = count - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = le, count
    return lower


def highest(buckets: Buckets) -> float | None:
    """The upper bound (seconds) of the highest bucket holding a sample (inf past the last)."""
    below = 0.0
    top = None
    for le, count in buckets:
        if count > below:
            top = le
        below = count
    return top


def summary(buckets: Buckets) -> dict[str, Any]:
    """``samples``, ``p50_ms``, ``p99_ms``, ``max_ms`` of one window's histogram."""
    n = int(buckets[-1][1]) if buckets else 0
    top = highest(buckets)
    return {
        "samples": n,
        "p50_ms": _ms(quantile(buckets, 0.50)),
        "p99_ms": _ms(quantile(buckets, 0.99)),
        "max_ms": None if top is None else ("inf" if math.isinf(top) else _ms(top)),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


@dataclass
class LagSampler:
    """Reads the lag histogram every ``window_s`` (call :meth:`start`, then :meth:`stop`)."""

    scrape: Callable[[], Awaitable[str]]
    window_s: float = WINDOW_S
    reads: list[tuple[float, Buckets]] = field(default_factory=list)  # (monotonic, buckets)
    errors: int = 0
    _task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        try:
            text = await self.scrape()
        except Exception:  # a missed read widens one window; the run goes on
            self.errors += 1
            return
        self.reads.append((time.monotonic(), lag_buckets(text)))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        await self.read()
        while True:
            await asyncio.sleep(self.window_s)
            await self.read()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.read()

    def figures(self) -> dict[str, Any]:
        """``recorder_lag``: overall and per-window percentiles (docs/bench.md)."""
        return lag_figures(self.reads, self.window_s, self.errors)


def lag_figures(
    reads: list[tuple[float, Buckets]], window_s: float, errors: int = 0
) -> dict[str, Any]:
    if len(reads) < 2:
        return {"recorder_lag": None}
    t0 = reads[0][0]
    windows = []
    for (t_a, a), (t_b, b) in itertools.pairwise(reads):
        window = summary(difference(b, a))
        windows.append({"t_s": round(t_a - t0, 1), "s": round(t_b - t_a, 1), **window})
    overall = summary(difference(reads[-1][1], reads[0][1]))
    p99s = [w["p99_ms"] for w in windows if w["p99_ms"] is not None]
    return {
        "recorder_lag": {
            **overall,
            "window_s": window_s,
            "worst_window_p99_ms": max(p99s) if p99s else None,
            "windows_p99_over_1s": sum(1 for p in p99s if p > P99_LIMIT_MS),
            "windows": windows,
            "scrape_errors": errors,
        },
        "recorder_lag_p50_ms": overall["p50_ms"],
        "recorder_lag_p99_ms": overall["p99_ms"],
    }

"""``examcast bench --capacity``: the stepping and the recorder-lag windows, with made-up
measurements (the bench itself is a program, not a test: docs/bench.md)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from bench import run as bench_run
from bench.capacity import CapacitySearch, judge, search
from bench.lag import difference, lag_buckets, lag_figures, quantile, summary
from bench.loadgen import LoadFailed
from bench.report import loadgen_bound


def fake_server(capacity: int, lag_over: int | None = None) -> tuple[list[int], Any]:
    """A server that writes every frame up to ``capacity`` streams and loses some past it;
    from ``lag_over`` streams on its p99 lag is 2 s (every frame still written)."""
    asked: list[int] = []

    async def measure(streams: int) -> dict[str, Any]:
        asked.append(streams)
        lagging = lag_over is not None and streams >= lag_over
        return {
            "frames_sent": streams * 300,
            "frames_missing": 0 if streams <= capacity else streams - capacity,
            "recorder_lag_p99_ms": 2000.0 if lagging else 40.0,
            "max_recorder_lag_ms": 2500.0 if lagging else 80.0,
        }

    return asked, measure


async def test_steps_up_by_half_then_halves_the_interval_to_the_resolution() -> None:
    asked, measure = fake_server(capacity=100)
    plan = CapacitySearch(start=32, limit=512, resolution=8)
    result = await search(plan, measure, lambda _: None)
    # up: 32, 48, 72, 108 (fails); then between 72 and 108: 90, 99; 99..108 is 9 apart: 103
    assert asked == [32, 48, 72, 108, 90, 99, 103]
    assert result["capacity_streams"] == 99
    assert [s["held"] for s in result["steps"]] == [True, True, True, False, True, True, False]
    assert result["steps"][3]["why_not"] == "8 frame(s) not written"
    assert all(s["load_average_1m"] is not None for s in result["steps"])


async def test_a_p99_lag_over_a_second_fails_a_step_that_wrote_every_frame() -> None:
    asked, measure = fake_server(capacity=1000, lag_over=60)
    result = await search(CapacitySearch(32, 512, 8), measure, lambda _: None)
    assert result["capacity_streams"] == 54
    assert asked == [32, 48, 72, 60, 54]  # 54..60 is within the resolution
    failed = [s for s in result["steps"] if not s["held"]]
    assert all(s["frames_missing"] == 0 for s in failed)
    assert failed[0]["why_not"] == "recorder_lag_p99_ms 2000.0 over 1000"


async def test_the_baseline_is_stepped_one_at_a_time_and_judged_by_its_max_lag() -> None:
    asked, measure = fake_server(capacity=1)
    result = await search(CapacitySearch(1, 4, 1, growth=2), measure, lambda _: None, baseline=True)
    assert asked == [1, 2] and result["capacity_streams"] == 1
    asked, measure = fake_server(capacity=9, lag_over=1)  # every frame, but 2.5 s late
    result = await search(CapacitySearch(1, 4, 1, growth=2), measure, lambda _: None, baseline=True)
    assert asked == [1] and result["capacity_streams"] == 0


def test_the_baseline_may_miss_each_streams_last_frame_and_nothing_more() -> None:
    # aiortc's jitter buffer keeps a stream's last frame until a next one comes: never
    step = {"frames_sent": 600, "frames_missing": 2, "max_recorder_lag_ms": 160.0}
    assert judge({**step, "streams_missing_over_one_frame": 0}, baseline=True) == (True, "")
    assert judge({**step, "streams_missing_over_one_frame": 1}, baseline=True) == (
        False,
        "2 frame(s) not written",
    )
    # the server's own recorder is held to every frame
    ours = {**step, "streams_missing_over_one_frame": 0, "recorder_lag_p99_ms": 40.0}
    assert judge(ours) == (False, "2 frame(s) not written")


async def test_the_search_stops_at_its_limit_and_when_the_first_step_fails() -> None:
    asked, measure = fake_server(capacity=10_000)
    assert (await search(CapacitySearch(32, 100, 8), measure, lambda _: None))[
        "capacity_streams"
    ] == 100
    assert asked == [32, 48, 72, 100]
    asked, measure = fake_server(capacity=5)
    assert (await search(CapacitySearch(32, 100, 8), measure, lambda _: None))[
        "capacity_streams"
    ] == 0
    assert asked == [32, 16, 8]  # 0..8 is the resolution: nothing held


async def test_a_step_whose_load_failed_did_not_hold_and_the_search_goes_on() -> None:
    asked: list[int] = []

    async def measure(streams: int) -> dict[str, Any]:
        asked.append(streams)
        if streams > 80:  # an overloaded server: candidates' connections dropped
            raise LoadFailed("candidate 4: stop_take: BadNamespaceError(...)")
        return {"frames_sent": 1, "frames_missing": 0, "recorder_lag_p99_ms": 10.0}

    result = await search(
        CapacitySearch(48, 256, 16), measure, lambda _: None, step_errors=(LoadFailed,)
    )
    assert asked == [48, 72, 108, 90, 81] and result["capacity_streams"] == 72
    assert result["steps"][2]["error"].startswith("LoadFailed: candidate 4")
    assert result["steps"][2]["why_not"] == result["steps"][2]["error"]
    with pytest.raises(ValueError):  # anything else is a bug, not a measurement
        await search(CapacitySearch(1, 2), _raises, lambda _: None, step_errors=(LoadFailed,))


async def test_a_step_that_failed_while_the_load_generator_was_the_limit_says_so() -> None:
    """Issue #16: a load generator behind its schedule sends its backlog in a burst, and
    the server's socket buffers overflow; such a step measured the load generator."""

    async def measure(streams: int) -> dict[str, Any]:
        late = 1700.0 if streams > 40 else 20.0
        return {
            "frames_sent": streams * 300,
            "frames_missing": 0 if streams <= 40 else 12,
            "recorder_lag_p99_ms": 40.0,
            "loadgen_cpu_pct": 97.0 if streams > 40 else 60.0,
            "loadgen_max_late_ms": late,
            "loadgen_bound": loadgen_bound(97.0 if streams > 40 else 60.0, late),
        }

    result = await search(CapacitySearch(32, 48, 16), measure, lambda _: None)
    held, failed = result["steps"]
    assert held["held"] and held["loadgen_bound"] is False and held["why_not"] is None
    assert not failed["held"] and failed["loadgen_bound"] is True
    assert failed["why_not"] == (
        "12 frame(s) not written while the load generator was the limit (loadgen_cpu_pct "
        "97.0, loadgen_max_late_ms 1700.0): the server may have held"
    )
    # either sign is enough: a full core, or a sender half a second behind
    assert loadgen_bound(90.0, 0.0) and loadgen_bound(10.0, 500.0)
    assert not loadgen_bound(89.9, 499.9)


async def _raises(streams: int) -> dict[str, Any]:
    raise ValueError("a bug")


def test_a_step_without_a_lag_reading_or_frames_does_not_hold() -> None:
    assert judge({"frames_sent": 10, "frames_missing": 0}) == (
        False,
        "no recorder lag read from /metrics",
    )
    assert judge({"frames_sent": 0, "frames_missing": 0, "recorder_lag_p99_ms": 1.0})[0] is False
    assert judge({"frames_sent": 10, "frames_missing": 0, "recorder_lag_p99_ms": 1000.0}) == (
        True,
        "",
    )
    with pytest.raises(ValueError):
        CapacitySearch(0, 10)


def test_capacity_options_are_checked() -> None:
    parser = argparse.ArgumentParser()
    bench_run.add_arguments(parser)
    ok = parser.parse_args(["--capacity"])
    assert bench_run._check_capacity(ok) is None
    assert bench_run._check_capacity(parser.parse_args(["--capacity", "--viewers", "4"]))
    assert bench_run._check_capacity(
        parser.parse_args(["--capacity", "--capacity-start", "64", "--capacity-max", "32"])
    )
    assert bench_run.main(parser.parse_args(["--capacity", "--capacity-resolution", "0"])) == 2


def metrics(counts: dict[str, float]) -> str:
    lines = ["# TYPE examcast_recorder_lag_seconds histogram"]
    total = 0.0
    for le, n in counts.items():
        lines.append(f'examcast_recorder_lag_seconds_bucket{{le="{le}"}} {n}')
        total = n
    lines.append(f"examcast_recorder_lag_seconds_count {total}")
    lines.append("examcast_recorder_lag_seconds_sum 1.0")
    return "\n".join(lines) + "\n"


def test_lag_percentiles_per_window_from_the_histogram() -> None:
    first = lag_buckets(metrics({"0.01": 0, "0.1": 0, "1.0": 0, "10.0": 0, "+Inf": 0}))
    # window 1: 98 samples under 10 ms, 2 between 0.1 and 1 s
    second = lag_buckets(metrics({"0.01": 98, "0.1": 98, "1.0": 100, "10.0": 100, "+Inf": 100}))
    # window 2: 100 more, 5 of them between 1 and 10 s (a stall)
    third = lag_buckets(metrics({"0.01": 193, "0.1": 193, "1.0": 195, "10.0": 200, "+Inf": 200}))
    one = summary(difference(second, first))
    assert one["samples"] == 100 and one["p50_ms"] == pytest.approx(5.1, abs=0.1)
    assert one["p99_ms"] == pytest.approx(550.0) and one["max_ms"] == 1000.0
    two = summary(difference(third, second))
    assert two["p99_ms"] == pytest.approx(8200.0) and two["max_ms"] == 10000.0
    figures = lag_figures([(0.0, first), (10.0, second), (20.0, third)], 10.0)
    lag = figures["recorder_lag"]
    assert [w["t_s"] for w in lag["windows"]] == [0.0, 10.0]
    assert lag["worst_window_p99_ms"] == pytest.approx(8200.0)
    assert lag["windows_p99_over_1s"] == 1
    assert lag["samples"] == 200 and figures["recorder_lag_p99_ms"] == lag["p99_ms"]
    assert lag_figures([(0.0, first)], 10.0) == {"recorder_lag": None}
    assert quantile([], 0.5) is None
    # past the last finite bound, all that is known is that bound
    assert quantile([(1.0, 0.0), (float("inf"), 4.0)], 0.99) == 1.0

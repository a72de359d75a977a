"""A background job on the injected clock and scheduler: it runs when time moves, not when
the test has waited long enough."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.clock import wait_until
from tests.unit.exams.builders import FakeClock
from tests.unit.exams.fakes import FakeScheduler
from web.scheduling import Every, LoopScheduler, wall_clock


async def test_a_job_runs_at_once_then_a_period_after_each_run() -> None:
    clock, scheduler = FakeClock(), FakeScheduler()
    runs: list[float] = []

    async def job() -> None:
        runs.append(clock())

    every = Every(clock, scheduler, 60, job, "job")
    start = clock()
    await scheduler.run_until(clock())
    assert runs == [start]
    await scheduler.run_until(clock.advance(59))
    assert runs == [start]
    await scheduler.run_until(clock.advance(1))
    assert runs == [start, start + 60]
    await every.stop()
    await scheduler.run_until(clock.advance(600))
    assert runs == [start, start + 60]


async def test_the_first_run_can_wait_and_a_failed_run_does_not_end_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, scheduler = FakeClock(), FakeScheduler()
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        raise OSError("disk full")

    Every(clock, scheduler, 10, job, "the job", first_s=5)
    await scheduler.run_until(clock.advance(4))
    assert runs == 0
    await scheduler.run_until(clock.advance(1))
    await scheduler.run_until(clock.advance(10))
    assert runs == 2
    assert caplog.text.count("the job failed; trying again later") == 2
    assert all(r.levelno == logging.ERROR for r in caplog.records)


async def test_stop_cancels_a_run_under_way() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    every = Every(wall_clock, LoopScheduler(), 3600, job, "job")
    await wait_until(started.is_set, what="the first run")
    await every.stop()
    assert cancelled.is_set()

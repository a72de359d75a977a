"""The exam service's engine on a fake clock: timers, take events, restarts, locks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from exams.answering.attempt_runner import RETRY_S, Step
from exams.answering.recording import enter_formal, stop_take
from exams.answering.submissions import submit
from exams.catalog.attempts import Attempt, TakeKind
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import TakeState
from exams.shared.errors import Conflict, DeadlinePassed
from tests.unit.exams.builders import FakeClock, exam_of, online
from tests.unit.exams.fakes import Bench

CANDIDATE = "candidate-1"


def bench_for(clock: FakeClock, **settings: Any) -> Bench:
    return Bench(exam_of(online(**settings)), clock)


def domain(fn: Callable[[Attempt, Exam, float], Attempt], exam: Exam) -> Step:
    async def step(a: Attempt, now: float) -> Attempt:
        return fn(a, exam, now)

    return step


async def enter(b: Bench) -> Attempt:
    return await b.runner.run(b.exam, "q1", CANDIDATE, domain(enter_formal, b.exam), create=True)


async def start_by_hand(b: Bench, kind: TakeKind = TakeKind.FORMAL) -> Attempt:
    async def step(a: Attempt, now: float) -> Attempt:
        return await b.runner.start_media(a, b.exam, kind, now, by_server=False)

    return await b.runner.run(b.exam, "q1", CANDIDATE, step)


async def stop_by_hand(b: Bench, take_id: str) -> Attempt:
    async def step(a: Attempt, now: float) -> Attempt:
        return stop_take(a, take_id, now, "stopped")

    await b.runner.run(b.exam, "q1", CANDIDATE, step)
    await b.runner.stop_media(take_id, "stopped", CANDIDATE)
    return await b.attempt()


async def test_reading_time_running_out_starts_recording_on_the_server(clock: FakeClock) -> None:
    b = bench_for(clock, reading_limit_s=60, recording_limit_s=120)
    entered = await enter(b)
    assert entered.entered_at is not None
    assert [t.when for t in b.scheduler.live] == [entered.entered_at + 60]
    await b.advance(59)
    assert b.takes.takes == {}
    await b.advance(1)
    [media] = b.takes.takes.values()
    assert (media.purpose, media.limit_s, media.attempt_id) == ("formal", 120, entered.id)
    assert media.owner == CANDIDATE and media.session_id == f"primary-{CANDIDATE}"
    a = await b.attempt()
    take = a.recording_take
    assert take is not None and take.id == media.id and take.started_by == "server"
    assert take.deadline == clock() + 120
    assert [t.when for t in b.scheduler.live] == [take.deadline]


async def test_the_recording_limit_stops_the_take_for_good(clock: FakeClock) -> None:
    b = bench_for(clock, reading_limit_s=10, recording_limit_s=30)
    await enter(b)
    await b.advance(10)
    take_id = (await b.attempt()).takes[0].id
    await b.advance(30)
    a = await b.attempt()
    assert a.recording_take is None
    [take] = a.takes
    assert (take.stop_reason, take.stopped_at) == ("time_limit", take.deadline)
    media = b.takes.takes[take_id]
    assert (media.state, media.stop_reason) == (TakeState.STORED, "time_limit")
    with pytest.raises(Conflict, match="cannot be continued"):
        await stop_by_hand(b, take_id)
    with pytest.raises(Conflict, match="formal recording"):
        await start_by_hand(b)
    assert len(b.takes.takes) == 1


async def test_a_take_stopped_on_the_socket_stops_the_attempts_take(clock: FakeClock) -> None:
    b = bench_for(clock, recording_limit_s=60, formal_count=2)
    await enter(b)
    take_id = (await start_by_hand(b)).takes[0].id
    await b.advance(5)
    await b.takes.stop(take_id, owner=CANDIDATE)  # what the socket's stop_take does
    [take] = (await b.attempt()).takes
    assert (take.stop_reason, take.stopped_at) == ("stopped", clock())
    # Nothing records: the one timer left is the submission deadline, the exam's close (M3.8).
    assert [t.when for t in b.scheduler.live] == [b.exam.closes_at]
    second = await start_by_hand(b)
    assert second.recording_take is not None


async def test_auto_submit_waits_until_the_take_is_stored(clock: FakeClock) -> None:
    b = bench_for(clock, recording_limit_s=30, submission_limit_s=31, auto_submit=True)
    b.takes.hold = True
    entered = await enter(b)
    take_id = (await start_by_hand(b)).takes[0].id
    await b.advance(30)
    assert b.takes.takes[take_id].state is TakeState.FINALIZING
    await b.advance(5)  # past the submission deadline while the take is finalising
    a = await b.attempt()
    assert not a.submitted and a.closed_at is None
    assert [t.when for t in b.scheduler.live] == [clock() + RETRY_S]  # looks again soon
    await b.takes.finish(take_id)
    a = await b.attempt()
    assert (a.submitted_by, a.chosen_take_id) == ("auto", take_id)
    assert entered.entered_at is not None
    assert a.submission_deadline == entered.entered_at + 31
    assert b.scheduler.live == []


async def test_auto_submit_never_submits_a_take_that_stored_nothing(clock: FakeClock) -> None:
    b = bench_for(clock, recording_limit_s=30, submission_limit_s=40, auto_submit=True)
    b.takes.fail = True
    await enter(b)
    take_id = (await start_by_hand(b)).takes[0].id
    await b.advance(30)
    a = await b.attempt()
    assert a.take(take_id).media_failed and not a.submitted
    await b.advance(10)
    assert (await b.attempt()).closed_at is not None


async def test_the_submission_time_running_out_closes_the_attempt(clock: FakeClock) -> None:
    b = bench_for(clock, recording_limit_s=60, submission_limit_s=600)
    entered = await enter(b)
    take_id = (await start_by_hand(b)).takes[0].id
    await stop_by_hand(b, take_id)
    await b.advance(600)
    a = await b.attempt()
    assert a.closed_at == entered.submission_deadline
    with pytest.raises(DeadlinePassed):
        await b.runner.run(b.exam, "q1", CANDIDATE, domain(submit, b.exam))


async def test_one_timer_per_attempt_whatever_happens(clock: FakeClock) -> None:
    b = bench_for(clock, reading_limit_s=30, recording_limit_s=60, submission_limit_s=600)
    await enter(b)
    assert len(b.scheduler.live) == 1
    await b.advance(10)
    await start_by_hand(b)  # early, before the reading time runs out
    assert len(b.scheduler.live) == 1
    await b.advance(30)  # the reading deadline has no action any more
    assert len(b.takes.takes) == 1 and len(b.scheduler.live) == 1
    await b.advance(30)
    assert len(b.scheduler.live) == 1  # only the submission deadline is left


async def test_two_requests_at_once_start_one_take(clock: FakeClock) -> None:
    b = bench_for(clock, recording_limit_s=60)
    await enter(b)
    results = await asyncio.gather(start_by_hand(b), start_by_hand(b), return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert len(b.takes.takes) == 1 and len((await b.attempt()).takes) == 1


async def test_a_start_the_media_refuses_is_tried_again(clock: FakeClock) -> None:
    b = bench_for(clock, reading_limit_s=10, recording_limit_s=60)
    await enter(b)
    b.takes.refuse_start = Conflict("this device is already recording")
    await b.advance(10)
    assert b.takes.takes == {}
    assert [t.when for t in b.scheduler.live] == [clock() + RETRY_S]
    b.takes.refuse_start = None
    await b.advance(RETRY_S)
    assert (await b.attempt()).recording_take is not None


async def test_a_restart_during_reading_records_with_the_whole_limit(clock: FakeClock) -> None:
    b = bench_for(clock, reading_limit_s=60, recording_limit_s=120, submission_limit_s=1800)
    await enter(b)
    b.restart()
    clock.advance(300)  # down past the reading deadline
    assert await b.runner.reconcile() == 1
    [media] = b.takes.takes.values()
    take = (await b.attempt()).recording_take
    assert take is not None and take.started_at == clock() and take.deadline == clock() + 120
    assert media.limit_s == 120 and take.started_by == "server"


@pytest.mark.parametrize("down_s,reason", [(10, "server_restart"), (100, "time_limit")])
async def test_a_restart_during_recording_stops_the_take(
    clock: FakeClock, down_s: float, reason: str
) -> None:
    b = bench_for(clock, recording_limit_s=60, formal_count=2)
    await enter(b)
    take_id = (await start_by_hand(b)).takes[0].id
    b.restart()
    clock.advance(down_s)
    # What TakeService.reconcile leaves behind: the take recovered and stored.
    media = b.takes.takes[take_id]
    b.takes.takes[take_id] = replace(
        media,
        state=TakeState.STORED,
        stopped_at=clock(),
        stop_reason="server_restart",
        manifest={"segments": [{"index": 0}]},
    )
    await b.runner.reconcile()
    [take] = (await b.attempt()).takes
    assert take.stop_reason == reason
    assert take.stopped_at == min(clock(), take.deadline)
    again = await start_by_hand(b)  # an interrupted take counts; one formal take is left
    assert again.recording_take is not None


async def test_a_second_camera_question_starts_by_hand_only_once_the_phone_is_ready(
    clock: FakeClock,
) -> None:
    b = bench_for(clock, second_camera_required=True)
    entered = await enter(b)
    with pytest.raises(Conflict, match="二机位"):
        await start_by_hand(b)
    asked: list[str] = []

    def ready(attempt_id: str) -> bool:
        asked.append(attempt_id)
        return True

    b.runner.add_secondary_check(ready)
    a = await start_by_hand(b)
    take = a.recording_take
    assert take is not None and take.secondary_ready and asked == [entered.id]


async def test_the_reading_deadline_starts_without_a_second_camera_and_says_so(
    clock: FakeClock,
) -> None:
    b = bench_for(clock, second_camera_required=True, reading_limit_s=30)
    await enter(b)
    await b.advance(30)
    take = (await b.attempt()).recording_take
    assert take is not None and take.started_by == "server" and not take.secondary_ready


async def test_the_attempts_take_and_the_media_take_start_and_end_together(
    clock: FakeClock,
) -> None:
    """The take service reads the clock after the attempt's save (a busy server: later);
    both must still say one start and one deadline (an incident's offset into the take and
    the recording's end come from them)."""
    b = bench_for(clock, reading_limit_s=60, recording_limit_s=120)
    await enter(b)
    b.takes.clock = lambda: clock() + 0.25  # type: ignore[assignment]
    a = await start_by_hand(b)
    take = a.recording_take
    assert take is not None
    media = b.takes.takes[take.id]
    assert media.started_at == take.started_at
    assert media.deadline == take.deadline

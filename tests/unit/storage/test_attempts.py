"""Attempts in SQLite hold the one-question-at-a-time rule themselves (a unique index), so it
holds across processes and without any lock of ours; a refused claim starts no recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from exams.answering.attempt_runner import AttemptRunner
from exams.answering.recording import begin_rehearsal, enter_formal, leave_rehearsal, stop_take
from exams.catalog.attempts import Attempt, TakeKind, new_attempt
from exams.catalog.exam_rules import Exam
from exams.shared.errors import CameraBusy
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from tests.support.world import World
from tests.unit.exams.builders import FakeClock, exam_of, online
from tests.unit.exams.fakes import FakeScheduler, FakeTakes, MemoryExams

ROUNDS = 20


async def stored_exam(w: World, clock: FakeClock) -> tuple[Exam, str]:
    """A two-question exam of unit u1 and a candidate's account id, in the database."""
    await w.s.units.add("u1", "Unit 1")
    who = await w.register()
    exam = exam_of(
        online("q1", rehearsal_allowed=True, rehearsal_count=2, reading_limit_s=600),
        online("q2", 2, rehearsal_allowed=True, rehearsal_count=2, reading_limit_s=600),
        opens_at=clock() - 60,
        closes_at=clock() + 3600,
    )
    await SqliteExams(w.db).save(exam, clock())
    return exam, who.id


def reading(a: Attempt, exam: Exam, now: float) -> Attempt:
    return begin_rehearsal(a, exam, now)


async def test_a_second_attempt_holding_the_camera_is_refused(w: World) -> None:
    clock = FakeClock()
    exam, candidate = await stored_exam(w, clock)
    store = SqliteAttempts(w.db)
    now = clock()
    first = reading(new_attempt("a1", exam, "q1", candidate), exam, now)
    second = reading(new_attempt("a2", exam, "q2", candidate), exam, now)
    await store.save(first, now)
    await store.save(new_attempt("a2", exam, "q2", candidate), now)  # not reading: fine
    with pytest.raises(CameraBusy):
        await store.save(second, now)
    await store.save(leave_rehearsal(first), now)  # q1 lets go of the camera
    await store.save(second, now)
    found = await store.find(exam.id, "q2", candidate)
    assert found is not None and found.reading is not None


async def test_a_settled_attempt_lets_go_of_the_camera(w: World) -> None:
    clock = FakeClock()
    exam, candidate = await stored_exam(w, clock)
    store = SqliteAttempts(w.db)
    now = clock()
    entered = enter_formal(new_attempt("a1", exam, "q1", candidate), exam, now)
    await store.save(entered, now)
    closed = replace(entered, closed_at=now)
    await store.save(closed, now)
    await store.save(reading(new_attempt("a2", exam, "q2", candidate), exam, now), now)


async def test_parallel_steps_on_two_questions_only_one_holds_the_camera(w: World) -> None:
    """The runner locks per question only: the database alone keeps the rule."""
    clock = FakeClock()
    exam, candidate = await stored_exam(w, clock)
    store = SqliteAttempts(w.db)
    takes = FakeTakes(clock)
    runner = AttemptRunner(store, MemoryExams(exam), takes, takes, clock, FakeScheduler())

    async def begin(qid: str) -> str:
        async def step(a: Attempt, now: float) -> Attempt:
            return reading(a, exam, now)

        try:
            await runner.run(exam, qid, candidate, step, create=True)
        except CameraBusy:
            return "busy"
        return qid

    for _ in range(ROUNDS):
        results = await asyncio.gather(begin("q1"), begin("q2"))
        assert sorted(results) in (["busy", "q1"], ["busy", "q2"]), results
        [winner] = [r for r in results if r != "busy"]

        async def leave(a: Attempt, now: float) -> Attempt:
            return leave_rehearsal(a)

        await runner.run(exam, winner, candidate, leave)


async def test_a_refused_claim_starts_no_recorder(w: World) -> None:
    """Recording by hand from a waiting question claims the camera before the recorder
    starts: while another question reads, nothing records and the attempt is unchanged."""
    clock = FakeClock()
    exam = exam_of(
        online("q1", formal_count=2),
        online("q2", 2, reading_limit_s=600),
        opens_at=clock() - 60,
        closes_at=clock() + 3600,
    )
    await w.s.units.add("u1", "Unit 1")
    candidate = (await w.register()).id
    await SqliteExams(w.db).save(exam, clock())
    store = SqliteAttempts(w.db)
    takes = FakeTakes(clock)
    runner = AttemptRunner(store, MemoryExams(exam), takes, takes, clock, FakeScheduler())

    async def domain_step(qid: str, fn: Callable[[Attempt, Exam, float], Attempt]) -> Attempt:
        async def step(a: Attempt, now: float) -> Attempt:
            return fn(a, exam, now)

        return await runner.run(exam, qid, candidate, step, create=True)

    async def record(qid: str) -> Attempt:
        async def step(a: Attempt, now: float) -> Attempt:
            return await runner.start_media(a, exam, TakeKind.FORMAL, now, by_server=False)

        return await runner.run(exam, qid, candidate, step)

    await domain_step("q1", enter_formal)
    recording = await record("q1")  # no reading time: recording by hand
    take_id = recording.takes[0].id
    await domain_step("q1", lambda a, e, now: stop_take(a, take_id, now))
    await runner.stop_media(take_id, "stopped")
    await domain_step("q2", enter_formal)  # q2 reads for 600 s: it holds the camera
    before = await store.find(exam.id, "q1", candidate)
    with pytest.raises(CameraBusy):
        await record("q1")
    assert list(takes.takes) == [take_id]  # no recorder was started
    assert await store.find(exam.id, "q1", candidate) == before

"""Who may play an exam take back: a rehearsal once, right after it; formal takes per question."""

from __future__ import annotations

from typing import Any

import pytest

from exams.answering.playback import PLAYBACK_GRACE_S
from exams.answering.recording import begin_rehearsal, enter_formal, leave_rehearsal
from exams.catalog.attempts import Attempt, TakeKind
from exams.catalog.takes import Take
from exams.shared.errors import Forbidden, StepRequired
from tests.unit.exams.answering.test_attempt_runner import (
    CANDIDATE,
    domain,
    start_by_hand,
    stop_by_hand,
)
from tests.unit.exams.builders import FakeClock, exam_of, online
from tests.unit.exams.fakes import Bench


async def rehearsed(b: Bench, seconds: float = 5) -> Take:
    """Begin a rehearsal, record ``seconds``, stop it; the stored media take."""
    await b.runner.run(b.exam, "q1", CANDIDATE, domain(begin_rehearsal, b.exam), create=True)
    take_id = (await start_by_hand(b, TakeKind.REHEARSAL)).takes[-1].id
    await b.advance(seconds)
    await stop_by_hand(b, take_id)
    return b.takes.takes[take_id]


def rehearsal_bench(clock: FakeClock, **settings: Any) -> Bench:
    return Bench(exam_of(online(rehearsal_allowed=True, rehearsal_count=2, **settings)), clock)


async def test_a_rehearsal_plays_back_once_then_its_files_are_deleted(clock: FakeClock) -> None:
    b = rehearsal_bench(clock)
    take = await rehearsed(b, seconds=5)
    await b.playback.policy(take, CANDIDATE)
    await b.advance(2)
    await b.playback.policy(take, CANDIDATE)  # the player's next Range request
    assert b.takes.discarded == []
    await b.advance(5 + PLAYBACK_GRACE_S)
    assert b.takes.discarded == [take.id]
    with pytest.raises(Forbidden, match="once"):
        await b.playback.policy(take, CANDIDATE)


async def test_leaving_a_rehearsal_unplayed_deletes_it(clock: FakeClock) -> None:
    b = rehearsal_bench(clock)
    take = await rehearsed(b)

    async def leave(a: Attempt, now: float) -> Attempt:
        return leave_rehearsal(a)

    await b.runner.run(b.exam, "q1", CANDIDATE, leave)
    assert b.takes.discarded == [take.id]
    with pytest.raises(Forbidden):
        await b.playback.policy(take, CANDIDATE)


async def test_the_next_rehearsal_or_the_formal_answer_deletes_the_last_one(
    clock: FakeClock,
) -> None:
    b = rehearsal_bench(clock)
    first = await rehearsed(b)
    second = await rehearsed(b)
    assert b.takes.discarded == [first.id]
    await b.runner.run(b.exam, "q1", CANDIDATE, domain(enter_formal, b.exam))
    assert b.takes.discarded == [first.id, second.id]


@pytest.mark.parametrize("allowed", [True, False])
async def test_formal_playback_is_set_per_question(clock: FakeClock, allowed: bool) -> None:
    b = Bench(exam_of(online(formal_playback_allowed=allowed)), clock)
    await b.runner.run(b.exam, "q1", CANDIDATE, domain(enter_formal, b.exam), create=True)
    take_id = (await start_by_hand(b)).takes[0].id
    with pytest.raises(Forbidden, match="still recording" if allowed else "does not allow"):
        await b.playback.policy(b.takes.takes[take_id], CANDIDATE)
    await stop_by_hand(b, take_id)
    take = b.takes.takes[take_id]
    if allowed:
        await b.playback.policy(take, CANDIDATE)
        await b.playback.policy(take, CANDIDATE)
    else:
        with pytest.raises(Forbidden):
            await b.playback.policy(take, CANDIDATE)
    with pytest.raises(Forbidden):
        await b.playback.policy(take, "someone-else")
    assert b.takes.discarded == []


async def test_moving_on_ends_a_playback_window(clock: FakeClock) -> None:
    b = rehearsal_bench(clock)
    take = await rehearsed(b)
    await b.playback.policy(take, CANDIDATE)
    await b.runner.run(b.exam, "q1", CANDIDATE, domain(enter_formal, b.exam))
    assert b.takes.discarded == [take.id]
    with pytest.raises(Forbidden):
        await b.playback.policy(take, CANDIDATE)


async def test_a_candidate_removed_from_the_list_plays_nothing_back(clock: FakeClock) -> None:
    b = Bench(exam_of(online(formal_playback_allowed=True)), clock)
    await b.runner.run(b.exam, "q1", CANDIDATE, domain(enter_formal, b.exam), create=True)
    take_id = (await start_by_hand(b)).takes[-1].id
    await b.advance(5)
    await stop_by_hand(b, take_id)
    take = b.takes.takes[take_id]
    await b.playback.policy(take, CANDIDATE)
    b.exams.removed.add(CANDIDATE)  # a re-import of the unit's list left them out
    with pytest.raises(StepRequired) as refused:
        await b.playback.policy(take, CANDIDATE)
    assert refused.value.details["reason"] == "removed_from_admitted_list"

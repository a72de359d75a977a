"""A proctor's actions on the real attempt runner (fake clock and scheduler, fake media):
extra time re-arms the timers, ending stops the take, rights, limits under parallel calls."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from exams.answering.recording import begin_rehearsal, enter_formal
from exams.catalog.attempts import Attempt, TakeKind
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import TakeState
from exams.identity.accounts import Account, Role
from exams.proctoring.actions import ProctorActions
from exams.proctoring.attempt_steps import ENDED_BY_PROCTOR, MAX_EXTRA_S
from exams.proctoring.notes import HAND, MESSAGE, Note
from exams.shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyRequests,
)
from exams.shared.ports import Entry, Event
from tests.unit.exams.builders import CLOSES, FakeClock, exam_of, online
from tests.unit.exams.fakes import Bench

CANDIDATE = "candidate-1"


def account(account_id: str, role: Role) -> Account:
    return Account(
        id=account_id,
        phone="13800000000",
        name=account_id,
        id_type="resident_id",
        id_number="110101199001011234",
        password_hash="x",
        role=role,
        created_at=0.0,
    )


PROCTOR = account("proctor-1", Role.PROCTOR)
STRANGER = account("proctor-2", Role.PROCTOR)
ME = account(CANDIDATE, Role.CANDIDATE)
OTHER = account("candidate-2", Role.CANDIDATE)


class Check:
    """Watching.check: proctor-1 may act on the exam's candidates, nobody else."""

    def __init__(self, exam: Exam) -> None:
        self.exam = exam
        self.refused: list[str] = []

    async def check(self, who: Account, exam_id: str, candidate_id: str, client: str) -> Exam:
        await asyncio.sleep(0)  # a real check reads storage
        if who.id != PROCTOR.id or exam_id != self.exam.id:
            self.refused.append(who.id)
            raise Forbidden("this exam is not assigned to you")
        return self.exam


class Notes:
    def __init__(self) -> None:
        self.rows: dict[str, Note] = {}

    async def add(self, note: Note) -> None:
        await asyncio.sleep(0)
        self.rows[note.id] = note

    async def get(self, note_id: str) -> Note | None:
        return self.rows.get(note_id)

    async def mark_read(self, note_id: str, candidate_id: str, at: float) -> Note | None:
        await asyncio.sleep(0)
        n = self.rows.get(note_id)
        if n is None or n.candidate_id != candidate_id or n.kind != MESSAGE or n.read_at:
            return None
        n = self.rows[note_id] = replace(n, read_at=at)
        return n

    async def answer_hands(self, exam_id: str, candidate_id: str, at: float) -> int:
        open_ = [n for n in self.rows.values() if n.kind == HAND and n.read_at is None]
        for n in open_:
            self.rows[n.id] = replace(n, read_at=at)
        return len(open_)

    async def of_candidate(self, exam_id: str, candidate_id: str) -> list[Note]:
        return [
            n for n in self.rows.values() if (n.exam_id, n.candidate_id) == (exam_id, candidate_id)
        ]


class Sent:
    def __init__(self) -> None:
        self.candidate: list[tuple[str, str, dict[str, Any]]] = []
        self.wall: list[tuple[str, str, dict[str, Any]]] = []

    async def to_candidate(self, candidate_id: str, event: str, body: dict[str, Any]) -> None:
        self.candidate.append((candidate_id, event, body))

    async def to_wall(self, exam_id: str, event: str, body: dict[str, Any]) -> None:
        self.wall.append((exam_id, event, body))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [b for _, e, b in self.candidate if e == name]


class Audit:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    async def record(self, entry: Entry) -> None:
        self.entries.append(entry)

    async def recent(self, limit: int = 100, account_id: str | None = None) -> list[Entry]:
        return self.entries[-limit:]

    def of(self, event: Event) -> list[Entry]:
        return [e for e in self.entries if e.event is event]


class Units:
    async def admitted_units(self, account: Account) -> set[str]:
        return {"u1"} if account.id == CANDIDATE else set()


class Setup:
    def __init__(self, clock: FakeClock, **settings: Any) -> None:
        self.bench = b = Bench(exam_of(online(**settings)), clock)
        self.check = Check(b.exam)
        self.notes = Notes()
        self.sent = Sent()
        self.audit = Audit()
        self.hands: list[tuple[str, str, bool, float]] = []
        self.actions = ProctorActions(
            self.check,
            b.runner,
            b.attempts,
            b.exams,
            Units(),
            self.notes,
            self.sent,
            self.audit,
            clock,
            messages_per_window=10,
            window_s=60,
        )

        async def hand(exam_id: str, candidate_id: str, up: bool, at: float) -> None:
            self.hands.append((exam_id, candidate_id, up, at))

        self.actions.add_hand_listener(hand)

    async def enter(self) -> Attempt:
        b = self.bench

        async def step(a: Attempt, now: float) -> Attempt:
            return enter_formal(a, b.exam, now)

        return await b.runner.run(b.exam, "q1", CANDIDATE, step, create=True)

    async def record(self) -> Attempt:
        b = self.bench

        async def step(a: Attempt, now: float) -> Attempt:
            return await b.runner.start_media(a, b.exam, TakeKind.FORMAL, now, by_server=False)

        return await b.runner.run(b.exam, "q1", CANDIDATE, step)

    def timers(self) -> list[float]:
        return sorted(t.when for t in self.bench.scheduler.live)


async def test_extra_time_moves_the_submission_deadline_and_its_timer(clock: FakeClock) -> None:
    s = Setup(clock, submission_limit_s=600)
    entered = await s.enter()
    assert entered.submission_deadline == clock() + 600
    assert s.timers() == [clock() + 600]
    await s.bench.advance(100)
    body = await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 5, "c")
    moved = entered.submission_deadline + 300
    assert body["submission_deadline"] == moved and body["extra_s"] == 300
    assert s.timers() == [moved]  # the old timer is gone, the new one set at the moved time
    assert s.sent.events("deadline_changed") == [body]
    await s.bench.advance(500)  # the old deadline passes: the answer stays open
    a = await s.bench.attempt()
    assert a.closed_at is None and a.submission_deadline == moved
    await s.bench.advance(300)
    assert (await s.bench.attempt()).closed_at == moved
    [entry] = s.audit.of(Event.TIME_EXTENDED)
    assert entry.account_id == PROCTOR.id and entry.detail["minutes"] == 5


async def test_extra_time_while_reading_moves_the_start_of_recording(clock: FakeClock) -> None:
    s = Setup(clock, reading_limit_s=60, submission_limit_s=600)
    entered = await s.enter()
    assert entered.reading is not None and entered.reading.deadline == clock() + 60
    await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 2, "c")
    assert s.timers() == [clock() + 180]
    await s.bench.advance(60)
    assert s.bench.takes.takes == {}  # not started at the old reading deadline
    await s.bench.advance(120)
    assert len(s.bench.takes.takes) == 1


async def test_extra_time_stops_at_the_exams_close(clock: FakeClock) -> None:
    s = Setup(clock)  # no submission limit: the deadline is the exam's close
    await s.enter()
    with pytest.raises(Conflict, match="exam's close"):
        await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 5, "c")
    assert (await s.bench.attempt()).submission_deadline == CLOSES


async def test_extra_time_is_bounded(clock: FakeClock) -> None:
    s = Setup(clock, submission_limit_s=600)
    await s.enter()
    with pytest.raises(InvalidInput):
        await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 0, "c")
    with pytest.raises(InvalidInput):
        await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 61, "c")
    for _ in range(int(MAX_EXTRA_S // 3600)):
        await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 60, "c")
    with pytest.raises(Conflict, match="at most"):
        await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 1, "c")


async def test_parallel_extensions_each_count_once(clock: FakeClock) -> None:
    s = Setup(clock, submission_limit_s=600)
    entered = await s.enter()
    await asyncio.gather(*(s.actions.give_time(PROCTOR, "e1", CANDIDATE, 1, "c") for _ in range(6)))
    a = await s.bench.attempt()
    assert a.submission_deadline == entered.submission_deadline + 360  # type: ignore[operator]
    assert s.timers() == [a.submission_deadline]


async def test_ending_the_attempt_stops_and_keeps_the_take(clock: FakeClock) -> None:
    s = Setup(clock, submission_limit_s=600, recording_limit_s=120)
    await s.enter()
    take_id = (await s.record()).takes[0].id
    await s.bench.advance(20)
    body = await s.actions.end_attempt(PROCTOR, "e1", CANDIDATE, " 使用手机查资料 ", "c")
    assert body["reason"] == "使用手机查资料" and body["ended_at"] == clock()
    a = await s.bench.attempt()
    assert (a.closed_at, a.ended_by, a.end_reason) == (clock(), PROCTOR.id, "使用手机查资料")
    [take] = a.takes
    assert (take.stopped_at, take.stop_reason) == (clock(), ENDED_BY_PROCTOR)
    media = s.bench.takes.takes[take_id]
    assert (media.state, media.stop_reason) == (TakeState.STORED, ENDED_BY_PROCTOR)
    assert s.timers() == []  # nothing left to do on its own
    assert s.sent.events("attempt_ended") == [body]
    assert s.audit.of(Event.ATTEMPT_ENDED)[0].detail["takes_stopped"] == [take_id]
    with pytest.raises(Conflict, match="no question open"):
        await s.actions.end_attempt(PROCTOR, "e1", CANDIDATE, "again", "c")
    await s.bench.advance(600)
    assert (await s.bench.attempt()).closed_at == body["ended_at"]


async def test_only_the_exams_proctor_acts_and_a_candidate_reads_only_their_own(
    clock: FakeClock,
) -> None:
    s = Setup(clock, submission_limit_s=600)
    await s.enter()
    for who in (STRANGER, ME):
        with pytest.raises(Forbidden):
            await s.actions.send_message(who, "e1", CANDIDATE, "hello", "c")
        with pytest.raises(Forbidden):
            await s.actions.give_time(who, "e1", CANDIDATE, 5, "c")
        with pytest.raises(Forbidden):
            await s.actions.end_attempt(who, "e1", CANDIDATE, "why", "c")
    assert s.check.refused == [STRANGER.id] * 3 + [ME.id] * 3
    assert s.notes.rows == {} and s.sent.candidate == []
    assert (await s.bench.attempt()).closed_at is None
    note = await s.actions.send_message(PROCTOR, "e1", CANDIDATE, "请调整摄像头", "c")
    with pytest.raises(NotFound):
        await s.actions.read(OTHER, note.id, "c")
    with pytest.raises(Forbidden):
        await s.actions.raise_hand(PROCTOR, "e1", "c")


async def test_message_text_is_checked(clock: FakeClock) -> None:
    s = Setup(clock)
    for bad, error in (("  ", InvalidInput), ("x" * 501, TooLarge), ("a\x00b", InvalidInput)):
        with pytest.raises(error):
            await s.actions.send_message(PROCTOR, "e1", CANDIDATE, bad, "c")
    assert s.notes.rows == {}


async def test_messages_per_proctor_are_limited_under_parallel_sends(clock: FakeClock) -> None:
    s = Setup(clock, submission_limit_s=600)
    entered = await s.enter()
    results = await asyncio.gather(
        *(s.actions.send_message(PROCTOR, "e1", CANDIDATE, f"m{i}", "c") for i in range(15)),
        return_exceptions=True,
    )
    sent = [r for r in results if isinstance(r, Note)]
    refused = [r for r in results if isinstance(r, TooManyRequests)]
    assert (len(sent), len(refused)) == (10, 5)
    assert len(s.notes.rows) == 10 and len(s.sent.events("proctor_message")) == 10
    assert {n.attempt_id for n in sent} == {entered.id}
    assert "proctor-1" not in str(s.sent.events("proctor_message"))  # no staff id to candidates
    clock.advance(60)
    await s.actions.send_message(PROCTOR, "e1", CANDIDATE, "later", "c")  # the window moved


async def test_a_read_receipt_counts_once(clock: FakeClock) -> None:
    s = Setup(clock)
    note = await s.actions.send_message(PROCTOR, "e1", CANDIDATE, "hello", "c")
    assert note.attempt_id is None  # no question open: the note is the exam's
    clock.advance(3)
    reads = await asyncio.gather(*(s.actions.read(ME, note.id, "c") for _ in range(5)))
    assert {r.read_at for r in reads} == {clock()}
    assert len(s.audit.of(Event.PROCTOR_MESSAGE_READ)) == 1
    [(exam_id, event, body)] = s.sent.wall
    assert (exam_id, event, body["message_id"], body["read_at"]) == (
        "e1",
        "message_read",
        note.id,
        clock(),
    )


async def test_one_hand_at_a_time_until_a_proctor_answers(clock: FakeClock) -> None:
    s = Setup(clock)
    hands = await asyncio.gather(*(s.actions.raise_hand(ME, "e1", "c") for _ in range(5)))
    assert len({h.id for h in hands}) == 1
    assert s.hands == [("e1", CANDIDATE, True, clock())]
    assert s.actions.raised_at("e1", CANDIDATE) == clock()
    assert len(s.audit.of(Event.HAND_RAISED)) == 1
    with pytest.raises(Forbidden):
        await s.actions.raise_hand(OTHER, "e1", "c")  # not a candidate of this exam
    clock.advance(5)
    await s.actions.send_message(PROCTOR, "e1", CANDIDATE, "我来了", "c")
    assert s.actions.raised_at("e1", CANDIDATE) is None
    assert s.hands[-1] == ("e1", CANDIDATE, False, clock())
    [hand] = [n for n in s.notes.rows.values() if n.kind == HAND]
    assert hand.read_at == clock()
    state = await s.actions.notes_for_candidate(ME, "e1")
    assert [m["text"] for m in state["messages"]] == ["我来了"]
    assert state["hand_raised_at"] is None


async def test_nothing_to_extend_without_a_running_deadline(clock: FakeClock) -> None:
    s = Setup(clock, rehearsal_allowed=True, rehearsal_count=1)
    b = s.bench

    async def rehearse(a: Attempt, now: float) -> Attempt:
        return begin_rehearsal(a, b.exam, now)

    await b.runner.run(b.exam, "q1", CANDIDATE, rehearse, create=True)
    with pytest.raises(Conflict, match="no time limit"):
        await s.actions.give_time(PROCTOR, "e1", CANDIDATE, 5, "c")


async def test_a_failing_hand_listener_does_not_lose_the_hand(clock: FakeClock) -> None:
    s = Setup(clock)

    async def broken(exam_id: str, candidate_id: str, up: bool, at: float) -> None:
        raise RuntimeError("the wall is down")

    s.actions.add_hand_listener(broken)
    hand = await s.actions.raise_hand(ME, "e1", "c")
    assert s.actions.raised_at("e1", CANDIDATE) == hand.sent_at
    assert s.hands == [("e1", CANDIDATE, True, clock())]

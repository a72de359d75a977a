"""Page events: the server's times, the exam's rules, only during a question."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from exams.catalog.attempts import Attempt, AttemptTake, TakeKind
from exams.catalog.exam_rules import Exam
from exams.proctoring.monitoring import DEFAULTS, AlertKind, Monitoring, Rule
from exams.proctoring.page_events import PAGE_KINDS, PageEvents
from tests.unit.exams.builders import FakeClock, attempt, exam_of, online
from tests.unit.exams.fakes import FakeScheduler, RecordingAlerts

ME = "candidate-1"


class Store:
    def __init__(self, exam: Any) -> None:
        self.exam = exam
        self.attempts: list[Attempt] = []

    async def of_candidate(self, candidate_id: str, exam_id: str | None = None) -> list[Attempt]:
        await asyncio.sleep(0)  # a real store awaits: events must keep their order across it
        return [a for a in self.attempts if a.candidate_id == candidate_id]

    async def get(self, exam_id: str) -> Exam | None:
        return self.exam if exam_id == self.exam.id else None


def setup(exam: Any = None) -> tuple[PageEvents, Store, RecordingAlerts, FakeClock, FakeScheduler]:
    exam = exam or exam_of(online())
    clock, scheduler, alerts = FakeClock(), FakeScheduler(), RecordingAlerts()
    store = Store(exam)
    return PageEvents(store, store, alerts, clock, scheduler), store, alerts, clock, scheduler


def answering(store: Store, clock: FakeClock) -> None:
    a = attempt(store.exam)
    store.attempts = [replace(a, entered_at=clock(), submission_deadline=clock() + 3600)]


async def test_each_kind_raises_and_ends_its_alert_at_the_server_time() -> None:
    events, store, alerts, clock, _ = setup()
    answering(store, clock)
    t0 = clock()
    assert await events.report(ME, "hidden") == {"kind": "hidden", "at": t0, "counted": True}
    clock.advance(4)
    await events.report(ME, "visible")
    await events.report(ME, "window_left")
    clock.advance(1)
    await events.report(ME, "fullscreen_left")
    await events.report(ME, "window_back")
    await events.report(ME, "fullscreen_back")
    assert alerts.by_candidate() == [
        ("raise", ME, AlertKind.PAGE_HIDDEN, t0),
        ("end", ME, AlertKind.PAGE_HIDDEN, t0 + 4),
        ("raise", ME, AlertKind.WINDOW_LEFT, t0 + 4),
        ("raise", ME, AlertKind.FULLSCREEN_LEFT, t0 + 5),
        ("end", ME, AlertKind.WINDOW_LEFT, t0 + 5),
        ("end", ME, AlertKind.FULLSCREEN_LEFT, t0 + 5),
    ]
    assert set(PAGE_KINDS) == {
        "hidden",
        "visible",
        "window_left",
        "window_back",
        "fullscreen_left",
        "fullscreen_back",
        "reloaded",
    }


async def test_outside_a_question_nothing_counts() -> None:
    events, store, alerts, clock, _ = setup()
    assert (await events.report(ME, "hidden"))["counted"] is False
    a = attempt(store.exam)
    store.attempts = [replace(a, entered_at=clock(), submitted_at=clock())]  # submitted
    assert (await events.report(ME, "window_left"))["counted"] is False
    assert alerts.calls == []


async def test_events_in_flight_keep_their_arrival_order() -> None:
    events, store, alerts, clock, _ = setup()
    answering(store, clock)
    await asyncio.gather(*(events.report(ME, k) for k in ["hidden", "visible"] * 5))
    kinds = [c[0] for c in alerts.calls]
    assert kinds == ["raise", "end"] * 5


async def test_a_longer_rule_fires_on_a_timer_while_the_page_stays_away() -> None:
    rules = dict(DEFAULTS) | {AlertKind.WINDOW_LEFT: Rule(True, 5.0)}
    base = exam_of(online())
    exam = SimpleNamespace(id=base.id, monitoring=Monitoring(tuple(rules.items())))
    events, store, alerts, clock, scheduler = setup(exam)
    store.attempts = [replace(attempt(base), entered_at=clock(), submission_deadline=clock() + 9e3)]
    t0 = clock()
    await events.report(ME, "window_left")
    clock.advance(3)
    await events.report(ME, "window_back")  # back within 5 s: nothing
    await scheduler.run_until(clock.advance(10))
    assert alerts.calls == []
    await events.report(ME, "window_left")
    await scheduler.run_until(clock.advance(5))
    assert alerts.by_candidate() == [("raise", ME, AlertKind.WINDOW_LEFT, t0 + 13)]
    await events.answer_over(ME)  # submitted while away: it ends
    assert alerts.by_candidate()[-1] == ("end", ME, AlertKind.WINDOW_LEFT, t0 + 18)


async def test_a_switched_off_rule_counts_nothing() -> None:
    rules = dict(DEFAULTS) | {AlertKind.PAGE_HIDDEN: Rule(False, 0.0)}
    base = exam_of(online())
    exam = SimpleNamespace(id=base.id, monitoring=Monitoring(tuple(rules.items())))
    events, store, alerts, clock, _ = setup(exam)
    store.attempts = [replace(attempt(base), entered_at=clock(), submission_deadline=clock() + 9e3)]
    assert (await events.report(ME, "hidden"))["counted"] is False
    assert (await events.report(ME, "window_left"))["counted"] is True
    assert [c[2] for c in alerts.calls] == [AlertKind.WINDOW_LEFT]


@pytest.mark.parametrize("kind", ["visible", "window_back", "fullscreen_back"])
async def test_an_end_without_a_start_says_nothing(kind: str) -> None:
    events, store, alerts, clock, _ = setup()
    answering(store, clock)
    await events.report(ME, kind)
    assert alerts.calls == []


async def test_a_reload_counts_only_during_a_take() -> None:
    events, store, alerts, clock, _ = setup()
    answering(store, clock)
    assert (await events.report(ME, "reloaded"))["counted"] is False  # no take recording
    [a] = store.attempts
    take = AttemptTake("t1", TakeKind.FORMAL, clock(), clock() + 180)
    store.attempts = [replace(a, takes=(take,))]
    clock.advance(2)
    assert (await events.report(ME, "reloaded"))["counted"] is True
    assert alerts.by_candidate() == [("raise", ME, AlertKind.PAGE_RELOADED, clock())]

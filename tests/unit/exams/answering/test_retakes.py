"""A fair retake on the fake clock: a damaged formal take grants one more, once, audited."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from exams.answering.attempt_runner import AttemptRunner
from exams.answering.presenters import attempt_view
from exams.answering.recording import remaining
from exams.answering.retakes import RetakeGrant, Retakes
from exams.catalog.attempts import Attempt, TakeKind
from exams.catalog.take_quality import RetakeRule
from exams.shared.errors import Conflict
from exams.shared.ports import Entry, Event
from tests.unit.exams.answering.test_attempt_runner import enter, start_by_hand, stop_by_hand
from tests.unit.exams.builders import FakeClock, exam_of, online
from tests.unit.exams.fakes import Bench

CANDIDATE = "candidate-1"


def lost(seconds: float, at: float = 10.0) -> dict[str, Any]:
    """A report whose primary camera lost ``seconds`` from ``at`` on."""
    return {
        "version": 1,
        "duration_s": 30.0,
        "lost_s": seconds,
        "cameras": {
            "primary": {
                "video": {
                    "frames": 800,
                    "fps": 29.0,
                    "low_fps_s": 0.0,
                    "lost_s": seconds,
                    "lost": [{"from_s": at, "to_s": at + seconds, "reason": "network"}]
                    if seconds
                    else [],
                },
                "audio": {"present": True, "frames": 1500, "lost_s": seconds},
            }
        },
    }


class MemoryLedger:
    def __init__(self) -> None:
        self.rows: dict[str, RetakeGrant] = {}
        self.claims = 0

    async def claim(self, grant: RetakeGrant) -> bool:
        self.claims += 1
        await asyncio.sleep(0)  # another claim may run here: the check below decides alone
        if grant.take_id in self.rows:
            return False
        self.rows[grant.take_id] = grant
        return True


class Audit:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    async def record(self, entry: Entry) -> None:
        self.entries.append(entry)

    async def recent(self, limit: int = 100, account_id: str | None = None) -> list[Entry]:
        return [e for e in self.entries if account_id in (None, e.account_id)][-limit:]


class RetakeBench(Bench):
    ledger: MemoryLedger
    audit: Audit

    def restart(self) -> None:
        super().restart()
        self.ledger = getattr(self, "ledger", None) or MemoryLedger()
        self.audit = getattr(self, "audit", None) or Audit()
        self.notices: list[tuple[str, dict[str, Any]]] = []
        self.takes.listeners.clear()
        retakes = Retakes(self.ledger, self.audit, self.notice)
        self.runner = AttemptRunner(
            self.attempts,
            self.exams,
            self.takes,
            self.takes,
            self.clock,
            self.scheduler,
            retakes=retakes,
        )
        self.runner.after_run.append(retakes.announce)
        self.takes.add_listener(self.runner.on_take_event)

    async def notice(self, candidate_id: str, body: dict[str, Any]) -> None:
        saved = await self.attempts.get(body["attempt_id"])  # told once it is saved
        assert saved is not None and saved.retakes
        self.notices.append((candidate_id, body))


def bench(clock: FakeClock, rule: RetakeRule | None = None, **settings: Any) -> RetakeBench:
    exam = exam_of(online(**({"formal_count": 1} | settings)))
    if rule is not None:
        exam = replace(exam, retake=rule)
    return RetakeBench(exam, clock)


async def record(b: RetakeBench, seconds: float, quality: dict[str, Any] | None) -> Attempt:
    """One formal take of ``seconds`` on the fake clock, stored with ``quality``."""
    b.takes.quality = quality
    a = await start_by_hand(b)
    take = a.recording_take
    assert take is not None
    await b.advance(seconds)
    return await stop_by_hand(b, take.id)


async def test_a_damaged_formal_take_grants_one_more_and_says_why(clock: FakeClock) -> None:
    b = bench(clock)
    await enter(b)
    a = await record(b, 30, lost(3.2, at=12.0))
    [take] = a.takes
    [granted] = a.retakes
    assert granted.take_id == take.id and granted.granted_at == clock()
    assert granted.reasons == ["this take lost 3.2 s to the network (0:12-0:15)"]
    assert remaining(a, b.exam, TakeKind.FORMAL) == 1
    view = attempt_view(a, b.exam, b.exam.questions[0])
    assert view["formal"] == {"allowed": 2, "used": 1, "remaining": 1}
    assert view["retakes"][0]["damage"][0]["kind"] == "lost"
    assert view["retakes"][0]["damage"][0]["seconds"] == 3.2
    [entry] = b.audit.entries
    assert entry.event is Event.RETAKE_GRANTED and entry.account_id == CANDIDATE
    assert entry.detail["take_id"] == take.id and entry.detail["attempt_id"] == a.id
    assert entry.detail["reasons"] == granted.reasons and entry.at == clock()
    [(whom, body)] = b.notices  # the pages are told, once
    assert whom == CANDIDATE and body["take_id"] == take.id
    assert body["damage"][0]["text"] == granted.reasons[0]
    # the extra take can be recorded, beyond formal_count 1
    a = await record(b, 20, lost(0))
    assert [t.kind for t in a.takes] == [TakeKind.FORMAL, TakeKind.FORMAL]
    assert len(a.retakes) == 1 and remaining(a, b.exam, TakeKind.FORMAL) == 0


async def test_an_undamaged_take_grants_nothing(clock: FakeClock) -> None:
    b = bench(clock)
    await enter(b)
    a = await record(b, 30, lost(2.0))  # 2 s exactly: not more than 2
    assert a.retakes == () and remaining(a, b.exam, TakeKind.FORMAL) == 0
    assert b.audit.entries == [] and b.ledger.claims == 0
    with pytest.raises(Conflict, match="all 1 formal"):
        await start_by_hand(b)


async def test_no_report_grants_nothing(clock: FakeClock) -> None:
    b = bench(clock)
    await enter(b)
    a = await record(b, 30, None)
    assert a.retakes == ()


async def test_the_rule_switched_off_grants_nothing(clock: FakeClock) -> None:
    b = bench(clock, RetakeRule(enabled=False))
    await enter(b)
    a = await record(b, 30, lost(9.0))
    assert a.retakes == () and b.audit.entries == []


async def test_each_damaged_take_grants_up_to_the_cap(clock: FakeClock) -> None:
    b = bench(clock, RetakeRule(max_extra=2))
    await enter(b)
    for n in (1, 2):
        a = await record(b, 30, lost(5.0))
        assert len(a.retakes) == n
    a = await record(b, 30, lost(5.0))  # the third damaged take: the cap of 2 is reached
    assert len(a.takes) == 3 and len(a.retakes) == 2
    assert remaining(a, b.exam, TakeKind.FORMAL) == 0
    assert len(b.audit.entries) == 2
    assert [e.detail["extra"] for e in b.audit.entries] == [1, 2]
    with pytest.raises(Conflict, match="all 3 formal"):
        await start_by_hand(b)


async def test_rehearsals_and_auto_submit_questions_never_grant(clock: FakeClock) -> None:
    b = bench(clock, auto_submit=True)
    await enter(b)
    a = await record(b, 30, lost(9.0))
    assert a.retakes == () and a.submitted_by == "auto"


async def test_the_same_damaged_take_stored_many_times_at_once_grants_once(
    clock: FakeClock,
) -> None:
    b = bench(clock)
    await enter(b)
    a = await record(b, 30, lost(4.0))
    take = b.takes.takes[a.takes[0].id]
    # the store event again, 20 times in parallel (a retry, another node's copy, a restart)
    await asyncio.gather(*(b.runner.on_take_event("take_stored", take) for _ in range(20)))
    a = await b.attempt()
    assert len(a.retakes) == 1 and len(b.ledger.rows) == 1 and len(b.audit.entries) == 1
    assert len(b.notices) == 1


async def test_the_grant_steps_run_in_parallel_without_the_lock_still_audit_once(
    clock: FakeClock,
) -> None:
    """The ledger's unique key alone keeps one grant per take: 20 grant steps on the same
    attempt, all outside the attempt's lock, audit once."""
    b = bench(clock)
    await enter(b)
    a = await record(b, 30, None)
    retakes = Retakes(b.ledger, b.audit)
    results = await asyncio.gather(
        *(retakes.apply(a, b.exam, a.takes[0].id, lost(4.0), clock()) for _ in range(20))
    )
    assert all(len(r.retakes) == 1 for r in results)
    assert len(b.ledger.rows) == 1 and len(b.audit.entries) == 1


async def test_a_take_stored_while_the_server_was_down_grants_at_restart(
    clock: FakeClock,
) -> None:
    b = bench(clock)
    await enter(b)
    b.takes.quality = lost(6.0)
    a = await start_by_hand(b)
    take = a.recording_take
    assert take is not None
    b.restart()
    b.takes.listeners.clear()  # the media layer finished the take while no runner listened
    await b.advance(10)
    await b.takes.stop(take.id, "server_restart")
    b.takes.add_listener(b.runner.on_take_event)
    await b.runner.reconcile()
    a = await b.attempt()
    assert len(a.retakes) == 1 and len(b.audit.entries) == 1


async def test_a_grant_claimed_before_a_crash_is_applied_without_a_second_entry(
    clock: FakeClock,
) -> None:
    b = bench(clock)
    await enter(b)
    a = await record(b, 30, None)
    take_id = a.takes[0].id
    b.ledger.rows[take_id] = RetakeGrant(take_id, a.id, CANDIDATE, (), clock())
    a = await Retakes(b.ledger, b.audit).apply(a, b.exam, take_id, lost(4.0), clock())
    assert len(a.retakes) == 1 and b.audit.entries == []

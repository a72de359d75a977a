"""Who may watch whom live, the per-account limit under parallel opens, and the audit.
Through the real SQLite repositories."""

from __future__ import annotations

import asyncio

import pytest

from exams.catalog.attempts import new_attempt
from exams.catalog.catalog import ExamCatalog
from exams.identity.accounts import Account, Role
from exams.proctoring.watching import Watching
from exams.shared.errors import Conflict, Forbidden, NotFound
from exams.shared.ports import Event
from storage.accounts import SqliteAccounts
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from tests.support.world import World
from tests.unit.exams.catalog.test_catalog import ONLINE, exam_body


def watching(w: World, max_per_account: int = 2) -> Watching:
    return Watching(
        SqliteExams(w.db),
        SqliteAccounts(w.db),
        w.s.units,
        SqliteAttempts(w.db),
        w.s.audit,
        w.clock,
        max_per_account=max_per_account,
    )


async def setting(w: World) -> tuple[str, Account, Account, Account, Account]:
    """An exam of unit 10001 with an assigned proctor, its unit admin, and one candidate on
    the admitted list; also a proctor assigned to another exam."""
    exams = SqliteExams(w.db)
    catalog = ExamCatalog(
        exams, SqliteAttempts(w.db), SqliteAccounts(w.db), w.s.audit, w.clock, limiter=w.s.limiter
    )
    await w.s.units.add("10001", "甲")
    await w.s.units.add("20002", "乙")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    other_admin = await w.staff(Role.UNIT_ADMIN, "20002")
    exam = await catalog.create(admin, exam_body(ONLINE), "c")
    other_exam = await catalog.create(other_admin, exam_body(ONLINE), "c")
    proctor = await w.staff(Role.PROCTOR)
    stranger = await w.staff(Role.PROCTOR)
    await exams.assign_proctor(exam.id, proctor.id, w.clock())
    await exams.assign_proctor(other_exam.id, stranger.id, w.clock())
    candidate = await w.register("李四")
    await w.admit("10001", [candidate])
    return exam.id, admin, proctor, stranger, candidate


async def denials(w: World) -> list[dict[str, object]]:
    return [
        e.detail
        for e in await w.s.audit.recent(200)
        if e.event is Event.ACCESS_DENIED and e.detail.get("what") == "watch_candidate"
    ]


async def test_the_assigned_proctor_and_the_unit_admin_watch_and_it_is_audited(w: World) -> None:
    exam_id, admin, proctor, _, candidate = await setting(w)
    live = watching(w)
    watch = await live.open(proctor, exam_id, candidate.id, "203.0.113.7")
    assert (watch.watcher_id, watch.candidate_id, watch.exam_id) == (
        proctor.id,
        candidate.id,
        exam_id,
    )
    assert await live.open(admin, exam_id, candidate.id, "c")
    w.clock.advance(42)
    assert await live.close(watch.id, "closed") == watch
    assert await live.close(watch.id, "closed") is None  # once
    entries = await w.s.audit.recent(200)
    opened = [e for e in entries if e.event is Event.VIEWER_OPENED and e.account_id == proctor.id]
    closed = [e for e in entries if e.event is Event.VIEWER_CLOSED]
    assert len(opened) == 1 and opened[0].client == "203.0.113.7"
    assert opened[0].detail["candidate_id"] == candidate.id
    assert opened[0].detail["exam_id"] == exam_id
    assert len(closed) == 1 and closed[0].detail["duration_s"] == 42
    assert closed[0].detail["reason"] == "closed"


async def test_others_are_refused_and_audited(w: World) -> None:
    exam_id, admin, proctor, stranger, candidate = await setting(w)
    live = watching(w)
    other_admin = await w.staff(Role.UNIT_ADMIN, "20002")
    outsider = await w.register("王五")  # a candidate not on the list, no attempt
    refused = [
        (stranger, candidate.id),  # a proctor of another exam
        (await w.staff(Role.PROCTOR), candidate.id),  # a proctor assigned to nothing
        (other_admin, candidate.id),  # the admin of another unit
        (candidate, candidate.id),  # a candidate, even of themselves
        (await w.staff(Role.STAFF_REVIEWER), candidate.id),
        (proctor, outsider.id),  # not a candidate of this exam
        (proctor, admin.id),  # staff are not watched
        (proctor, "no-such-account"),
    ]
    for who, whom in refused:
        with pytest.raises(Forbidden):
            await live.open(who, exam_id, whom, "c")
    assert len(await denials(w)) == len(refused)
    with pytest.raises(NotFound):
        await live.open(proctor, "no-such-exam", candidate.id, "c")
    assert live.held(proctor.id) == 0


async def test_a_candidate_with_an_attempt_may_be_watched_after_leaving_the_list(
    w: World,
) -> None:
    exam_id, _, proctor, _, _ = await setting(w)
    former = await w.register("赵六")  # never on the list, but answered a question
    exam = await SqliteExams(w.db).get(exam_id)
    assert exam is not None
    attempt = new_attempt("a1", exam, "q1", former.id)
    await SqliteAttempts(w.db).save(attempt, w.clock())
    assert await watching(w).open(proctor, exam_id, former.id, "c")


async def test_the_limit_per_account_holds_under_parallel_opens(w: World) -> None:
    exam_id, _, proctor, _, candidate = await setting(w)
    live = watching(w, max_per_account=2)
    results = await asyncio.gather(
        *(live.open(proctor, exam_id, candidate.id, "c") for _ in range(8)),
        return_exceptions=True,
    )
    opened = [r for r in results if not isinstance(r, BaseException)]
    assert len(opened) == 2
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert live.held(proctor.id) == 2
    await live.close(opened[0].id)
    assert await live.open(proctor, exam_id, candidate.id, "c")  # a place came free

"""Unit admins set up exams of their own unit; proctors read what is assigned to them.
Through the real SQLite repositories."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exams.catalog.attempts import new_attempt
from exams.catalog.catalog import PROCTOR_LOOKUPS, ExamCatalog
from exams.identity.accounts import Role
from exams.shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from exams.shared.ports import Event
from storage.accounts import SqliteAccounts
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from tests.support.world import World

OPENS = 1_750_000_000.0


def exam_body(*questions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "title": "钢琴演奏",
        "opens_at": OPENS,
        "closes_at": OPENS + 3 * 3600,
        "instructions": "Play two pieces.",
        "questions": list(questions),
        **extra,
    }


ONLINE = {"id": "q1", "title": "Piece", "order": 1, "mode": "online", "recording_limit_s": 180}
OFFLINE: dict[str, Any] = {
    "id": "q2",
    "title": "Sight reading",
    "order": 2,
    "mode": "offline",
    "files": {"kinds": ["video"], "formats": ["mp4"], "max_count": 2, "max_bytes": 1000},
}


def catalog(w: World) -> tuple[ExamCatalog, SqliteExams, SqliteAttempts]:
    exams, attempts = SqliteExams(w.db), SqliteAttempts(w.db)
    catalog = ExamCatalog(
        exams, attempts, SqliteAccounts(w.db), w.s.audit, w.clock, limiter=w.s.limiter
    )
    return catalog, exams, attempts


async def test_an_admin_creates_edits_and_reads_only_their_units_exams(w: World) -> None:
    c, _, _ = catalog(w)
    await w.s.units.add("10001", "甲")
    await w.s.units.add("20002", "乙")
    mine = await w.staff(Role.UNIT_ADMIN, "10001")
    other = await w.staff(Role.UNIT_ADMIN, "20002")
    exam = await c.create(mine, exam_body(ONLINE, OFFLINE), "c")
    assert exam.unit_id == "10001" and [q.id for q in exam.questions] == ["q1", "q2"]
    assert (await c.get(exam.id)) == exam  # the stored JSON round-trips
    with pytest.raises(Forbidden):
        await c.admin_exam(other, exam.id, "c")
    with pytest.raises(Forbidden):
        await c.replace(other, exam.id, exam_body(ONLINE), "c")
    assert await c.of_unit(other, "c") == []
    denied = [e for e in await w.s.audit.recent() if e.event is Event.ACCESS_DENIED]
    assert {e.detail["exam_id"] for e in denied} == {exam.id}
    edited = await c.put_question(mine, exam.id, {**ONLINE, "reading_limit_s": 60}, "c")
    assert edited.question("q1").online.reading_limit_s == 60
    removed = await c.remove_question(mine, exam.id, "q2", "c")
    assert [q.id for q in removed.questions] == ["q1"]


async def test_every_bad_setting_is_reported_at_once(w: World) -> None:
    c, _, _ = catalog(w)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    bad = {**ONLINE, "auto_submit": True, "formal_count": 2, "submission_limit_s": 100}
    with pytest.raises(InvalidInput) as refused:
        await c.create(admin, exam_body(bad, closes_at=OPENS - 1), "c")
    fields = {d["field"] for d in refused.value.details}
    assert fields == {"closes_at", "questions[0].submission_limit_s", "questions[0].auto_submit"}


async def test_once_started_only_the_texts_of_an_exam_change(w: World) -> None:
    c, _, attempts = catalog(w)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    exam = await c.create(admin, exam_body(ONLINE), "c")
    await attempts.save(new_attempt("a1", exam, "q1", admin.id), w.clock())
    renamed = await c.replace(admin, exam.id, exam_body(ONLINE, title="新标题"), "c")
    assert renamed.title == "新标题"
    with pytest.raises(Conflict) as refused:
        await c.put_question(admin, exam.id, {**ONLINE, "recording_limit_s": 60}, "c")
    assert refused.value.details == {"changed": ["questions"]}


async def test_the_device_check_is_skipped_only_for_offline_only_units(w: World) -> None:
    c, _, _ = catalog(w)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    assert await c.device_check_required("10001")  # no exams yet: the default stands
    offline_only = await c.create(admin, exam_body({**OFFLINE, "order": 1}), "c")
    assert not await c.device_check_required("10001")
    await c.put_question(admin, offline_only.id, ONLINE | {"order": 2}, "c")
    assert await c.device_check_required("10001")


async def test_proctors_read_only_the_exams_assigned_to_them(w: World) -> None:
    c, _, _ = catalog(w)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    proctor = await w.staff(Role.PROCTOR)
    candidate = await w.register("李四")
    first = await c.create(admin, exam_body(ONLINE), "c")
    second = await c.create(admin, exam_body(ONLINE), "c")
    # A candidate's phone and an unknown phone get the same answer: no role oracle.
    with pytest.raises(NotFound) as not_a_proctor:
        await c.assign(admin, first.id, "c", phone=candidate.phone)
    with pytest.raises(NotFound) as unknown:
        await c.assign(admin, first.id, "c", phone="13900009999")
    assert not_a_proctor.value.to_json() == unknown.value.to_json()
    listed = await c.assign(admin, first.id, "c", phone=proctor.phone)
    assert [p["account_id"] for p in listed] == [proctor.id]
    assert [e.id for e in await c.proctor_exams(proctor)] == [first.id]
    assert (await c.proctor_exam(proctor, first.id, "c")).id == first.id
    with pytest.raises(Forbidden, match="not assigned"):
        await c.proctor_exam(proctor, second.id, "c")
    assert await c.unassign(admin, first.id, proctor.id, "c") == []
    with pytest.raises(Forbidden):
        await c.proctor_exam(proctor, first.id, "c")


async def test_formats_the_server_cannot_check_are_refused_at_setup(w: World) -> None:
    c, _, _ = catalog(w)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    files = {**OFFLINE["files"], "formats": ["mp4", "doc", "png"]}
    material = {"kind": "image", "formats": ["jpg", "mp3"], "max_bytes": 1000}
    online = {**ONLINE, "materials": [material]}
    with pytest.raises(InvalidInput) as refused:
        await c.create(admin, exam_body(online, {**OFFLINE, "files": files}), "c")
    fields = {d["field"]: d["message"] for d in refused.value.details}
    assert set(fields) == {
        "questions[0].materials[0].formats[1]",
        "questions[1].files.formats[1]",
        "questions[1].files.formats[2]",
    }
    assert "cannot check .doc" in fields["questions[1].files.formats[1]"]
    assert ".png holds image; this accepts only video" in fields["questions[1].files.formats[2]"]


async def test_proctor_look_ups_are_limited_per_admin_even_in_parallel(w: World) -> None:
    c, _, _ = catalog(w)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    other = await w.staff(Role.UNIT_ADMIN, "10001")
    exam = await c.create(admin, exam_body(ONLINE), "c")
    phones = [f"1390000{i:04d}" for i in range(PROCTOR_LOOKUPS.limit + 20)]
    results = await asyncio.gather(
        *(c.assign(admin, exam.id, "c", phone=p) for p in phones), return_exceptions=True
    )
    assert sum(isinstance(r, NotFound) for r in results) == PROCTOR_LOOKUPS.limit
    assert sum(isinstance(r, TooManyRequests) for r in results) == 20
    with pytest.raises(NotFound):  # another admin has a budget of their own
        await c.assign(other, exam.id, "c", phone=phones[0])
    w.clock.advance(PROCTOR_LOOKUPS.seconds)
    with pytest.raises(NotFound):
        await c.assign(admin, exam.id, "c", phone=phones[0])
    events = [e.event for e in await w.s.audit.recent(limit=500, account_id=admin.id)]
    assert events.count(Event.PROCTOR_LOOKUP_REFUSED) == PROCTOR_LOOKUPS.limit + 1

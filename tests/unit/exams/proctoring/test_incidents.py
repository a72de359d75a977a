"""Incidents through the real SQLite repositories: where an alert lands on the timeline, one
active incident per key under parallel raises, who may dispose, and the audit."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exams.catalog.attempts import AttemptTake, TakeKind, new_attempt
from exams.catalog.catalog import ExamCatalog
from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account, Role
from exams.proctoring.incident import Incident
from exams.proctoring.incident_media import IncidentTakes
from exams.proctoring.incidents import AlertKind, Incidents
from exams.shared.errors import Forbidden, InvalidInput, NotFound
from exams.shared.ports import Event
from storage.accounts import SqliteAccounts
from storage.answer_files import AnswerFiles
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from storage.incidents import SqliteIncidents
from tests.support.world import World
from tests.unit.exams.catalog.test_catalog import ONLINE, exam_body

SECOND = {**ONLINE, "id": "q2", "order": 2}


class Setting:
    def __init__(self, w: World) -> None:
        self.w = w
        self.exams = SqliteExams(w.db)
        self.attempts = SqliteAttempts(w.db)
        self.store = SqliteIncidents(w.db)
        self.catalog = ExamCatalog(
            self.exams, self.attempts, SqliteAccounts(w.db), w.s.audit, w.clock, limiter=w.s.limiter
        )
        self.incidents = Incidents(
            self.store,
            self.attempts,
            self.exams,
            self.catalog,
            SqliteAccounts(w.db),
            w.s.audit,
            w.clock,
        )
        self.events: list[tuple[str, Incident]] = []

        async def heard(event: str, incident: Incident) -> None:
            self.events.append((event, incident))

        self.incidents.add_listener(heard)

    async def build(self, **exam: Any) -> None:
        w = self.w
        await w.s.units.add("10001", "甲")
        await w.s.units.add("20002", "乙")
        self.admin = await w.staff(Role.UNIT_ADMIN, "10001")
        self.other_admin = await w.staff(Role.UNIT_ADMIN, "20002")
        body = exam_body(ONLINE, SECOND, **exam)
        self.exam = await self.catalog.create(self.admin, body, "c")
        other = await self.catalog.create(self.other_admin, exam_body(ONLINE), "c")
        self.proctor = await w.staff(Role.PROCTOR)
        self.stranger = await w.staff(Role.PROCTOR)
        await self.exams.assign_proctor(self.exam.id, self.proctor.id, w.clock())
        await self.exams.assign_proctor(other.id, self.stranger.id, w.clock())
        self.candidate = await w.register("李四")
        await w.admit("10001", [self.candidate])

    async def recording(self, question_id: str = "q1", attempt_id: str = "a1") -> AttemptTake:
        """The candidate records a formal take of ``question_id`` now."""
        now = self.w.clock()
        take = AttemptTake("t-" + attempt_id, TakeKind.FORMAL, now, now + 180)
        a = replace(
            new_attempt(attempt_id, self.exam, question_id, self.candidate.id),
            entered_at=now,
            submission_deadline=now + 600,
            takes=(take,),
        )
        await self.attempts.save(a, now)
        return take

    async def submitted(self, attempt_id: str = "a1") -> None:
        a = await self.attempts.get(attempt_id)
        assert a is not None
        now = self.w.clock()
        takes = tuple(replace(t, stopped_at=now, stop_reason="stopped") for t in a.takes)
        await self.attempts.save(
            replace(a, takes=takes, submitted_at=now, submitted_by="candidate"), now
        )


@pytest.fixture
async def s(w: World) -> Setting:
    setting = Setting(w)
    await setting.build()
    return setting


async def audit(w: World, event: Event) -> list[dict[str, Any]]:
    return [e.detail for e in await w.s.audit.recent(500) if e.event is event]


async def test_an_alert_lands_on_the_take_at_its_onset_and_is_audited(s: Setting) -> None:
    take = await s.recording()
    s.w.clock.advance(40)
    found = await s.incidents.raise_alert(
        s.candidate.id,
        AlertKind.NO_FACE,
        camera="primary",
        started_at=s.w.clock() - 10,
        detail={"faces": 0},
    )
    assert found is not None
    assert (found.exam_id, found.attempt_id, found.question_id) == (s.exam.id, "a1", "q1")
    assert found.take_id == take.id and found.take_offset_s == 30.0
    assert found.raised_at == s.w.clock() and found.started_at == s.w.clock() - 10
    assert found.status == "open" and found.ended_at is None and found.detail == {"faces": 0}
    assert await s.store.get(found.id) == found
    raised = await audit(s.w, Event.INCIDENT_RAISED)
    assert [(d["incident_id"], d["kind"], d["camera"]) for d in raised] == [
        (found.id, "no_face", "primary")
    ]
    assert s.events == [("raised", found)]


async def test_parallel_raises_of_one_key_make_one_incident(s: Setting) -> None:
    await s.recording()
    raised = await asyncio.gather(
        *(
            s.incidents.raise_alert(s.candidate.id, AlertKind.CAMERA_DARK, camera="primary")
            for _ in range(20)
        ),
        *(
            s.incidents.raise_alert(s.candidate.id, AlertKind.CAMERA_DARK, camera="secondary")
            for _ in range(20)
        ),
    )
    made = [r for r in raised if r is not None]
    assert sorted(r.camera or "" for r in made) == ["primary", "secondary"]
    assert len(await s.store.of_attempt("a1")) == 2
    assert len(await audit(s.w, Event.INCIDENT_RAISED)) == 2
    # While active, a repeat is None; once ended, the next raise is a new incident.
    assert (
        await s.incidents.raise_alert(s.candidate.id, AlertKind.CAMERA_DARK, camera="primary")
        is None
    )
    s.w.clock.advance(5)
    await s.incidents.end_alert(s.candidate.id, AlertKind.CAMERA_DARK, camera="primary")
    ended = await s.store.get(next(r.id for r in made if r.camera == "primary"))
    assert ended is not None and ended.ended_at == s.w.clock()
    assert ("ended", ended) in s.events
    again = await s.incidents.raise_alert(s.candidate.id, AlertKind.CAMERA_DARK, camera="primary")
    assert again is not None and again.id != ended.id


async def test_an_end_while_the_raise_is_stored_ends_it(s: Setting) -> None:
    await s.recording()
    raised, _ = await asyncio.gather(
        s.incidents.raise_alert(s.candidate.id, AlertKind.PAGE_HIDDEN),
        s.incidents.end_alert(s.candidate.id, AlertKind.PAGE_HIDDEN),
    )
    assert raised is not None and raised.ended_at == s.w.clock()
    stored = await s.store.get(raised.id)
    assert stored is not None and stored.ended_at == s.w.clock()
    assert not s.incidents.is_active(s.candidate.id, AlertKind.PAGE_HIDDEN)


async def test_a_reload_is_a_moment(s: Setting) -> None:
    await s.recording()
    first = await s.incidents.raise_alert(s.candidate.id, AlertKind.PAGE_RELOADED)
    second = await s.incidents.raise_alert(s.candidate.id, AlertKind.PAGE_RELOADED)
    assert first is not None and second is not None and first.id != second.id
    assert first.ended_at == first.started_at


async def test_between_questions_the_alert_counts_against_the_exam(s: Setting) -> None:
    # No answer yet in any open exam: nothing to put it on.
    assert await s.incidents.raise_alert(s.candidate.id, AlertKind.WINDOW_LEFT) is None
    await s.recording()
    await s.submitted()
    s.w.clock.advance(10)
    found = await s.incidents.raise_alert(s.candidate.id, AlertKind.WINDOW_LEFT)
    assert found is not None and found.exam_id == s.exam.id
    assert (found.attempt_id, found.question_id, found.take_id, found.take_offset_s) == (
        None,
        None,
        None,
        None,
    )
    got = await s.incidents.timeline(s.proctor, exam_id=s.exam.id, candidate_id=s.candidate.id)
    assert got == [found]
    # The exam closed: dropped.
    await s.incidents.end_alert(s.candidate.id, AlertKind.WINDOW_LEFT)
    s.w.clock.advance(4 * 3600)
    assert await s.incidents.raise_alert(s.candidate.id, AlertKind.WINDOW_LEFT) is None


async def test_a_kind_the_exam_switched_off_is_dropped(w: World) -> None:
    s = Setting(w)
    await s.build(monitoring={"silence": {"enabled": False}})
    await s.recording()
    assert await s.incidents.raise_alert(s.candidate.id, AlertKind.SILENCE) is None
    assert not s.incidents.is_active(s.candidate.id, AlertKind.SILENCE)
    assert await s.incidents.raise_alert(s.candidate.id, AlertKind.NO_FACE) is not None


async def test_the_exams_people_dispose_and_everyone_else_is_refused(s: Setting) -> None:
    await s.recording()
    found = await s.incidents.raise_alert(s.candidate.id, AlertKind.MANY_FACES, camera="primary")
    assert found is not None
    done = await s.incidents.dispose(s.proctor, found.id, "confirmed", " 两个人 ", "203.0.113.9")
    assert (done.status, done.note, done.disposed_by) == ("confirmed", "两个人", s.proctor.id)
    assert done.disposed_at == s.w.clock() and done.ended_at is None  # still active
    again = await s.incidents.dispose(s.admin, found.id, "dismissed", "", "c")
    assert again.status == "dismissed" and again.disposed_by == s.admin.id
    decided = await audit(s.w, Event.INCIDENT_DISPOSED)
    assert [(d["decision"], d["previous"]) for d in reversed(decided)] == [
        ("confirmed", "open"),
        ("dismissed", "confirmed"),
    ]
    assert [e for e, _ in s.events] == ["raised", "disposed", "disposed"]
    other_unit_proctor = await s.w.staff(Role.PROCTOR)
    refused: list[Account] = [
        s.candidate,
        s.stranger,
        s.other_admin,
        other_unit_proctor,
        await s.w.staff(Role.STAFF_REVIEWER),
    ]
    before = len(await audit(s.w, Event.ACCESS_DENIED))
    for who in refused:
        with pytest.raises(Forbidden):
            await s.incidents.dispose(who, found.id, "dismissed", "x", "c")
        with pytest.raises(Forbidden):
            await s.incidents.timeline(who, "a1")
        with pytest.raises(Forbidden):
            await s.incidents.timeline(who, exam_id=s.exam.id, candidate_id=s.candidate.id)
    assert len(await audit(s.w, Event.ACCESS_DENIED)) - before == 3 * len(refused)
    stored = await s.store.get(found.id)
    assert stored is not None and stored.status == "dismissed"
    [shown] = await s.incidents.described([stored])
    assert shown["candidate_name"] == "李四" and shown["disposed_by_name"] == s.admin.name
    assert shown["disposed_by_role"] == "unit_admin" and shown["note"] == ""
    with pytest.raises(InvalidInput):
        await s.incidents.dispose(s.proctor, found.id, "maybe", "", "c")
    with pytest.raises(InvalidInput):
        await s.incidents.dispose(s.proctor, found.id, "confirmed", "x" * 2001, "c")
    with pytest.raises(NotFound):
        await s.incidents.dispose(s.proctor, "nope", "confirmed", "", "c")


async def test_timelines_by_answer_and_by_candidate_in_onset_order(s: Setting) -> None:
    await s.recording("q1", "a1")
    s.w.clock.advance(20)
    late = await s.incidents.raise_alert(s.candidate.id, AlertKind.NO_FACE, camera="primary")
    early = await s.incidents.raise_alert(
        s.candidate.id, AlertKind.SILENCE, started_at=s.w.clock() - 15
    )
    await s.submitted("a1")
    s.w.clock.advance(60)
    await s.recording("q2", "a2")
    s.w.clock.advance(5)
    await s.incidents.end_alert(s.candidate.id, AlertKind.NO_FACE, camera="primary")
    second = await s.incidents.raise_alert(s.candidate.id, AlertKind.NO_FACE, camera="primary")
    assert late and early and second and second.attempt_id == "a2" and second.take_offset_s == 5
    by_answer = await s.incidents.timeline(s.admin, "a1")
    assert [i.id for i in by_answer] == [early.id, late.id]
    assert [i.id for i in await s.incidents.timeline(s.proctor, "a2")] == [second.id]
    all_of = await s.incidents.timeline(s.proctor, exam_id=s.exam.id, candidate_id=s.candidate.id)
    assert [i.id for i in all_of] == [early.id, late.id, second.id]
    assert [i.id for i in await s.incidents.timeline(s.admin, exam_id=s.exam.id)] == [
        early.id,
        late.id,
        second.id,
    ]
    with pytest.raises(NotFound):
        await s.incidents.timeline(s.proctor, "no-such-answer")
    undecided = await s.incidents.undecided(s.exam.id)
    assert [i.id for i in undecided[s.candidate.id]] == [early.id, late.id, second.id]


async def test_a_restart_ends_what_was_left_active(s: Setting) -> None:
    await s.recording()
    found = await s.incidents.raise_alert(s.candidate.id, AlertKind.NO_FACE, camera="primary")
    assert found is not None
    s.w.clock.advance(3)
    fresh = Incidents(
        s.store, s.attempts, s.exams, s.catalog, SqliteAccounts(s.w.db), s.w.s.audit, s.w.clock
    )
    assert await fresh.reconcile() == 1
    stored = await s.store.get(found.id)
    assert stored is not None and stored.ended_at == s.w.clock()
    assert await fresh.raise_alert(s.candidate.id, AlertKind.NO_FACE, camera="primary")


async def test_the_takes_behind_a_timeline_play_for_the_exams_people_only(
    s: Setting, tmp_path: Path
) -> None:
    take = await s.recording()
    found = await s.incidents.raise_alert(s.candidate.id, AlertKind.NO_FACE, camera="primary")
    assert found is not None
    manifest = {
        "segments": [{"index": 0, "file": "000.webm", "start_s": 0.0, "duration_s": 4.0}],
        "cameras": {
            "secondary": {
                "segments": [{"index": 0, "file": "000.webm", "start_s": 0.4, "duration_s": 3.5}]
            }
        },
    }
    record = Take(
        take.id,
        s.candidate.id,
        "s1",
        "formal",
        TakeState.STORED,
        take.started_at,
        manifest=manifest,
        attempt_id="a1",
    )
    await s.w.s.takes.save(record)
    media = IncidentTakes(s.incidents, s.attempts, s.w.s.takes, AnswerFiles(tmp_path, tmp_path))
    shown = (await media.takes_of([found]))[take.id]
    base = f"/api/proctor/attempts/a1/takes/{take.id}/segments/0"
    assert [c["segments"][0]["play_url"] for c in shown["cameras"].values()] == [
        f"{base}?camera=primary",
        f"{base}?camera=secondary",
    ]
    assert shown["cameras"]["secondary"]["segments"][0]["start_s"] == 0.4
    got = await media.segment(s.proctor, "a1", take.id, "0", "secondary", "c")
    assert got.path == tmp_path / take.id / "000.webm" and got.media_type == "video/webm"
    for who in (s.stranger, s.candidate, s.other_admin):
        with pytest.raises(Forbidden):
            await media.segment(who, "a1", take.id, "0", "primary", "c")
    with pytest.raises(NotFound):
        await media.segment(s.admin, "a1", "another-take", "0", "primary", "c")
    with pytest.raises(NotFound):
        await media.segment(s.admin, "a1", take.id, "7", "primary", "c")

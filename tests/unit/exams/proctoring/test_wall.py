"""The wall's tiles: where a candidate is, the deadline that runs, the cameras; who is on the
wall; who may see it. ``place`` and ``Tile.render`` are pure; ``Wall`` runs on the real SQLite
repositories with a clock moved by hand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from exams.admission.documents import DEFAULTS, Kind
from exams.admission.journey import Step
from exams.catalog.attempts import Attempt, AttemptTake, Reading, TakeKind, new_attempt
from exams.catalog.catalog import ExamCatalog
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account, Role
from exams.proctoring.incidents import AlertKind, Incidents
from exams.proctoring.wall import PICTURE_RECHECK_S, CameraFacts, Person, Tile, Wall, place
from exams.proctoring.watching import Watching
from exams.shared.errors import Forbidden, NotFound
from exams.shared.ports import Event
from storage.accounts import SqliteAccounts
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from storage.incidents import SqliteIncidents
from tests.support.world import World
from tests.unit.exams.catalog.test_catalog import OFFLINE, OPENS, exam_body

NOW = OPENS + 600
SECOND = {
    "id": "q3",
    "title": "Duet",
    "order": 3,
    "mode": "online",
    "recording_limit_s": 120,
    "second_camera_required": True,
}
ONLINE = {"id": "q1", "title": "Piece", "order": 1, "mode": "online", "recording_limit_s": 180}


def exam() -> Exam:
    return Exam.from_dict({**exam_body(ONLINE, OFFLINE, SECOND), "id": "e1", "unit_id": "10001"})


def attempt(qid: str, **changes: Any) -> Attempt:
    return replace(new_attempt(f"a-{qid}", exam(), qid, "c1"), **changes)


def reading(qid: str = "q1", deadline: float | None = NOW + 30) -> Attempt:
    return attempt(
        qid,
        entered_at=NOW - 5,
        submission_deadline=NOW + 1800,
        reading=Reading(TakeKind.FORMAL, NOW - 5, deadline),
    )


def recording(qid: str = "q1") -> Attempt:
    take = AttemptTake("t1", TakeKind.FORMAL, NOW - 2, NOW + 178, "server")
    return replace(reading(qid), reading=None, takes=(take,))


def submitted(qid: str) -> Attempt:
    return attempt(qid, entered_at=NOW - 100, submitted_at=NOW - 10, submitted_by="candidate")


@pytest.mark.parametrize(
    ("step", "attempts", "status"),
    [
        (None, [], "not_registered"),
        ("device_check", [], "journey"),
        ("exams", [], "not_started"),
        ("exams", [reading()], "reading"),
        ("exams", [recording()], "recording"),
        ("exams", [replace(recording(), takes=())], "submitting"),
        ("exams", [attempt("q2", opened_at=NOW - 5, submission_deadline=NOW + 60)], "answering"),
        ("exams", [submitted("q1")], "between_questions"),
        ("exams", [submitted("q1"), submitted("q2"), submitted("q3")], "finished"),
        # A question closed unanswered counts as over: nothing is left to do.
        ("exams", [submitted("q1"), submitted("q2"), attempt("q3", closed_at=NOW)], "finished"),
    ],
)
def test_status(step: str | None, attempts: list[Attempt], status: str) -> None:
    assert place(exam(), step, attempts, NOW)["status"] == status


def test_the_deadline_that_runs_now() -> None:
    read = place(exam(), "exams", [reading()], NOW)
    assert (read["deadline_kind"], read["deadline"]) == ("reading", NOW + 30)
    assert read["question"] == {
        "question_id": "q1",
        "title": "Piece",
        "order": 1,
        "mode": "online",
        "phase": "reading",
        "take_kind": "formal",
        "second_camera_required": False,
    }
    # Reading without a limit (the candidate starts): the answer's own clock runs.
    untimed = place(exam(), "exams", [reading(deadline=None)], NOW)
    assert (untimed["deadline_kind"], untimed["deadline"]) == ("submission", NOW + 1800)
    rec = place(exam(), "exams", [recording()], NOW)
    assert (rec["deadline_kind"], rec["deadline"]) == ("recording", NOW + 178)
    # Past the answer's deadline the question is closed: no deadline, between questions.
    late = place(exam(), "exams", [reading()], NOW + 1800)
    assert (late["status"], late["deadline"], late["question"]) == ("between_questions", None, None)
    counts = place(exam(), "exams", [submitted("q1"), reading("q3")], NOW)
    assert (counts["submitted"], counts["questions"], counts["finished"]) == (1, 3, False)
    assert counts["question"]["second_camera_required"] is True


class Media:
    def __init__(self, facts: Mapping[str, CameraFacts]) -> None:
        self.facts = facts
        self.asked: list[tuple[str, str | None]] = []

    def cameras(self, owner: str, attempt_id: str | None) -> Mapping[str, CameraFacts]:
        self.asked.append((owner, attempt_id))
        return self.facts


def account(account_id: str = "c1") -> Account:
    return Account(account_id, "13900000001", "张三", "resident_id", "x", Role.CANDIDATE, 0.0)


def test_a_tile_renders_the_live_cameras_each_time() -> None:
    where = place(exam(), "exams", [reading("q3")], NOW)
    tile = Tile("e1", Person("c1", "张三", account()), where, "a-q3", True)
    media = Media(
        {
            "primary": CameraFacts("connected", 4, NOW - 1.5),
            "secondary": CameraFacts("lost", None, None, link="lost"),
        }
    )
    shown = tile.render(media)
    assert media.asked == [("c1", "a-q3")]  # the open answer's second camera
    assert (shown["tile_id"], shown["candidate_id"], shown["registered"]) == ("c1", "c1", True)
    assert shown["status"] == "reading"
    assert shown["cameras"]["primary"] == {
        "state": "connected",
        "picture": {
            "seq": 4,
            "taken_at": NOW - 1.5,
            "url": "/api/proctor/exams/e1/candidates/c1/cameras/primary/picture?c=c1",
        },
    }
    assert shown["cameras"]["secondary"] == {
        "state": "lost",
        "picture": None,
        "link": "lost",
        "required": True,
        "second_camera": "missing",
    }
    media.facts = {"secondary": CameraFacts("connected", link="ready")}
    again = tile.render(media)
    assert again["cameras"]["primary"] == {"state": "no_feed", "picture": None}
    assert again["cameras"]["secondary"]["second_camera"] == "ready"
    # Not needed by the open question (or none open): never "missing".
    plain = Tile("e1", Person("c1", "张三", account()), where, "a-q1", False).render(media)
    assert plain["cameras"]["secondary"]["second_camera"] == "not_needed"
    # A listed person without an account: nothing live is asked.
    nobody = Tile("e1", Person("list:3", "李四", None), place(exam(), None, [], NOW), None, False)
    media.asked.clear()
    shown = nobody.render(media)
    assert media.asked == [] and shown["registered"] is False and shown["candidate_id"] is None
    assert shown["cameras"]["primary"] == {"state": "no_feed", "picture": None}


def test_the_notice_tells_candidates_that_proctors_may_watch_live() -> None:
    notice = DEFAULTS[Kind.NOTICE]
    assert "实时查看" in notice.body["zh"] and "watch your cameras" in notice.body["en"]


# -- the wall on the real repositories ---------------------------------------------------------


def wall_of(w: World, media: Media) -> tuple[Wall, ExamCatalog, SqliteExams, SqliteAttempts]:
    exams, attempts, people = SqliteExams(w.db), SqliteAttempts(w.db), SqliteAccounts(w.db)
    catalog = ExamCatalog(exams, attempts, people, w.s.audit, w.clock, limiter=w.s.limiter)
    watching = Watching(exams, people, w.s.units, attempts, w.s.audit, w.clock, max_per_account=2)
    return (
        Wall(
            catalog,
            attempts,
            w.s.units,
            people,
            w.s.journey,
            media,
            watching,
            Incidents(SqliteIncidents(w.db), attempts, exams, catalog, people, w.s.audit, w.clock),
            w.clock,
        ),
        catalog,
        exams,
        attempts,
    )


async def test_the_wall_holds_the_list_and_who_answered_and_only_its_watchers_see_it(
    w: World,
) -> None:
    wall, catalog, exams, attempts = wall_of(w, Media({}))
    await w.s.units.add("10001", "甲")
    await w.s.units.add("20002", "乙")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    other_admin = await w.staff(Role.UNIT_ADMIN, "20002")
    proctor, stranger = await w.staff(Role.PROCTOR), await w.staff(Role.PROCTOR)
    the_exam = await catalog.create(admin, exam_body(ONLINE, **{"opens_at": w.clock() - 60}), "c")
    await exams.assign_proctor(the_exam.id, proctor.id, w.clock())

    at_list = await w.candidate_at(Step.EXAMS, "10001", name="张三")
    halfway = await w.candidate_at(Step.DEVICE_CHECK, "10001", name="王五")
    removed = await w.candidate_at(Step.EXAMS, "30003", name="赵六")  # answered, then removed
    await attempts.save(
        replace(new_attempt("a1", the_exam, "q1", removed.id), opened_at=w.clock()), w.clock()
    )
    unregistered = replace(at_list, name="李四", id_number="X1234567")
    await w.admit("10001", [unregistered])

    for viewer in (proctor, admin):
        found, tiles = await wall.view(viewer, the_exam.id, "c")
        assert found.id == the_exam.id
        shown = wall.render(found, tiles)
        assert shown["now"] == w.clock()
        rows = [(t["name"], t["status"], t["journey_step"], t["on_list"]) for t in shown["tiles"]]
        assert rows == [
            ("张三", "not_started", "exams", True),
            ("王五", "journey", "device_check", True),
            ("李四", "not_registered", None, True),
            ("赵六", "submitting", "exams", False),  # another unit's candidate now
        ]
        assert shown["tiles"][2]["tile_id"].startswith("list:")
    assert halfway.id in [t.person.tile_id for t in tiles]
    # One candidate's tile read again after a change.
    person = next(t.person for t in tiles if t.person.tile_id == at_list.id)
    await attempts.save(
        replace(new_attempt("a2", the_exam, "q1", at_list.id), opened_at=w.clock()), w.clock()
    )
    assert (await wall.tile(the_exam, person)).place["status"] == "submitting"

    for refused in (stranger, other_admin, at_list):
        with pytest.raises(Forbidden):
            await wall.view(refused, the_exam.id, "c")
        [_denied] = [
            e
            for e in await w.s.audit.recent(500, refused.id)
            if e.event is Event.ACCESS_DENIED and e.detail.get("exam_id") == the_exam.id
        ]
    with pytest.raises(NotFound):
        await wall.view(proctor, "no-such-exam", "c")

    # Pictures follow the rule of live views: a candidate of this exam, for its watchers.
    await wall.check_candidate(proctor, the_exam.id, at_list.id, "c")
    with pytest.raises(Forbidden):
        await wall.check_candidate(proctor, the_exam.id, other_admin.id, "c")
    with pytest.raises(Forbidden):
        await wall.check_candidate(stranger, the_exam.id, at_list.id, "c")

    # A picture allowance is read again PICTURE_RECHECK_S after it was given (a wall fetches
    # every camera's picture every 2-3 s); a refusal is never kept.
    await exams.unassign_proctor(the_exam.id, proctor.id)
    await wall.check_candidate(proctor, the_exam.id, at_list.id, "c")
    w.clock.advance(PICTURE_RECHECK_S)
    with pytest.raises(Forbidden):
        await wall.check_candidate(proctor, the_exam.id, at_list.id, "c")
    await exams.assign_proctor(the_exam.id, proctor.id, w.clock())
    await wall.check_candidate(proctor, the_exam.id, at_list.id, "c")


async def test_a_tile_shows_the_incidents_awaiting_a_decision(w: World) -> None:
    wall, catalog, _, attempts = wall_of(w, Media({}))
    incidents = wall._incidents
    assert isinstance(incidents, Incidents)
    await w.s.units.add("10001", "甲")
    admin = await w.staff(Role.UNIT_ADMIN, "10001")
    the_exam = await catalog.create(admin, exam_body(ONLINE, **{"opens_at": w.clock() - 60}), "c")
    who = await w.candidate_at(Step.EXAMS, "10001", name="张三")
    await attempts.save(
        replace(new_attempt("a1", the_exam, "q1", who.id), opened_at=w.clock()), w.clock()
    )
    [tile] = await wall.tiles(the_exam)
    assert tile.render(Media({}))["incidents"] == {"open": 0, "latest": []}
    raised = []
    for kind in (AlertKind.PAGE_HIDDEN, AlertKind.NO_FACE, AlertKind.SILENCE, AlertKind.MANY_FACES):
        w.clock.advance(1)
        found = await incidents.raise_alert(who.id, kind, camera="primary")
        assert found is not None
        raised.append(found)
    await incidents.dispose(admin, raised[0].id, "dismissed", "", "c")
    shown = (await wall.tile(the_exam, tile.person)).render(Media({}))["incidents"]
    assert shown["open"] == 3
    assert [i["kind"] for i in shown["latest"]] == ["many_faces", "silence", "no_face"]
    assert shown["latest"][0] == raised[3].brief()
    [again] = await wall.tiles(the_exam)
    assert again.render(Media({}))["incidents"] == shown

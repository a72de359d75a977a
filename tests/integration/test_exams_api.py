"""Exams over HTTP: setting them up, who sees what, and the rules a candidate cannot bend.

The takes here record no media (no camera is connected): the server still
starts and stops them on its clock, and a take that stored nothing cannot be
chosen. tests/integration/test_exam_recording.py records real media.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exams.identity.accounts import Role
from tests.support import files
from tests.support.api import ApiClient, api_client, log_in
from tests.support.clock import MovableTime, wait_for
from tests.support.exams import (
    add_unit,
    create_exam,
    exam_body,
    offline_question,
    online_question,
    staff,
    through_journey,
    unit_exam,
    verify_for_exam,
)
from tests.support.server import (
    RunningServer,
    api_server_fixture,
    api_settings,
    free_port,
    running_server,
)

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

PNG = files.png()
MP4 = files.mp4()  # real files: the server opens what it is sent


exam_server = api_server_fixture(reconnect_grace_s=120)  # a long grace: no camera connects


async def setup(
    server: RunningServer, admin: ApiClient, candidate: ApiClient, *questions: dict[str, Any]
) -> tuple[str, Any]:
    """A unit with an exam of ``questions``; a candidate verified for it. (exam id, account)"""
    exam_id = await unit_exam(server, admin, "10001", *questions)
    who = await through_journey(server, candidate, "10001")
    await verify_for_exam(candidate, who, exam_id)
    return exam_id, who


def q(exam_id: str, question_id: str = "q1") -> str:
    return f"/api/exams/{exam_id}/questions/{question_id}"


async def test_an_exam_is_set_up_and_shown_only_after_verification(
    exam_server: RunningServer,
) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        await add_unit(exam_server, "10001")
        await staff(exam_server, admin, Role.UNIT_ADMIN, "10001")
        bad = online_question(auto_submit=True, formal_count=2, reading_limit_s=0)
        refused = await admin.call("POST", "/api/admin/exams", exam_body(bad, now=time.time()))
        assert refused.status == 400 and refused.code == "invalid_input"
        assert set(refused.body["error"]["details"]["fields"]) == {
            "questions[0].reading_limit_s",
            "questions[0].auto_submit",
        }
        exam = await create_exam(
            admin,
            exam_body(
                online_question(reading_limit_s=30, rehearsal_allowed=True, rehearsal_count=2),
                offline_question(),
                now=time.time(),
            ),
        )
        who = await through_journey(exam_server, candidate, "10001")
        listed = await candidate.call("GET", "/api/exams")
        [card] = listed.body["exams"]
        assert card["exam_id"] == exam["id"] and card["state"] == "open"
        assert (card["verified"], card["finished"]) == (False, False)
        assert card["time_requirements"] and abs(listed.body["now"] - time.time()) < 5
        hidden = await candidate.call("GET", f"/api/exams/{exam['id']}")
        assert hidden.status == 403 and hidden.code == "verification_required"
        assert hidden.body["error"]["details"]["scope"] == f"exam:{exam['id']}"
        acting = await candidate.call("POST", q(exam["id"]) + "/formal")
        assert acting.status == 403 and acting.code == "verification_required"
        await verify_for_exam(candidate, who, exam["id"])
        page = await candidate.call("GET", f"/api/exams/{exam['id']}")
        assert page.status == 200 and page.body["exam"]["instructions"]
        modes = [(x["mode"], x["phase"]) for x in page.body["questions"]]
        assert modes == [("online", "not_started"), ("offline", "not_started")]
        assert page.body["questions"][0]["settings"]["reading_limit_s"] == 30


async def test_an_admin_cannot_read_or_edit_another_units_exam(exam_server: RunningServer) -> None:
    async with api_client(exam_server) as mine, api_client(exam_server) as theirs:
        await add_unit(exam_server, "10001")
        await add_unit(exam_server, "20002")
        await staff(exam_server, mine, Role.UNIT_ADMIN, "10001")
        await staff(exam_server, theirs, Role.UNIT_ADMIN, "20002")
        exam = await create_exam(mine, exam_body(online_question(), now=time.time()))
        base = f"/api/admin/exams/{exam['id']}"
        for method, path, body in [
            ("GET", base, None),
            ("POST", base, exam_body(online_question(), now=time.time())),
            ("POST", base + "/questions", online_question("q2", 2)),
            ("DELETE", base + "/questions/q1", None),
            ("GET", base + "/proctors", None),
            ("POST", base + "/proctors", {"phone": "13900000000"}),
            ("GET", base + "/progress", None),
            ("GET", base + "/submissions", None),
        ]:
            reply = await theirs.call(method, path, body)
            assert reply.status == 403 and reply.code == "forbidden", (method, path, reply)
        assert (await theirs.call("GET", "/api/admin/exams")).body["exams"] == []
        assert (await mine.call("GET", base)).body["title"] == "钢琴演奏"


async def test_a_proctor_reads_only_the_exams_assigned_to_them(exam_server: RunningServer) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as proctor:
        await add_unit(exam_server, "10001")
        await staff(exam_server, admin, Role.UNIT_ADMIN, "10001")
        me = await staff(exam_server, proctor, Role.PROCTOR, None)
        assigned = await create_exam(admin, exam_body(online_question(), now=time.time()))
        other = await create_exam(admin, exam_body(online_question(), now=time.time()))
        added = await admin.call(
            "POST", f"/api/admin/exams/{assigned['id']}/proctors", {"phone": me.phone}
        )
        assert [p["account_id"] for p in added.body["proctors"]] == [me.id]
        mine = await proctor.call("GET", "/api/proctor/exams")
        assert [e["exam_id"] for e in mine.body["exams"]] == [assigned["id"]]
        ok = await proctor.call("GET", f"/api/proctor/exams/{assigned['id']}")
        assert ok.status == 200 and ok.body["candidates"] == []
        refused = await proctor.call("GET", f"/api/proctor/exams/{other['id']}")
        assert refused.status == 403 and refused.code == "forbidden"
        as_admin = await proctor.call("GET", f"/api/admin/exams/{other['id']}")
        assert as_admin.status == 403


async def test_nothing_is_submitted_after_the_submission_time(exam_server: RunningServer) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id, _ = await setup(
            exam_server,
            admin,
            candidate,
            online_question(recording_limit_s=1, submission_limit_s=2),
            offline_question(submission_limit_s=1),
        )
        before = exam_server.now()
        entered = await candidate.call("POST", q(exam_id) + "/formal")
        deadline = entered.body["question"]["attempt"]["submission_deadline"]
        # 2 s from the moment the server entered the question: within the request's time,
        # however long the request took (no wall-clock tolerance)
        assert before + 2 - 1e-3 <= deadline <= entered.body["now"] + 2 + 1e-3
        opened = await candidate.call("POST", q(exam_id, "q9") + "/open")
        assert opened.status == 200
        upload = q(exam_id, "q9") + "/files?name=a.png"
        headers = {"Content-Type": "image/png"}
        assert (await candidate.call("POST", upload, data=PNG, headers=headers)).status == 201
        exam_server.advance(2)  # the submission time is over
        # (the phase reads "closed" from the deadline at once; the deadline's job writes
        # closed_at a moment later)
        closed = await wait_for(
            lambda: candidate.call("GET", q(exam_id)),
            lambda r: r.body["question"]["attempt"]["closed_at"] is not None,
            8,
            "the question closed at its submission deadline",
        )
        assert closed.body["question"]["phase"] == "closed"
        assert closed.body["question"]["attempt"]["closed_at"] == deadline  # the server closed it
        for question_id in ("q1", "q9"):
            late = await candidate.call("POST", q(exam_id, question_id) + "/submit")
            assert late.status == 409 and late.code == "deadline_passed", late


async def test_recording_stops_at_the_limit_and_cannot_continue(
    exam_server: RunningServer,
) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id, _ = await setup(
            exam_server, admin, candidate, online_question(recording_limit_s=1)
        )
        await candidate.call("POST", q(exam_id) + "/formal")
        started = await candidate.call("POST", q(exam_id) + "/takes", {"kind": "formal"})
        assert started.status == 200, started
        recording = started.body["question"]["attempt"]["recording"]
        assert recording["deadline"] == pytest.approx(recording["started_at"] + 1)
        state = await candidate.call("GET", "/api/recording")
        assert [x["question_id"] for x in state.body["active"]] == ["q1"]
        exam_server.advance(1)  # the recording limit
        stopped = await wait_for(
            lambda: candidate.call("GET", q(exam_id)),
            lambda r: r.body["question"]["attempt"]["recording"] is None,
            8,
            "the recording stopped at its limit",
        )
        [take] = stopped.body["question"]["attempt"]["takes"]
        assert take["stop_reason"] == "time_limit" and take["stopped_at"] == take["deadline"]
        media = (
            await wait_for(
                lambda: candidate.call("GET", f"/api/takes/{take['take_id']}"),
                lambda r: r.body["state"] in ("stored", "failed"),
                8,
                "the take stored (or failed)",
            )
        ).body
        assert media["stop_reason"] == "time_limit"
        # at its limit exactly, however late the timer ran (the recording ends there too)
        assert media["stopped_at"] - media["started_at"] == pytest.approx(1, abs=1e-6)
        again = await candidate.call("POST", q(exam_id) + f"/takes/{take['take_id']}/stop")
        assert again.status == 409 and again.code == "conflict"
        more = await candidate.call("POST", q(exam_id) + "/takes", {"kind": "formal"})
        assert more.status == 409 and more.code == "conflict"
        assert (await candidate.call("GET", "/api/recording")).body["active"] == []


async def test_rehearsals_are_counted_and_never_chosen(exam_server: RunningServer) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id, _ = await setup(
            exam_server,
            admin,
            candidate,
            online_question(rehearsal_allowed=True, rehearsal_count=1, formal_count=2),
        )
        begun = await candidate.call("POST", q(exam_id) + "/rehearsal")
        assert begun.body["question"]["phase"] == "reading"
        assert begun.body["question"]["attempt"]["reading"]["deadline"] is None  # by hand
        started = await candidate.call("POST", q(exam_id) + "/takes", {"kind": "rehearsal"})
        take_id = started.body["question"]["attempt"]["recording"]["take_id"]
        stopped = await candidate.call("POST", q(exam_id) + f"/takes/{take_id}/stop")
        assert stopped.status == 200 and stopped.body["take"]["stop_reason"] == "stopped"
        too_many = await candidate.call("POST", q(exam_id) + "/rehearsal")
        assert too_many.status == 409 and too_many.code == "conflict"
        assert "rehearsal" in too_many.body["error"]["message"]
        chosen = await candidate.call("POST", q(exam_id) + "/choice", {"take_id": take_id})
        assert chosen.status == 409 and chosen.code == "conflict"
        assert "rehearsal" in chosen.body["error"]["message"]
        works = await candidate.call("GET", q(exam_id) + "/works")
        assert works.body["works"] == []


async def test_another_candidates_take_cannot_be_chosen(exam_server: RunningServer) -> None:
    async with (
        api_client(exam_server) as admin,
        api_client(exam_server) as alice,
        api_client(exam_server) as bob,
    ):
        exam_id, _ = await setup(exam_server, admin, alice, online_question(formal_count=2))
        bob_account = await through_journey(exam_server, bob, "10001")
        await verify_for_exam(bob, bob_account, exam_id)
        for client in (alice, bob):
            await client.call("POST", q(exam_id) + "/formal")
        started = await bob.call("POST", q(exam_id) + "/takes", {"kind": "formal"})
        bobs = started.body["question"]["attempt"]["recording"]["take_id"]
        await bob.call("POST", q(exam_id) + f"/takes/{bobs}/stop")
        stolen = await alice.call("POST", q(exam_id) + "/choice", {"take_id": bobs})
        assert stolen.status == 404 and stolen.code == "not_found"
        stopped = await alice.call("POST", q(exam_id) + f"/takes/{bobs}/stop")
        assert stopped.status == 404
        submitted = await alice.call("POST", q(exam_id) + "/submit")
        assert submitted.status == 409 and submitted.code == "conflict"
        played = await alice.call("GET", f"/api/takes/{bobs}/segments/0")
        assert played.status == 404


async def test_offline_files_are_checked_while_they_arrive(exam_server: RunningServer) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id, who = await setup(
            exam_server, admin, candidate, offline_question("q1", 1, max_count=1)
        )
        path = q(exam_id) + "/files?name=%E6%BC%94%E5%A5%8F.mp4"
        first = await candidate.call("POST", path, data=MP4)
        assert first.status == 409 and first.code == "conflict"  # open the question first
        await candidate.call("POST", q(exam_id) + "/open")
        renamed = await candidate.call("POST", path, data=PNG)
        assert renamed.status == 415 and renamed.code == "unsupported_media_type"
        wrong = await candidate.call("POST", q(exam_id) + "/files?name=a.exe", data=MP4)
        assert wrong.status == 415
        big = await candidate.call("POST", path, data=MP4 + bytes(64 * 1024))
        assert big.status == 413 and big.code == "too_large"
        stored = await candidate.call("POST", path, data=MP4)
        assert stored.status == 201, stored
        [file] = stored.body["question"]["attempt"]["files"]
        assert (file["kind"], file["format"], file["size"]) == ("video", "mp4", len(MP4))
        full = await candidate.call("POST", path, data=MP4)
        assert full.status == 409
        saved = await candidate.call("POST", q(exam_id) + "/save")
        assert saved.body["question"]["attempt"]["saved_at"]
        done = await candidate.call("POST", q(exam_id) + "/submit")
        assert done.body["question"]["phase"] == "submitted"
        page = await candidate.call("GET", f"/api/exams/{exam_id}")
        assert page.body["finished"] is True
        assert (await candidate.call("GET", "/api/exams")).body["exams"][0]["finished"]
        submissions = await admin.call("GET", f"/api/admin/exams/{exam_id}/submissions")
        [row] = submissions.body["submissions"]
        assert row["candidate"]["account_id"] == who.id
        download = await admin.call("GET", row["files"][0]["url"])
        assert download.status == 200 and download.body == MP4
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        stranger = await candidate.call("GET", row["files"][0]["url"])
        assert stranger.status == 403
        progress = await admin.call("GET", f"/api/admin/exams/{exam_id}/progress")
        [line] = progress.body["candidates"]
        assert line["finished"] and line["questions"][0]["phase"] == "submitted"


async def test_materials_and_one_question_at_a_time(exam_server: RunningServer) -> None:
    materials = [
        {"kind": "text", "key": "notes", "max_chars": 20},
        {"kind": "image", "key": "score", "max_count": 1, "max_bytes": 4096, "formats": ["png"]},
    ]
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id, _ = await setup(
            exam_server,
            admin,
            candidate,
            online_question(materials=materials, reading_limit_s=600),
            online_question("q2", 2),
        )
        early = await candidate.call("POST", q(exam_id) + "/materials/notes/text", {"text": "x"})
        assert early.status == 404  # nothing started yet
        await candidate.call("POST", q(exam_id) + "/formal")
        busy = await candidate.call("POST", q(exam_id, "q2") + "/formal")
        assert busy.status == 409 and busy.body["error"]["details"]["question_id"] == "q1"
        long = await candidate.call(
            "POST", q(exam_id) + "/materials/notes/text", {"text": "很" * 21}
        )
        assert long.status == 400 and set(long.body["error"]["details"]["fields"]) == {"text"}
        typed = await candidate.call("POST", q(exam_id) + "/materials/notes/text", {"text": "ok"})
        assert typed.body["question"]["attempt"]["materials"] == [{"key": "notes", "text": "ok"}]
        upload = q(exam_id) + "/materials/score/files?name=score.png"
        not_png = await candidate.call("POST", upload, data=MP4)
        assert not_png.status == 415
        as_text = await candidate.call("POST", q(exam_id) + "/materials/notes/files?name=a.png")
        assert as_text.status == 400
        added = await candidate.call("POST", upload, data=PNG)
        assert added.status == 201
        [_, score] = added.body["question"]["attempt"]["materials"]
        assert score["file"]["kind"] == "image"
        removed = await candidate.call(
            "DELETE", q(exam_id) + f"/materials/score/files/{score['file']['file_id']}"
        )
        assert [m["key"] for m in removed.body["question"]["attempt"]["materials"]] == ["notes"]
        missing = await candidate.call("POST", q(exam_id) + "/submit")
        assert missing.status == 409  # no take chosen yet


async def test_a_restarted_server_acts_on_what_fell_due(tmp_path: Path) -> None:
    settings = api_settings(tmp_path / "data", reconnect_grace_s=120)
    clock = MovableTime()  # one clock across the restart
    async with running_server(settings, clock) as server:
        async with api_client(server) as admin, api_client(server) as candidate:
            exam_id, who = await setup(
                server, admin, candidate, online_question(reading_limit_s=1, recording_limit_s=30)
            )
            entered = await candidate.call("POST", q(exam_id) + "/formal")
            reading_deadline = entered.body["question"]["attempt"]["reading"]["deadline"]
    clock.advance(reading_deadline - clock() + 0.3)  # down meanwhile
    restarted = replace(settings, port=free_port())
    async with running_server(restarted, clock) as server, api_client(server) as candidate:
        assert (await log_in(candidate, who.phone)).status == 200
        page = await candidate.call("GET", q(exam_id))
        recording = page.body["question"]["attempt"]["recording"]
        assert recording is not None and recording["started_by"] == "server"
        assert recording["started_at"] > reading_deadline  # started on restart, ...
        assert recording["deadline"] == pytest.approx(recording["started_at"] + 30)  # in full
        media = await candidate.call("GET", f"/api/takes/{recording['take_id']}")
        assert media.body["state"] == "recording" and media.body["purpose"] == "formal"

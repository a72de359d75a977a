"""Incidents on a real server: raised through the app's Incidents (as a detector does), pushed
to the proctor's wall tile over a real Socket.IO client, disposed over HTTP by the exam's
proctor only, exported as JSON and CSV, and placed on the take being recorded by a real
aiortc peer. Fails before incidents existed (no INCIDENTS key, no routes, no tile part)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from exams.identity.accounts import Role
from exams.proctoring.incidents import AlertKind
from exams.shared.ports import Event
from tests.support.api import api_client
from tests.support.exams import (
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    staff,
)
from tests.support.proctoring import (
    OTHER_UNIT,
    UNIT,
    enter_formal,
    exam_with_proctor,
    pushed_tile,
    socket_of,
)
from tests.support.server import RunningServer, api_server_fixture
from web.keys import AUDIT, INCIDENTS

server = api_server_fixture()


async def test_an_incident_reaches_the_tile_is_disposed_by_the_proctor_and_exported(
    server: RunningServer,
) -> None:
    async with (
        api_client(server) as admin,
        api_client(server) as proctor,
        api_client(server) as other_admin,
        api_client(server) as stranger,
    ):
        exam_id, me_proctor = await exam_with_proctor(server, admin, proctor)
        # A proctor of another exam (of another unit).
        await add_unit(server, OTHER_UNIT)
        await staff(server, other_admin, Role.UNIT_ADMIN, OTHER_UNIT)
        theirs = await create_exam(
            other_admin, exam_body(online_question("q1", 1), now=server.now())
        )
        them = await staff(server, stranger, Role.PROCTOR, None)
        added = await other_admin.call(
            "POST", f"/api/admin/exams/{theirs['id']}/proctors", {"phone": them.phone}
        )
        assert added.status == 200, added
        incidents = server.app[INCIDENTS]
        async with candidate_client(server, UNIT) as c, socket_of(server, proctor) as watcher:
            me = c.account.id
            wall = await watcher.call("watch_wall", {"exam_id": exam_id})
            [tile] = [t for t in wall["tiles"] if t["tile_id"] == me]
            assert tile["incidents"] == {"open": 0, "latest": []}

            # The candidate records q1 (the server starts the take when reading runs out).
            q1 = f"/api/exams/{exam_id}/questions/q1"
            entered = await enter_formal(c, exam_id)
            attempt_id = entered["attempt_id"] if "attempt_id" in entered else entered["id"]
            server.advance(entered["reading"]["deadline"] - server.now())
            started = await c.device.wait_event("take_started", purpose="formal")
            await server.recorded(started["take_id"], 1.0)

            # A detector's alert: no face since half a second ago.
            onset = server.now() - 0.5
            raised = await incidents.raise_alert(
                me, AlertKind.NO_FACE, camera="primary", started_at=onset, detail={"faces": 0}
            )
            assert raised is not None
            again = await incidents.raise_alert(me, AlertKind.NO_FACE, camera="primary")
            assert again is None  # one active per (candidate, kind, camera)
            assert (raised.exam_id, raised.attempt_id, raised.question_id) == (
                exam_id,
                attempt_id,
                "q1",
            )
            assert raised.take_id == started["take_id"]
            assert raised.take_offset_s == pytest.approx(onset - started["started_at"], abs=0.01)

            shown = await pushed_tile(
                watcher, me, lambda t: t["incidents"]["open"] == 1, "the incident on the tile"
            )
            [latest] = shown["incidents"]["latest"]
            assert (latest["id"], latest["kind"], latest["camera"]) == (
                raised.id,
                "no_face",
                "primary",
            )
            assert latest["started_at"] == pytest.approx(onset) and latest["ended_at"] is None

            # The spotlight's list (HTTP): the proctor and the unit admin read it.
            path = f"/api/proctor/exams/{exam_id}/candidates/{me}/incidents"
            listed = await proctor.call("GET", path)
            assert listed.status == 200, listed
            [item] = listed.body["incidents"]
            assert item["id"] == raised.id and item["candidate_name"] == "张三"
            assert isinstance(listed.body["now"], float)
            assert (await admin.call("GET", path)).status == 200

            # Refused: the candidate and another exam's proctor (audited).
            dispose = f"/api/proctor/incidents/{raised.id}"
            decision = {"decision": "confirmed", "note": '=HYPERLINK("http://x","看")'}
            for refused in (c.api, stranger):
                assert (await refused.call("GET", path)).status == 403
                assert (await refused.call("POST", dispose, decision)).status == 403
                got = await refused.call("GET", f"/api/proctor/attempts/{attempt_id}/incidents")
                assert got.status == 403
            denied = [
                e
                for e in await server.app[AUDIT].recent(1000, them.id)
                if e.event is Event.ACCESS_DENIED
            ]
            assert len(denied) == 3

            # The proctor confirms with a note: the tile has nothing left to decide.
            done = await proctor.call("POST", dispose, decision)
            assert done.status == 200, done
            assert done.body["incident"]["status"] == "confirmed"
            assert done.body["incident"]["disposed_by"] == me_proctor.id
            assert done.body["incident"]["disposed_by_role"] == "proctor"
            await pushed_tile(watcher, me, lambda t: t["incidents"]["open"] == 0, "disposed")
            audited = [
                e.detail
                for e in await server.app[AUDIT].recent(1000, me_proctor.id)
                if e.event is Event.INCIDENT_DISPOSED
            ]
            assert [(d["incident_id"], d["decision"]) for d in audited] == [
                (raised.id, "confirmed")
            ]
            bad = await proctor.call("POST", dispose, {"decision": "maybe"})
            assert bad.status == 400 and bad.code == "invalid_input"

            # The condition ends; the take stops: the onset lies within the recorded take.
            await incidents.end_alert(me, AlertKind.NO_FACE, camera="primary")
            stopped = await c.call("POST", q1 + f"/takes/{started['take_id']}/stop")
            assert stopped.status == 200, stopped
            take = (await c.call("GET", f"/api/takes/{started['take_id']}")).body
            segments = take["manifest"]["segments"]
            end = max(s["start_s"] + s["duration_s"] for s in segments)
            assert segments[0]["start_s"] <= raised.take_offset_s <= end

            # The timeline carries the take to play from the incident's moment (not submitted).
            timeline = (await admin.call("GET", path)).body
            played = timeline["takes"][started["take_id"]]
            assert played["state"] == "stored"
            [first, *_] = played["cameras"]["primary"]["segments"]
            assert first["start_s"] == segments[0]["start_s"]
            video = await proctor.call("GET", first["play_url"])
            assert video.status == 200 and video.headers["Content-Type"].startswith("video/")
            assert len(video.body) > 1000
            assert (await stranger.call("GET", first["play_url"])).status == 403

            # Exports of the answer's timeline.
            export = f"/api/proctor/attempts/{attempt_id}/incidents/export"
            as_json = await admin.call("GET", export + "?format=json")
            assert as_json.status == 200
            assert "attachment" in as_json.headers["Content-Disposition"]
            body = json.loads(as_json.body) if isinstance(as_json.body, bytes) else as_json.body
            [exported] = body["incidents"]
            assert exported["status"] == "confirmed" and exported["ended_at"] is not None
            assert exported["take_offset_s"] == raised.take_offset_s
            as_csv = await proctor.call("GET", export + "?format=csv")
            assert as_csv.status == 200
            assert as_csv.headers["Content-Type"].startswith("text/csv")
            assert as_csv.body.startswith("\ufeff".encode())
            [row] = list(csv.DictReader(io.StringIO(as_csv.body.decode("utf-8-sig"))))
            assert row["note"] == "'" + decision["note"]  # shown as text, never run
            assert (row["kind"], row["status"], row["camera"]) == (
                "no_face",
                "confirmed",
                "primary",
            )
            assert row["disposed_by_name"] == me_proctor.name
            whole = await admin.call("GET", f"/api/proctor/exams/{exam_id}/incidents/export")
            assert whole.status == 200
            assert (await stranger.call("GET", export + "?format=csv")).status == 403
            assert (await proctor.call("GET", export + "?format=xls")).status == 400


async def test_the_unit_sets_the_monitoring_thresholds_also_after_candidates_started(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        exam_id, _ = await exam_with_proctor(server, admin, proctor)
        path = f"/api/admin/exams/{exam_id}"
        exam = (await admin.call("GET", path)).body
        assert exam["monitoring"]["no_face"] == {"enabled": True, "after_s": 10.0}
        assert exam["monitoring"]["camera_lost"] == {"enabled": True, "after_s": 2.0}

        settings = {key: exam[key] for key in exam if key not in ("id", "unit_id")}
        bad = await admin.call(
            "POST",
            path,
            settings
            | {"monitoring": {"no_face": {"after_s": -3}, "camera_lost": {"after_s": 9}, "x": 1}},
        )
        assert bad.status == 400 and bad.code == "invalid_input"
        assert set(bad.body["error"]["details"]["fields"]) == {
            "monitoring.no_face.after_s",
            "monitoring.camera_lost.after_s",
            "monitoring.x",
        }
        not_object = await admin.call("POST", path, settings | {"monitoring": [1]})
        assert not_object.status == 400

        async with candidate_client(server, UNIT) as c:
            await enter_formal(c, exam_id)
            # Started: the thresholds still change, the questions do not.
            quiet = settings | {"monitoring": {"silence": {"enabled": False, "after_s": 45}}}
            changed = await admin.call("POST", path, quiet)
            assert changed.status == 200, changed
            assert changed.body["monitoring"]["silence"] == {"enabled": False, "after_s": 45.0}
            assert changed.body["monitoring"]["no_face"]["after_s"] == 10.0
            assert server.app[INCIDENTS].is_active(c.account.id, AlertKind.SILENCE) is False
            raised = await server.app[INCIDENTS].raise_alert(c.account.id, AlertKind.SILENCE)
            assert raised is None  # switched off for this exam
            locked = await admin.call("POST", path, quiet | {"closes_at": exam["closes_at"] + 60})
            assert locked.status == 409

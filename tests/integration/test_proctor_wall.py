"""The proctors' wall: real Socket.IO clients for the proctor and the candidate, a real aiortc
peer publishing the candidate's camera, time moved over deadlines instead of waited out.

Each test fails before the wall existed (no ``watch_wall`` event, no wall routes).
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import av
import pytest

from exams.admission.units import ListInfo
from exams.identity.accounts import Role
from exams.identity.admitted_csv import AdmittedEntry
from exams.shared.ports import Event
from storage.units import SqliteUnits
from tests.support.api import accept_agreements, api_client, signed_up
from tests.support.clock import wait_until
from tests.support.exams import (
    add_unit,
    admit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    staff,
    verify_for_exam,
)
from tests.support.proctoring import (
    OTHER_UNIT,
    READING_S,
    RECORDING_S,
    UNIT,
    enter_formal,
    exam_with_proctor,
    pushed_tile,
    socket_of,
    watched_candidate,
)
from tests.support.server import RunningServer, api_server_fixture
from tests.support.world import resident_id
from web.keys import ATTEMPT_RUNNER, AUDIT, DATABASE, EXAM_CATALOG, PICTURES, WALL

server = api_server_fixture()


async def list_someone_unregistered(server: RunningServer, name: str = "李四") -> None:
    repo = SqliteUnits(server.app[DATABASE])
    current = await repo.entries(UNIT, 0, 100_000)
    entry = AdmittedEntry(name, "resident_id", resident_id(9_999), len(current) + 2)
    entries = [*current, entry]
    await repo.replace_list(ListInfo(UNIT, 0.0, "test", len(entries)), entries)


def pushed_jpeg(watcher: Any, tile_id: str, camera: str, seq: int) -> bytes:
    """The JPEG of a camera's picture ``seq`` as it came with its tile in ``wall_tiles``
    (each new picture once, base64, in the same message as the tile that shows it)."""
    found = []
    for event, data in watcher.events:
        if event != "wall_tiles":
            continue
        tiles = {t["tile_id"]: t for t in data["tiles"]}
        for sent in data.get("pictures", []):
            if (sent["tile_id"], sent["camera"], sent["seq"]) == (tile_id, camera, seq):
                assert tiles[tile_id]["cameras"][camera]["picture"]["seq"] == seq
                found.append(base64.b64decode(sent["jpeg"], validate=True))
    assert len(found) == 1, f"picture {seq} of {tile_id}/{camera} pushed {len(found)} times"
    return found[0]


async def denials(server: RunningServer, account_id: str) -> list[dict[str, Any]]:
    entries = await server.app[AUDIT].recent(1000, account_id)
    return [e.detail for e in entries if e.event is Event.ACCESS_DENIED]


async def test_the_wall_follows_a_candidate_live(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        async with watched_candidate(server, admin, proctor) as (exam_id, c, watcher):
            await list_someone_unregistered(server)
            me = c.account.id
            picture = f"/api/proctor/exams/{exam_id}/candidates/{me}/cameras/primary/picture"
            assert (await proctor.call("GET", picture)).status == 404  # nobody watches yet

            wall = await watcher.call("watch_wall", {"exam_id": exam_id})
            assert wall["exam_id"] == exam_id and wall["exam"]["exam_id"] == exam_id
            tiles = {t["tile_id"]: t for t in wall["tiles"]}
            mine = tiles[me]
            assert (mine["name"], mine["registered"], mine["on_list"]) == ("张三", True, True)
            assert (mine["status"], mine["journey_step"], mine["question"]) == (
                "not_started",
                "exams",
                None,
            )
            assert (mine["submitted"], mine["questions"], mine["finished"]) == (0, 2, False)
            assert mine["deadline"] is None
            assert mine["cameras"]["primary"]["state"] == "connected"
            assert mine["cameras"]["secondary"]["state"] == "no_feed"
            assert mine["cameras"]["secondary"]["second_camera"] == "not_needed"
            [listed] = [t for t in wall["tiles"] if t["tile_id"].startswith("list:")]
            assert (listed["name"], listed["status"], listed["candidate_id"]) == (
                "李四",
                "not_registered",
                None,
            )
            first_paint = await proctor.call("GET", f"/api/proctor/exams/{exam_id}/wall")
            assert first_paint.status == 200, first_paint
            assert [t["tile_id"] for t in first_paint.body["tiles"]] == list(tiles)

            # A picture of the camera, pushed with its tile and served as a JPEG.
            shot = await pushed_tile(
                watcher, me, lambda t: t["cameras"]["primary"]["picture"] is not None, "a picture"
            )
            url = shot["cameras"]["primary"]["picture"]["url"]
            assert url == f"{picture}?c={me}"  # c=: the load balancer's node for its media
            jpeg = await proctor.call("GET", url)
            assert jpeg.status == 200 and jpeg.headers["Content-Type"] == "image/jpeg"
            assert jpeg.headers["Cache-Control"] == "no-store"
            with av.open(io.BytesIO(jpeg.body), mode="r") as f:
                [frame] = list(f.decode(video=0))
                assert (frame.width, frame.height) == (320, 240)
            # ... and its JPEG came along with the tile: the page needs no request per picture.
            seq = shot["cameras"]["primary"]["picture"]["seq"]
            sent = pushed_jpeg(watcher, me, "primary", seq)
            with av.open(io.BytesIO(sent), mode="r") as f:
                [frame] = list(f.decode(video=0))
                assert (frame.width, frame.height) == (320, 240)
            if jpeg.headers["X-Picture-Seq"] == str(seq):
                assert sent == jpeg.body

            # Reading: pushed with its deadline.
            q1 = f"/api/exams/{exam_id}/questions/q1"
            entered = await enter_formal(c, exam_id)
            deadline = entered["reading"]["deadline"]
            reading = await pushed_tile(watcher, me, lambda t: t["status"] == "reading", "reading")
            assert reading["question"]["question_id"] == "q1"
            assert reading["question"]["take_kind"] == "formal"
            assert (reading["deadline_kind"], reading["deadline"]) == ("reading", deadline)

            # The reading time runs out: the server starts the take; the tile follows.
            server.advance(deadline - server.now())
            started = await c.device.wait_event("take_started", purpose="formal")
            recording = await pushed_tile(
                watcher, me, lambda t: t["status"] == "recording", "recording"
            )
            assert recording["deadline_kind"] == "recording"
            assert recording["deadline"] == pytest.approx(started["started_at"] + RECORDING_S)
            await server.recorded(started["take_id"], 0.5)

            # Stopped: choosing and submitting; then submitted, between the two questions.
            stopped = await c.call("POST", q1 + f"/takes/{started['take_id']}/stop")
            assert stopped.status == 200, stopped
            await pushed_tile(watcher, me, lambda t: t["status"] == "submitting", "submitting")
            await c.call("POST", q1 + "/choice", {"take_id": started["take_id"]})
            assert (await c.call("POST", q1 + "/submit")).status == 200
            between = await pushed_tile(
                watcher, me, lambda t: t["status"] == "between_questions", "submitted"
            )
            assert (between["submitted"], between["question"]) == (1, None)

            # The camera's connection breaks: pushed at once as lost.
            for pc in c.device.pcs:
                await pc.close()
            await pushed_tile(
                watcher, me, lambda t: t["cameras"]["primary"]["state"] == "lost", "camera lost"
            )
            # Its page is gone for good after the grace period (moved over, not waited).
            await c.device.sio.disconnect()
            server.advance(server.settings.reconnect_grace_s + 1)
            http = await proctor.call("GET", f"/api/proctor/exams/{exam_id}/wall")
            [after] = [t for t in http.body["tiles"] if t["tile_id"] == me]
            assert after["cameras"]["primary"]["state"] == "lost"

            assert await watcher.call("unwatch_wall", {"exam_id": exam_id}) == {
                "exam_id": exam_id,
                "watching": False,
            }
            assert not server.app[PICTURES].watching(me)  # nobody watches: no pictures made


async def test_only_the_exams_proctors_and_its_units_admin_see_the_wall(
    server: RunningServer,
) -> None:
    async with (
        api_client(server) as admin,
        api_client(server) as proctor,
        api_client(server) as stranger,
        api_client(server) as other_admin,
    ):
        exam_id, _ = await exam_with_proctor(server, admin, proctor)
        unassigned = await staff(server, stranger, Role.PROCTOR, None)
        await add_unit(server, OTHER_UNIT)
        elsewhere = await staff(server, other_admin, Role.UNIT_ADMIN, OTHER_UNIT)
        async with candidate_client(server, UNIT) as c:
            me = c.account.id
            wall_path = f"/api/proctor/exams/{exam_id}/wall"
            picture = f"/api/proctor/exams/{exam_id}/candidates/{me}/cameras/primary/picture"
            for refused, who in ((stranger, unassigned), (other_admin, elsewhere)):
                async with socket_of(server, refused) as sock:
                    reply = await sock.call("watch_wall", {"exam_id": exam_id})
                    assert reply["error"]["code"] == "forbidden", reply
                    assert not [e for e, _ in sock.events if e == "wall_tiles"]
                for path in (wall_path, picture):
                    got = await refused.call("GET", path)
                    assert (got.status, got.code) == (403, "forbidden"), (path, got)
                audited = await denials(server, who.id)
                assert len([d for d in audited if d.get("exam_id") == exam_id]) == 3, audited

            # A candidate: refused by the socket's table and the routes' declaration, audited.
            reply = await c.device.call("watch_wall", {"exam_id": exam_id})
            assert reply["error"]["code"] == "forbidden", reply
            assert (await c.call("GET", wall_path)).status == 403
            audited = await denials(server, me)
            assert {"what": "socket_event", "event": "watch_wall", "role": "candidate"} in audited

            # The unit's admin watches the same wall, over the socket and HTTP.
            async with socket_of(server, admin) as sock:
                wall = await sock.call("watch_wall", {"exam_id": exam_id})
                assert me in [t["tile_id"] for t in wall["tiles"]], wall
            assert (await admin.call("GET", wall_path)).status == 200

            # Bad input: the one error shape.
            async with socket_of(server, proctor) as sock:
                for bad in ({}, {"exam_id": 5}, {"exam_id": "e", "more": 1}):
                    got = await sock.call("watch_wall", bad)
                    assert got["error"]["code"] == "invalid_input", (bad, got)
                missing = await sock.call("watch_wall", {"exam_id": "nope"})
                assert missing["error"]["code"] == "not_found"
            odd = f"/api/proctor/exams/{exam_id}/candidates/{me}/cameras/third/picture"
            assert (await proctor.call("GET", odd)).status == 404


async def test_a_wall_resyncs_after_a_reconnect_and_stops_for_a_removed_proctor(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        exam_id, me_proctor = await exam_with_proctor(server, admin, proctor)
        async with candidate_client(server, UNIT) as c:
            me = c.account.id
            await verify_for_exam(c.api, c.account, exam_id)
            async with socket_of(server, proctor) as first:
                wall = await first.call("watch_wall", {"exam_id": exam_id})
                assert {t["tile_id"]: t for t in wall["tiles"]}[me]["status"] == "not_started"
                assert server.app[PICTURES].watching(me)
            await wait_until(lambda: not server.app[PICTURES].watching(me), 10, "released")
            # Missed while away: the candidate entered the question.
            q1 = f"/api/exams/{exam_id}/questions/q1"
            assert (await c.call("POST", q1 + "/formal")).status == 200
            async with socket_of(server, proctor) as again:
                wall = await again.call("watch_wall", {"exam_id": exam_id})
                assert {t["tile_id"]: t for t in wall["tiles"]}[me]["status"] == "reading"

                # The unit removes the proctor: the next change closes the wall for them.
                removed = await admin.call(
                    "DELETE", f"/api/admin/exams/{exam_id}/proctors/{me_proctor.id}"
                )
                assert removed.status == 200, removed
                # Past the reading time (and the permission's re-check interval): the server
                # starts the take, the tile changes, the permission is checked again.
                server.advance(READING_S + 1)
                closed = await again.wait_event("wall_closed", exam_id=exam_id, timeout=20)
                assert closed["error"]["code"] == "forbidden"
                refused = await again.call("watch_wall", {"exam_id": exam_id})
                assert refused["error"]["code"] == "forbidden"


async def test_a_read_of_a_watched_attempt_rebuilds_no_tile_a_change_does(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        async with watched_candidate(server, admin, proctor) as (exam_id, c, watcher):
            me = c.account.id
            q1 = f"/api/exams/{exam_id}/questions/q1"
            await enter_formal(c, exam_id)
            wall = await watcher.call("watch_wall", {"exam_id": exam_id})
            assert {t["tile_id"]: t for t in wall["tiles"]}[me]["status"] == "reading"
            # Every read of a tile from storage, counted from here on.
            rebuilt: list[str] = []
            tile = server.app[WALL].tile

            async def counting(exam: Any, person: Any) -> Any:
                rebuilt.append(person.tile_id)
                return await tile(exam, person)

            monkeypatch.setattr(server.app[WALL], "tile", counting)

            # Runs that change nothing (the runner's after_run fires on each): no rebuild.
            exam = await server.app[EXAM_CATALOG].get(exam_id)
            assert exam is not None
            runner = server.app[ATTEMPT_RUNNER]
            for _ in range(5):
                await runner.run(exam, "q1", me)
            again = await c.call("POST", q1 + "/formal")  # refused: reading already
            assert again.status == 409, again
            # (A rebuild a read had asked for starts within this round trip.)
            assert (await proctor.call("GET", f"/api/proctor/exams/{exam_id}/wall")).status == 200
            assert rebuilt == []  # (its pictures still re-render it: no storage read)
            # A real change: the reading time runs out, the take starts; one rebuild, pushed.
            reading = (await c.call("GET", q1)).body["question"]["attempt"]["reading"]
            server.advance(reading["deadline"] - server.now())
            await pushed_tile(watcher, me, lambda t: t["status"] == "recording", "recording")
            assert rebuilt and set(rebuilt) == {me}


async def test_a_connection_watches_at_most_four_walls_even_in_parallel(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        first, me = await exam_with_proctor(server, admin, proctor)
        exam_ids = [first]
        for _ in range(5):
            body = exam_body(online_question("q1", 1), now=server.now())
            exam_id = (await create_exam(admin, body))["id"]
            path = f"/api/admin/exams/{exam_id}/proctors"
            assert (await admin.call("POST", path, {"phone": me.phone})).status == 200
            exam_ids.append(exam_id)
        async with socket_of(server, proctor) as sock:
            replies = await asyncio.gather(
                *(sock.call("watch_wall", {"exam_id": e}) for e in exam_ids)
            )
            watched = [r["exam_id"] for r in replies if "tiles" in r]
            refused = [r["error"]["code"] for r in replies if "error" in r]
            assert (len(watched), refused) == (4, ["conflict", "conflict"]), replies
            # Watching one of them again re-syncs it and takes no new place.
            again = await sock.call("watch_wall", {"exam_id": watched[0]})
            assert again["exam_id"] == watched[0]
            await sock.call("unwatch_wall", {"exam_id": watched[0]})
            left_out = next(e for e in exam_ids if e not in watched)
            assert (await sock.call("watch_wall", {"exam_id": left_out}))["exam_id"] == left_out


async def test_a_journey_step_is_pushed_to_the_wall(server: RunningServer) -> None:
    async with (
        api_client(server) as admin,
        api_client(server) as proctor,
        api_client(server) as candidate,
    ):
        exam_id, _ = await exam_with_proctor(server, admin, proctor)
        who = await signed_up(candidate, "13812345670", "王五", serial=77)
        await admit(server, UNIT, who)
        async with socket_of(server, proctor) as watcher:
            wall = await watcher.call("watch_wall", {"exam_id": exam_id})
            [tile] = [t for t in wall["tiles"] if t["tile_id"] == who.id]
            assert (tile["status"], tile["journey_step"]) == ("journey", "accept_agreements")
            assert (await accept_agreements(candidate)).status == 200
            pushed = await pushed_tile(
                watcher, who.id, lambda t: t["journey_step"] == "verify_identity", "next step"
            )
            assert pushed["status"] == "journey"

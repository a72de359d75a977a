"""Access follows the admitted list now: a re-import that leaves a candidate out closes the
unit's exams to them at once, on every route; the console is told what an import removes
before and after it."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from exams.answering.attempt_runner import RETRY_S
from exams.identity.accounts import Account
from tests.support import files
from tests.support.api import ApiClient, Reply, api_client, log_in
from tests.support.clock import wait_until
from tests.support.exams import (
    admit,
    offline_question,
    online_question,
    through_journey,
    verify_for_exam,
)
from tests.support.server import RunningServer, api_server_fixture, socket_connect
from tests.support.tus import KIB, Tus, about, candidate_at, q
from web.keys import ATTEMPT_RUNNER

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

VIDEO = files.mp4(frames=10, width=160, height=120)
PNG = files.png()
HALF = len(VIDEO) // 2
LIST = "/api/admin/units/10001/admitted-list"
CSV = {"Content-Type": "text/csv"}
STRANGER_ONLY = "name,id_type,id_number\n王五,passport,E1234567\n".encode()


server = api_server_fixture(reconnect_grace_s=120)


def csv_of(*people: Account) -> bytes:
    rows = "".join(f"{p.name},{p.id_type},{p.id_number}\n" for p in people)
    return ("name,id_type,id_number\n" + rows).encode()


def removed(reply: Reply) -> None:
    assert reply.status == 403 and reply.code == "step_required", reply
    details = reply.body["error"]["details"]
    assert details["reason"] == "removed_from_admitted_list" and details["unit_id"] == "10001"
    assert details["step"] == "choose_unit"
    assert "contact the unit" in reply.body["error"]["message"]


async def started_candidate(
    server: RunningServer, admin: ApiClient, client: ApiClient
) -> tuple[str, Account, str]:
    """Exam with an offline question (opened, an upload begun) and an online one (rehearsal
    reading); (exam id, account, upload URL)."""
    exam_id, who = await candidate_at(
        server,
        admin,
        client,
        offline_question(max_bytes=4 * KIB * KIB),
        online_question(
            "q1",
            1,
            reading_limit_s=600,
            rehearsal_allowed=True,
            rehearsal_count=2,
            second_camera_required=True,
        ),
    )
    created = await Tus(client).create(len(VIDEO), **about(exam_id))
    assert created.status == 201, created
    assert (await client.call("POST", q(exam_id, "q1") + "/rehearsal")).status == 200
    return exam_id, who, created.headers["Location"]


async def test_a_removed_candidate_is_refused_everywhere_and_sent_back_to_choose_a_unit(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, who, upload = await started_candidate(server, admin, client)
        tus = Tus(client)
        assert (await tus.patch(upload, 0, VIDEO[:HALF])).status == 204
        async with api_client(server) as other:
            kept_id, kept, _ = await started_candidate(server, admin, other)
            imported = await admin.call("POST", LIST, data=csv_of(kept), headers=CSV)
            assert imported.status == 201, imported
            assert imported.body["changes"]["removed"] == 1
            # The candidate still on the list is not touched.
            assert (await other.call("GET", f"/api/exams/{kept_id}")).status == 200

        for method, path, body in [
            ("GET", "/api/exams", None),
            ("GET", f"/api/exams/{exam_id}", None),
            ("GET", q(exam_id, "q1"), None),
            ("GET", "/api/recording", None),
            ("POST", q(exam_id, "q1") + "/rehearsal", None),
            ("POST", q(exam_id, "q1") + "/takes", {"kind": "rehearsal"}),
            ("POST", q(exam_id, "q1") + "/formal", None),
            ("POST", q(exam_id, "q1") + "/pairing", None),
            ("POST", q(exam_id, "q9") + "/save", None),
            ("POST", q(exam_id, "q9") + "/submit", None),
            ("POST", q(exam_id, "q9") + "/files?name=a.png", None),
            ("GET", f"/api/exams/{exam_id}/uploads?device_id=d1", None),
        ]:
            removed(await client.call(method, path, body))
        removed(await tus.patch(upload, HALF, VIDEO[HALF:]))
        assert (await tus.head(upload)).status == 403  # HEAD: no body
        removed(await tus.create(len(VIDEO), **about(exam_id, name="b.mp4")))
        removed(await client.call("POST", "/api/admission/confirm"))

        me = await client.call("GET", "/api/me")
        assert me.body["journey"]["next_step"] == "choose_unit"
        assert me.body["journey"]["removed_from_unit"] == "10001"
        units = await client.call("GET", "/api/units")
        assert units.body["chosen_unit_id"] is None
        assert units.body["removed_from_unit"] == "10001"
        again = await client.call("POST", "/api/units/10001/choose")
        assert again.status == 403 and again.code == "not_on_admitted_list"

        # Back on the list: where they were, upload included.
        await admit(server, "10001", who)
        assert (await client.call("GET", f"/api/exams/{exam_id}")).status == 200
        assert (await tus.patch(upload, HALF, VIDEO[HALF:])).status == 204


async def test_a_phone_paired_before_the_removal_cannot_open_its_camera_after_it(
    server: RunningServer,
) -> None:
    """The QR code was scanned while the candidate was on the list; the phone's socket opens
    the second camera only after the re-import: refused like every exam route."""
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, who, _ = await started_candidate(server, admin, client)
        issued = await client.call("POST", q(exam_id, "q1") + "/pairing")
        assert issued.status == 201, issued
        async with api_client(server) as phone:
            assert (await log_in(phone, who.phone)).status == 200
            redeemed = await phone.call(
                "POST", "/api/pairing/redeem", {"token": issued.body["token"]}
            )
            assert redeemed.status == 200, redeemed
            imported = await admin.call(
                "POST",
                LIST,
                data=b"name,id_type,id_number\n\xe7\x8e\x8b\xe4\xba\x94,passport,E1234567\n",
                headers=CSV,
            )
            assert imported.status == 201 and imported.body["changes"]["removed"] == 1, imported
            sio = socketio.AsyncClient(reconnection=False)
            cookie = f"examcast_session={phone.cookie()}"
            await socket_connect(sio, server.url, {"Cookie": cookie})
            try:
                opened = await sio.call(
                    "open_session",
                    {"role": "secondary", "pairing_id": redeemed.body["pairing_id"]},
                    timeout=10,
                )
            finally:
                await sio.disconnect()
        assert opened["error"]["code"] == "step_required", opened
        assert opened["error"]["details"]["reason"] == "removed_from_admitted_list", opened
        removed(await client.call("GET", q(exam_id, "q1") + "/pairing"))


async def test_the_server_does_not_start_recording_for_a_removed_candidate(
    server: RunningServer,
) -> None:
    """The reading time of a formal answer runs out after the re-import: the server starts
    the take of the candidate still on the list, not the removed one's (before, it started
    both); put back on the list, the removed one's take starts then."""
    question = online_question("q1", 1, reading_limit_s=5, recording_limit_s=30)
    runner = server.app[ATTEMPT_RUNNER]

    async def recording(exam_id: str, who: Account) -> bool:
        found = await runner.attempts.find(exam_id, "q1", who.id)
        assert found is not None
        return bool(found.takes)

    async with api_client(server) as admin, api_client(server) as client:
        exam_id, who = await candidate_at(server, admin, client, question)
        async with api_client(server) as other:
            kept = await through_journey(server, other, "10001")
            await verify_for_exam(other, kept, exam_id)
            entered = await client.call("POST", q(exam_id, "q1") + "/formal")
            assert entered.status == 200, entered
            assert (await other.call("POST", q(exam_id, "q1") + "/formal")).status == 200
            imported = await admin.call("POST", LIST, data=csv_of(kept), headers=CSV)
            assert imported.status == 201 and imported.body["changes"]["removed"] == 1
            deadline = entered.body["question"]["attempt"]["reading"]["deadline"]
            server.advance(deadline - server.now() + 1)
            await wait_until(lambda: recording(exam_id, kept), what="the kept candidate's take")
            assert not await recording(exam_id, who)

            await admit(server, "10001", who)
            server.advance(RETRY_S + 1)
            await wait_until(lambda: recording(exam_id, who), what="the take once back on the list")


async def test_the_console_previews_what_a_re_import_removes(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, who, _ = await started_candidate(server, admin, client)
        async with api_client(server) as other:
            other_exam, done, _ = await started_candidate(server, admin, other)
            question = q(other_exam, "q9")
            added = await other.call("POST", question + "/files?name=a.png", data=PNG)
            assert added.status == 201, added
            assert (await other.call("POST", question + "/submit")).status == 200
        stranger = b"\xe7\x8e\x8b\xe4\xba\x94,passport,E1234567\n"  # 王五: no account
        before = await admin.call("POST", LIST, data=csv_of(who, done) + stranger, headers=CSV)
        assert before.status == 201 and before.body["changes"]["added"] == 1

        body = csv_of(done)  # leaves out ``who`` (reading a question) and 王五
        preview = await admin.call("POST", LIST + "/preview", data=body, headers=CSV)
        assert preview.status == 200, preview
        changes: dict[str, Any] = preview.body
        figures = ("entries", "added", "kept", "removed", "removed_registered", "removed_started")
        assert [changes[k] for k in figures] == [1, 0, 1, 2, 1, 1]
        started, unregistered = changes["removed_people"]  # who began comes first
        assert (started["id_number"], started["started"], started["submitted"]) == (
            who.id_number,
            True,
            0,
        )
        assert (unregistered["name"], unregistered["registered"]) == ("王五", False)
        # A preview changes nothing: the candidate still reaches the exam.
        assert (await client.call("GET", f"/api/exams/{exam_id}")).status == 200
        assert len((await admin.call("GET", LIST)).body["entries"]) == 3

        only_stranger = b"name,id_type,id_number\n" + stranger
        everyone_out = await admin.call("POST", LIST + "/preview", data=only_stranger, headers=CSV)
        assert everyone_out.body["removed_submitted"] == 1  # ``done`` submitted q9
        submitted = {p["id_number"]: p["submitted"] for p in everyone_out.body["removed_people"]}
        assert submitted == {who.id_number: 0, done.id_number: 1}

        bad = await admin.call("POST", LIST + "/preview", data=b"name\nx\n", headers=CSV)
        assert bad.status == 400 and bad.code == "invalid_admitted_list"

        imported = await admin.call("POST", LIST, data=body, headers=CSV)
        assert imported.status == 201 and imported.body["entries"] == 1
        assert imported.body["changes"]["removed"] == 2
        assert imported.body["changes"]["removed_people"][0]["id_number"] == who.id_number
        removed(await client.call("GET", f"/api/exams/{exam_id}"))


async def test_only_the_units_admin_previews(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as client:
        await started_candidate(server, admin, client)
        refused = await client.call("POST", LIST + "/preview", data=b"x", headers=CSV)
        assert refused.status == 403
    async with api_client(server) as anonymous:
        nobody = await anonymous.call("POST", LIST + "/preview", data=b"x", headers=CSV)
        assert nobody.status == 401

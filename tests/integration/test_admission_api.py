"""The candidate journey, unit admins and review staff over HTTP, and who may see what."""

from __future__ import annotations

import pytest

from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account, Role
from exams.shared.ports import Event
from tests.support.api import ApiClient, accept_agreements, api_client, log_in, signed_up, verify
from tests.support.server import RunningServer
from tests.support.world import resident_id
from web.keys import ACCOUNTS, AUDIT, TAKE_RECORDS, UNITS

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

PNG = b"\x89PNG\r\n\x1a\n" + bytes(4096)


async def stored_take(server: RunningServer, owner: str, take_id: str) -> Take:
    take = Take(take_id, owner, "s", "device_check", TakeState.STORED, 1.0, 2.0, "stopped")
    await server.app[TAKE_RECORDS].save(take)
    return take


async def admitted_list(server: RunningServer, unit_id: str, *people: Account) -> None:
    """The unit's admin imports a list holding ``people``, over HTTP."""
    units = server.app[UNITS]
    if unit_id not in {u.id for u in await units.all()}:
        await units.add(unit_id, f"Unit {unit_id}")
    async with api_client(server) as admin_client:
        admin = await signed_up(admin_client, f"137{unit_id:0>8}", "Admin", serial=900)
        await server.app[ACCOUNTS].grant(admin.phone, Role.UNIT_ADMIN, unit_id)
        assert (await log_in(admin_client, admin.phone)).status == 200
        rows = "".join(f"{p.name},resident_id,{p.id_number}\n" for p in people)
        reply = await admin_client.call(
            "POST",
            f"/api/admin/units/{unit_id}/admitted-list",
            data=("name,id_type,id_number\n" + rows).encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert reply.status == 201, reply


async def to_units(client: ApiClient, who: Account) -> None:
    assert (await accept_agreements(client)).status == 200
    assert (await verify(client, who.id_number[-6:])).body["passed"]
    notice = await client.call("GET", "/api/notice?lang=zh")
    assert notice.status == 200 and notice.body["title"] == "系统须知"
    read = await client.call("POST", "/api/notice/read", {"version": notice.body["version"]})
    assert read.status == 200


async def test_the_whole_journey_in_order(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        who = await signed_up(client, "13800138000", serial=1)
        refused = await client.call("GET", "/api/units")
        assert refused.status == 403 and refused.code == "step_required"
        assert refused.body["error"]["details"]["step"] == "accept_agreements"
        await to_units(client, who)
        await admitted_list(api_server, "10001", who)
        units = await client.call("GET", "/api/units")
        assert units.body["units"] == [{"unit_id": "10001", "name": "Unit 10001", "admitted": True}]
        chosen = await client.call("POST", "/api/units/10001/choose")
        assert chosen.status == 200 and chosen.body["unit_id"] == "10001"
        details = await client.call("GET", "/api/admission")
        assert details.body["details"]["id_number"] == who.id_number
        assert (await client.call("POST", "/api/admission/confirm")).status == 200
        letter = await client.call("GET", "/api/admission/commitment")
        accepted = await client.call(
            "POST", "/api/admission/commitment", {"version": letter.body["version"]}
        )
        assert accepted.status == 200
        await stored_take(api_server, who.owner, "take-1")
        done = await client.call("POST", "/api/admission/device-check", {"take_id": "take-1"})
        assert done.status == 200 and done.body["step"] == "device_check"
        me = await client.call("GET", "/api/me")
        assert me.body["journey"]["next_step"] == "exams"
        assert all(s["done_at"] for s in me.body["journey"]["steps"])


async def test_skipping_the_commitment_letter_is_refused(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        who = await signed_up(client, "13800138000", serial=1)
        await to_units(client, who)
        await admitted_list(api_server, "10001", who)
        await client.call("POST", "/api/units/10001/choose")
        await client.call("POST", "/api/admission/confirm")
        await stored_take(api_server, who.owner, "take-1")
        skipped = await client.call("POST", "/api/admission/device-check", {"take_id": "take-1"})
        assert skipped.status == 403 and skipped.code == "step_required"
        assert skipped.body["error"]["details"]["step"] == "accept_commitment"
        assert "commitment letter" in skipped.body["error"]["message"]


async def test_a_unit_whose_list_does_not_hold_you_is_refused(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        who = await signed_up(client, "13800138000", serial=1)
        await to_units(client, who)
        someone = Account(
            "x", "13900000000", "张三", "resident_id", resident_id(2), Role.CANDIDATE, 0
        )
        await admitted_list(api_server, "20002", someone)  # same name, another ID number
        refused = await client.call("POST", "/api/units/20002/choose")
        assert refused.status == 403 and refused.code == "not_on_admitted_list"
        assert "你不在单位上传的准考名单中" in refused.body["error"]["message"]
        assert refused.body["error"]["details"]["check"] == ["name", "id_type", "id_number"]
        units = await client.call("GET", "/api/units")
        assert units.body["units"][0]["admitted"] is False


async def test_a_candidate_cannot_call_admin_or_staff_endpoints(api_server: RunningServer) -> None:
    await api_server.app[UNITS].add("10001", "Unit")
    async with api_client(api_server) as client:
        who = await signed_up(client, "13800138000", serial=1)
        for method, path in [
            ("GET", "/api/admin/units/10001/admitted-list"),
            ("POST", "/api/admin/units/10001/admitted-list"),
            ("GET", "/api/reviews"),
            ("POST", "/api/reviews/abc"),
            ("GET", "/api/reviews/abc/photo"),
        ]:
            body = {"decision": "approve"} if path == "/api/reviews/abc" else None
            reply = await client.call(method, path, body)
            assert reply.status == 403 and reply.code == "forbidden", (method, path, reply)
    denied = [
        e
        for e in await api_server.app[AUDIT].recent(account_id=who.id)
        if e.event is Event.ACCESS_DENIED
    ]
    assert len(denied) == 5


async def test_an_admin_imports_only_into_their_own_unit(api_server: RunningServer) -> None:
    units = api_server.app[UNITS]
    await units.add("10001", "甲")
    await units.add("20002", "乙")
    good = f"name,id_type,id_number\n张三,resident_id,{resident_id(5)}\n".encode()
    async with api_client(api_server) as client:
        admin = await signed_up(client, "13700000001", "Admin", serial=1)
        await api_server.app[ACCOUNTS].grant(admin.phone, Role.UNIT_ADMIN, "10001")
        assert (await log_in(client, admin.phone)).status == 200
        csv = {"Content-Type": "text/csv"}
        other = await client.call(
            "POST", "/api/admin/units/20002/admitted-list", data=good, headers=csv
        )
        assert other.status == 403
        assert (await client.call("GET", "/api/admin/units/20002/admitted-list")).status == 403
        mine = await client.call(
            "POST", "/api/admin/units/10001/admitted-list", data=good, headers=csv
        )
        assert mine.status == 201 and mine.body["entries"] == 1
        bad = good + b",passport,E1234567\n\xe5\xbc\xa0,unknown,1\n"
        refused = await client.call(
            "POST", "/api/admin/units/10001/admitted-list", data=bad, headers=csv
        )
        assert refused.status == 400 and refused.code == "invalid_admitted_list"
        assert [(e["line"], e["code"]) for e in refused.body["error"]["details"]["errors"]] == [
            (3, "name"),
            (4, "id_type"),
        ]
        listing = await client.call("GET", "/api/admin/units/10001/admitted-list?limit=10")
        assert [e["name"] for e in listing.body["entries"]] == ["张三"]
        gif = await client.call(
            "POST",
            "/api/admin/units/10001/admitted-list",
            data=b"x",
            headers={"Content-Type": "image/gif"},
        )
        assert gif.status == 415


async def test_candidates_see_only_their_own_things(api_server: RunningServer) -> None:
    async with api_client(api_server) as alice, api_client(api_server) as bob:
        a = await signed_up(alice, "13800138000", "Alice", serial=1)
        await signed_up(bob, "13900139000", "Bob", serial=2)
        await accept_agreements(alice)
        await accept_agreements(bob)
        attempt = await alice.call("POST", "/api/verification/attempts", {"scope": "login"})
        stolen = await bob.call(
            "POST",
            f"/api/verification/attempts/{attempt.body['attempt_id']}",
            {"answer": a.id_number[-6:]},
        )
        assert stolen.status == 404
        assert (await bob.call("GET", "/api/me")).body["account"]["name"] == "Bob"
        await stored_take(api_server, a.owner, "alice-take")
        for answer in ("000000", "000000", "000000"):
            await verify(bob, answer)
        review = await bob.call(
            "POST",
            "/api/verification/reviews?scope=login",
            data=PNG,
            headers={"Content-Type": "image/png"},
        )
        assert review.status == 201
        photo = await alice.call("GET", f"/api/reviews/{review.body['review_id']}/photo")
        assert photo.status == 403


async def test_cancelling_verification_means_waiting(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        await signed_up(client, "13800138000", serial=1)
        await accept_agreements(client)
        attempt = await client.call("POST", "/api/verification/attempts", {"scope": "login"})
        cancel = f"/api/verification/attempts/{attempt.body['attempt_id']}/cancel"
        assert (await client.call("POST", cancel)).body["status"] == "waiting"
        waiting = await client.call("POST", "/api/verification/attempts", {"scope": "login"})
        assert waiting.status == 429 and waiting.body["error"]["details"]["retry_after"] == 60
        status = await client.call("GET", "/api/verification?scope=login")
        assert status.body["status"] == "waiting"


async def test_manual_review_after_three_failures(api_server: RunningServer) -> None:
    async with api_client(api_server) as client, api_client(api_server) as staff_client:
        await signed_up(client, "13800138000", serial=1)
        staff = await signed_up(staff_client, "13900139000", "Reviewer", serial=2)
        await api_server.app[ACCOUNTS].grant(staff.phone, Role.STAFF_REVIEWER, None)
        assert (await log_in(staff_client, staff.phone)).status == 200
        await accept_agreements(client)
        for _ in range(3):
            assert (await verify(client, "000000")).body["passed"] is False
        closed = await client.call("POST", "/api/verification/attempts", {"scope": "login"})
        assert closed.status == 409 and closed.code == "manual_review_required"
        not_a_photo = await client.call(
            "POST",
            "/api/verification/reviews?scope=login",
            data=b"GIF89a" + bytes(4096),
            headers={"Content-Type": "image/png"},
        )
        assert not_a_photo.status == 415
        review = await client.call(
            "POST",
            "/api/verification/reviews?scope=login",
            data=PNG,
            headers={"Content-Type": "image/png"},
        )
        assert review.status == 201 and review.body["state"] == "pending"
        status = await client.call("GET", "/api/verification?scope=login")
        assert status.body["status"] == "review_pending"

        queue = await staff_client.call("GET", "/api/reviews")
        assert [r["review_id"] for r in queue.body["reviews"]] == [review.body["review_id"]]
        photo = await staff_client.call("GET", f"/api/reviews/{review.body['review_id']}/photo")
        assert photo.status == 200 and photo.body == PNG
        assert photo.headers["Content-Type"] == "image/png"
        assert photo.headers["Content-Disposition"].startswith("attachment;")
        assert photo.headers["X-Content-Type-Options"] == "nosniff"
        decided = await staff_client.call(
            "POST", f"/api/reviews/{review.body['review_id']}", {"decision": "approve"}
        )
        assert decided.status == 200 and decided.body["state"] == "approved"
        me = await client.call("GET", "/api/me")
        assert me.body["journey"]["next_step"] == "read_notice"

"""Staff by invitation (issue #10): a unit admin invites proctors by phone, an operator
creates units and invites their admins. Inviting answers the same whether the phone has
an account or not; nothing changes until the holder of the phone, logged in, accepts
(once, even when accepting twice at once) or declines."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from exams.catalog.attempts import new_attempt
from exams.identity.accounts import Role
from exams.shared.ports import Event
from storage.attempts import SqliteAttempts
from tests.support.api import ApiClient, api_client, log_in, register, signed_up
from tests.support.exams import add_unit, exam_body, online_question, staff, unit_exam
from tests.support.server import RunningServer, api_server_fixture, api_settings, running_server
from web.keys import ACCOUNTS, AUDIT, DATABASE, EXAM_CATALOG, INVITATIONS, OPENAPI, SMS_OUTBOX

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

UNIT = "10041"


staff_server = api_server_fixture()


def invite_path(exam_id: str) -> str:
    return f"/api/admin/exams/{exam_id}/invitations"


def comparable(reply: Any) -> tuple[int, list[dict[str, Any]]]:
    """A reply without what differs between any two invitations (ids, times, phone)."""
    rows = [
        {k: v for k, v in i.items() if k not in ("invitation_id", "phone")}
        | {"created_at": 0, "expires_at": 0}
        for i in reply.body["invitations"][:1]
    ]
    return reply.status, rows


async def admin_with_exam(server: RunningServer, admin: ApiClient) -> str:
    return await unit_exam(server, admin, UNIT, online_question())


def mine_path(invitation_id: str, action: str) -> str:
    return f"/api/account/invitations/{invitation_id}/{action}"


async def pending(client: ApiClient) -> list[dict[str, Any]]:
    reply = await client.call("GET", "/api/account/invitations")
    assert reply.status == 200, reply
    return list(reply.body["invitations"])


async def test_a_unit_admin_invites_proctors_by_phone(staff_server: RunningServer) -> None:
    server = staff_server
    async with (
        api_client(server) as admin,
        api_client(server) as known,
        api_client(server) as newcomer,
        api_client(server) as reviewer,
        api_client(server) as intruder,
    ):
        exam_id = await admin_with_exam(server, admin)
        existing = await signed_up(known, "13900000001", "李监考", serial=901)
        await signed_up(intruder, "13900000009", "赵同学", serial=909)
        await staff(server, reviewer, Role.STAFF_REVIEWER, None)
        reviewer_phone = (await reviewer.call("GET", "/api/me")).body["account"]["phone"]

        # The same answer for a phone with an account and one without: nothing to learn.
        first = await admin.call("POST", invite_path(exam_id), {"phone": existing.phone})
        second = await admin.call("POST", invite_path(exam_id), {"phone": "139 0000 0002"})
        assert first.status == second.status == 201, (first, second)
        assert comparable(first) == comparable(second)
        assert first.body["invitations"][0]["state"] == "pending"
        assert second.body["invitations"][0]["phone"] == "13900000002"
        for phone in (existing.phone, "13900000002"):
            sms = server.app[SMS_OUTBOX].latest(phone)
            assert sms is not None and "监考人员" in sms.text and "接受邀请" in sms.text
        bad = await admin.call("POST", invite_path(exam_id), {"phone": "12345"})
        assert bad.status == 400 and "phone" in bad.body["error"]["details"]["fields"]

        # Logging in changes nothing: the account is still a candidate, and sees the offer.
        assert (await log_in(known, existing.phone)).status == 200
        assert (await known.call("GET", "/api/me")).body["account"]["role"] == "candidate"
        proctors = await admin.call("GET", f"/api/admin/exams/{exam_id}/proctors")
        assert proctors.body["proctors"] == []
        [offer] = await pending(known)
        assert (offer["role"], offer["exam_title"], offer["inviter_role"]) == (
            "proctor",
            "钢琴演奏",
            "unit_admin",
        )
        assert offer["unit_name"] == offer["inviter_unit_name"]
        assert offer["unit_name"] is not None and "phone" not in offer
        offer_id = offer["invitation_id"]

        # Another phone's account can neither see nor accept it.
        assert await pending(intruder) == []
        for action in ("accept", "decline"):
            assert (await intruder.call("POST", mine_path(offer_id, action))).status == 404

        # Three accepts at once: it applies once; every session of the account ends.
        done = await asyncio.gather(
            *(known.call("POST", mine_path(offer_id, "accept")) for _ in range(3))
        )
        # The others find it applied (409), or, coming after it, their session ended (401).
        statuses = sorted(r.status for r in done)
        assert statuses[0] == 200 and set(statuses[1:]) <= {401, 409}, done
        [accepted] = [r.body for r in done if r.status == 200]
        assert accepted == {"role": "proctor", "unit_id": None, "exam_id": exam_id} | {
            "log_in_again": True
        }
        assert (await known.call("GET", "/api/me")).status == 401
        assert (await log_in(known, existing.phone)).status == 200
        assert (await known.call("GET", "/api/me")).body["account"]["role"] == "proctor"
        mine = await known.call("GET", "/api/proctor/exams")
        assert [e["exam_id"] for e in mine.body["exams"]] == [exam_id]

        # The new phone registers: a candidate, who declines.
        created = await register(newcomer, "13900000002", "王监考", serial=902)
        assert created.status == 201 and created.body["account"]["role"] == "candidate"
        assert (await log_in(newcomer, "13900000002")).status == 200
        [offer] = await pending(newcomer)
        declined = await newcomer.call("POST", mine_path(offer["invitation_id"], "decline"))
        assert declined.status == 200 and declined.body["invitations"] == []
        again = await newcomer.call("POST", mine_path(offer["invitation_id"], "accept"))
        assert again.status == 409
        assert (await newcomer.call("GET", "/api/me")).body["account"]["role"] == "candidate"
        proctors = await admin.call("GET", f"/api/admin/exams/{exam_id}/proctors")
        assert [p["name"] for p in proctors.body["proctors"]] == ["李监考"]
        listed = (await admin.call("GET", invite_path(exam_id))).body["invitations"]
        assert sorted(i["state"] for i in listed) == ["applied", "declined"]

        # Another staff role cannot accept: refused, and the invitation stays pending.
        await admin.call("POST", invite_path(exam_id), {"phone": reviewer_phone})
        assert (await log_in(reviewer, reviewer_phone)).status == 200
        [offer] = await pending(reviewer)
        refused = await reviewer.call("POST", mine_path(offer["invitation_id"], "accept"))
        assert refused.status == 409 and refused.body["error"]["details"]["reason"] == "other_staff"
        assert (await reviewer.call("GET", "/api/me")).body["account"]["role"] == "staff_reviewer"
        listed = (await admin.call("GET", invite_path(exam_id))).body["invitations"]
        assert listed[0]["state"] == "pending"

        # A pending invitation can be withdrawn; it then is not offered any more.
        sent = await admin.call("POST", invite_path(exam_id), {"phone": "13900000003"})
        gone = sent.body["invitations"][0]["invitation_id"]
        withdrawn = await admin.call("DELETE", invite_path(exam_id) + f"/{gone}")
        assert withdrawn.body["invitations"][0]["state"] == "cancelled"
        again = await admin.call("DELETE", invite_path(exam_id) + f"/{gone}")
        assert again.status == 404
        async with api_client(server) as late:
            made = await register(late, "13900000003", "赵同学", serial=903)
            assert made.body["account"]["role"] == "candidate"
            assert (await log_in(late, "13900000003")).status == 200
            assert await pending(late) == []

        entries = await server.app[AUDIT].recent(100)
        invited = [e for e in entries if e.event is Event.STAFF_INVITED]
        decided = [e for e in entries if e.event is Event.INVITATION_DECIDED]
        assert len(invited) == 4 and all(e.detail["phone"].count("*") == 4 for e in invited)
        assert sorted(e.detail["state"] for e in decided) == ["applied", "declined"]


async def test_a_candidate_who_started_an_answer_cannot_accept(
    staff_server: RunningServer,
) -> None:
    server = staff_server
    async with api_client(server) as admin, api_client(server) as candidate:
        exam_id = await admin_with_exam(server, admin)
        person = await signed_up(candidate, "13900000041", "钱同学", serial=941)
        exam = await server.app[EXAM_CATALOG].get(exam_id)
        assert exam is not None
        attempt = new_attempt("a1", exam, exam.questions[0].id, person.id)
        await SqliteAttempts(server.app[DATABASE]).save(attempt, time.time())
        await admin.call("POST", invite_path(exam_id), {"phone": person.phone})
        [offer] = await pending(candidate)
        refused = await candidate.call("POST", mine_path(offer["invitation_id"], "accept"))
        assert refused.status == 409, refused
        assert refused.body["error"]["details"]["reason"] == "answers_started"
        assert (await candidate.call("GET", "/api/me")).body["account"]["role"] == "candidate"
        listed = (await admin.call("GET", invite_path(exam_id))).body["invitations"]
        assert [i["state"] for i in listed] == ["pending"]


async def test_a_new_proctor_still_needs_two_step_log_in(tmp_path: Path) -> None:
    settings = api_settings(tmp_path / "data", staff_two_factor="required")
    async with running_server(settings) as server, api_client(server) as known:
        await add_unit(server, UNIT)
        # The admin's own log-in would ask for a code: the domain stands in for the console.
        who = await signed_up(known, "13700000009", "管理员", serial=909)
        admin = await server.app[ACCOUNTS].grant(who.phone, Role.UNIT_ADMIN, UNIT)
        body = exam_body(online_question(), now=time.time())
        exam = await server.app[EXAM_CATALOG].create(admin, body, "127.0.0.1")
        person = await signed_up(known, "13900000011", "孙监考", serial=911)
        await server.app[INVITATIONS].invite_proctor(admin, exam.id, person.phone, "127.0.0.1")
        assert (await known.call("GET", "/api/me")).body["account"]["role"] == "candidate"
        [offer] = await pending(known)
        accepted = await known.call("POST", mine_path(offer["invitation_id"], "accept"))
        assert accepted.status == 200 and accepted.body["log_in_again"] is True
        assert (await known.call("GET", "/api/me")).status == 401  # its session ended
        # Two log-ins at once: neither opens a proctor's session without the second step.
        both = await asyncio.gather(log_in(known, person.phone), log_in(known, person.phone))
        for refused in both:
            assert refused.status == 401 and refused.code == "second_factor_required"
            assert refused.body["error"]["details"]["method"] == "enrol"
        now = await server.app[ACCOUNTS].get(person.id)
        assert now.role is Role.PROCTOR


async def test_an_operator_creates_units_and_invites_their_admins(
    staff_server: RunningServer,
) -> None:
    server = staff_server
    async with api_client(server) as operator, api_client(server) as invited:
        await staff(server, operator, Role.OPERATOR, None)
        made = await asyncio.gather(
            *(
                operator.call("POST", "/api/operator/units", {"unit_id": "10042", "name": "美院"})
                for _ in range(3)
            )
        )
        assert sorted(r.status for r in made) == [201, 409, 409]  # at once: one of them
        units = (await operator.call("GET", "/api/operator/units")).body["units"]
        assert {"unit_id": "10042", "name": "美院"} in units
        bad = await operator.call("POST", "/api/operator/units", {"unit_id": "a b", "name": "x"})
        assert bad.status == 400

        path = "/api/operator/units/10042/invitations"
        sent = await operator.call("POST", path, {"phone": "13900000021"})
        assert sent.status == 201 and sent.body["invitations"][0]["role"] == "unit_admin"
        missing = await operator.call(
            "POST", "/api/operator/units/nope/invitations", {"phone": "13900000021"}
        )
        assert missing.status == 404
        created = await register(invited, "13900000021", "周管理", serial=921)
        assert created.body["account"]["role"] == "candidate"
        assert (await log_in(invited, "13900000021")).status == 200
        [offer] = await pending(invited)
        assert (offer["role"], offer["unit_name"], offer["inviter_role"]) == (
            "unit_admin",
            "美院",
            "operator",
        )
        accepted = await invited.call("POST", mine_path(offer["invitation_id"], "accept"))
        assert accepted.body["unit_id"] == "10042" and accepted.body["log_in_again"] is True
        assert (await log_in(invited, "13900000021")).status == 200
        me = (await invited.call("GET", "/api/me")).body["account"]
        assert (me["role"], me["unit_id"]) == ("unit_admin", "10042")
        listed = (await operator.call("GET", path)).body["invitations"]
        assert [i["state"] for i in listed] == ["applied"]
        entries = await server.app[AUDIT].recent(50)
        assert [e.detail["unit_id"] for e in entries if e.event is Event.UNIT_CREATED] == ["10042"]


NEW_ROUTES = [
    ("GET", "/api/admin/exams/{exam_id}/invitations", "unit_admin"),
    ("POST", "/api/admin/exams/{exam_id}/invitations", "unit_admin"),
    ("DELETE", "/api/admin/exams/{exam_id}/invitations/{invitation_id}", "unit_admin"),
    ("GET", "/api/operator/units", "operator"),
    ("POST", "/api/operator/units", "operator"),
    ("GET", "/api/operator/units/{unit_id}/invitations", "operator"),
    ("POST", "/api/operator/units/{unit_id}/invitations", "operator"),
    ("GET", "/api/admin/exams/{exam_id}/export", "unit_admin"),
]
ACCOUNT_ROUTES = [
    ("GET", "/api/account/invitations"),
    ("POST", "/api/account/invitations/{invitation_id}/accept"),
    ("POST", "/api/account/invitations/{invitation_id}/decline"),
]
BODIES = {
    "/api/operator/units": {"unit_id": "x1", "name": "X"},
}


async def test_every_new_route_refuses_other_roles(staff_server: RunningServer) -> None:
    server = staff_server
    doc = server.app[OPENAPI]
    async with api_client(server) as admin, api_client(server) as candidate:
        exam_id = await admin_with_exam(server, admin)
        await signed_up(candidate, "13900000031", "考生", serial=931)
        async with api_client(server) as operator, api_client(server) as anonymous:
            await staff(server, operator, Role.OPERATOR, None)
            for method, route, role in NEW_ROUTES:
                assert doc["paths"][route][method.lower()]["x-examcast-auth"] == role
                path = route.format(exam_id=exam_id, invitation_id="none", unit_id=UNIT)
                body = BODIES.get(route, {"phone": "13900000032"}) if method == "POST" else None
                assert (await anonymous.call(method, path, body)).status == 401, route
                assert (await candidate.call(method, path, body)).status == 403, route
                other = operator if role == "unit_admin" else admin
                assert (await other.call(method, path, body)).status == 403, route
            for method, route in ACCOUNT_ROUTES:  # any logged-in account: its own invitations
                assert doc["paths"][route][method.lower()]["x-examcast-auth"] == "account"
                path = route.format(invitation_id="none")
                assert (await anonymous.call(method, path)).status == 401, route
                for who in (candidate, admin, operator):
                    assert (await who.call(method, path)).status in (200, 404), route

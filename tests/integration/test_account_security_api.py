"""Account security over HTTP: weak passwords, password change and SMS reset, staff
two-step log-in, the proctor look-up oracle, identity claims. A real server, real
clients, parallel requests at every new limit."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest

from exams.identity.accounts import Role
from exams.identity.two_factor import GUESSES, PERIOD_S
from exams.shared.ports import Event
from tests.support.api import ApiClient, api_client, log_in, register, signed_up
from tests.support.server import RunningServer, running_server, server_settings
from tests.support.world import PASSWORD, FakeClock, resident_id
from web.keys import ACCOUNTS, AUDIT, SMS_OUTBOX, UNITS

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

NEW = "violet-harbour-73"
REDIS_URL = os.environ.get("EXAMCAST_TEST_REDIS_URL")


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked_server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    """Staff log in with a password alone; the accounts' clock is the test's."""
    settings = server_settings(tmp_path / "data", password_hash_memory_kib=1024)
    async with running_server(settings, clock) as running:
        yield running


@pytest.fixture
async def strict_server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RunningServer]:
    """As shipped: staff must use two-step log-in; the accounts' clock is the test's."""
    settings = server_settings(
        tmp_path / "data", password_hash_memory_kib=1024, staff_two_factor="required"
    )
    async with running_server(settings, clock) as running:
        yield running


def code_from_outbox(server: RunningServer, phone: str) -> str:
    message = server.app[SMS_OUTBOX].latest(phone)
    assert message is not None and message.code is not None
    return message.code


async def staff(server: RunningServer, client: ApiClient, phone: str, role: Role) -> None:
    created = await register(client, phone, "员工", serial=int(phone[-3:]))
    assert created.status == 201, created
    unit_id = None
    if role is Role.UNIT_ADMIN:
        unit_id = "10001"
        if not [u for u in await server.app[UNITS].all() if u.id == unit_id]:
            await server.app[UNITS].add(unit_id, "甲")
    await server.app[ACCOUNTS].grant(phone, role, unit_id)


async def test_weak_passwords_are_refused_with_a_reason(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        await client.call("POST", "/api/sms-codes", {"phone": "13800138000"})
        reply = await client.call(
            "POST",
            "/api/accounts",
            {
                "phone": "13800138000",
                "sms_code": code_from_outbox(api_server, "13800138000"),
                "name": "李雷",
                "id_type": "resident_id",
                "id_number": resident_id(1),
                "password": "aaaaaaaa",
            },
        )
        assert reply.status == 400
        assert reply.body["error"]["details"]["reasons"] == {"password": "repeats"}


async def test_change_password_ends_other_sessions(api_server: RunningServer) -> None:
    async with api_client(api_server) as laptop, api_client(api_server) as phone:
        await signed_up(laptop, "13800138000")
        assert (await log_in(phone, "13800138000")).status == 200
        wrong = await laptop.call(
            "POST", "/api/account/password", {"old_password": "nope", "new_password": NEW}
        )
        assert wrong.status == 401 and wrong.code == "wrong_credentials"
        old_cookie = laptop.cookie()
        changed = await laptop.call(
            "POST", "/api/account/password", {"old_password": PASSWORD, "new_password": NEW}
        )
        assert changed.status == 200, changed
        assert laptop.cookie() != old_cookie
        assert (await laptop.call("GET", "/api/me")).status == 200
        assert (await phone.call("GET", "/api/me")).status == 401
        assert (await log_in(phone, "13800138000", NEW)).status == 200


async def test_sms_codes_are_for_known_purposes_only(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        sent = await client.call(
            "POST", "/api/sms-codes", {"phone": "13800138001", "purpose": "anything"}
        )
        assert sent.status == 400


async def test_reset_ends_sessions_and_parallel_code_guesses_get_five_tries(
    strict_server: RunningServer, clock: FakeClock
) -> None:
    server = strict_server
    async with api_client(server) as client, api_client(server, "127.0.0.3") as attacker:
        await signed_up(client, "13800138000")
        clock.advance(61)
        sent = await attacker.call(
            "POST", "/api/sms-codes", {"phone": "13800138000", "purpose": "reset_password"}
        )
        assert sent.status == 202
        code = code_from_outbox(server, "13800138000")
        guesses = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 21)]
        replies = await asyncio.gather(
            *(
                attacker.call(
                    "POST",
                    "/api/password-reset",
                    {"phone": "13800138000", "sms_code": g, "new_password": NEW},
                )
                for g in guesses
            )
        )
        assert {r.code for r in replies} == {"wrong_sms_code"}
        assert sum("wrong" in r.body["error"]["message"] for r in replies) == 5
        clock.advance(61)
        await client.call(
            "POST", "/api/sms-codes", {"phone": "13800138000", "purpose": "reset_password"}
        )
        done = await client.call(
            "POST",
            "/api/password-reset",
            {
                "phone": "13800138000",
                "sms_code": code_from_outbox(server, "13800138000"),
                "new_password": NEW,
            },
        )
        assert done.status == 200, done
        assert (await client.call("GET", "/api/me")).status == 401  # every session ended
        assert (await log_in(client, "13800138000", NEW)).status == 200


async def second_factor(client: ApiClient, phone: str) -> dict[str, Any]:
    reply = await log_in(client, phone)
    assert reply.status == 401 and reply.code == "second_factor_required", reply
    details: dict[str, Any] = reply.body["error"]["details"]
    return details


async def test_staff_enrol_at_first_log_in_then_give_codes(
    strict_server: RunningServer, clock: FakeClock
) -> None:
    server = strict_server
    async with api_client(server) as client:
        await staff(server, client, "13800138100", Role.PROCTOR)
        asked = await second_factor(client, "13800138100")
        assert asked["method"] == "enrol" and client.cookie() is None
        setup = await client.call(
            "POST", "/api/session/enrolment", {"challenge": asked["challenge"]}
        )
        assert setup.status == 200, setup
        assert setup.body["qr_svg"].startswith("<svg")
        totp = pyotp.TOTP(setup.body["secret"], interval=PERIOD_S)
        done = await client.call(
            "POST",
            "/api/session/second-factor",
            {"challenge": asked["challenge"], "code": totp.at(clock())},
        )
        assert done.status == 200, done
        assert len(done.body["recovery_codes"]) == 10
        assert done.body["account"]["role"] == "proctor"
        status = await client.call("GET", "/api/account/two-factor")
        assert status.body == {
            "applies": True,
            "required": True,
            "enrolled": True,
            "recovery_codes_left": 10,
        }
        assert (await client.call("DELETE", "/api/session")).status == 204

        clock.advance(PERIOD_S)
        asked = await second_factor(client, "13800138100")
        assert asked["method"] == "totp"
        done = await client.call(
            "POST",
            "/api/session/second-factor",
            {"challenge": asked["challenge"], "code": totp.at(clock())},
        )
        assert done.status == 200 and "recovery_codes" in done.body
        assert (await client.call("GET", "/api/me")).status == 200


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_parallel_totp_guesses_are_limited(
    tmp_path: Path, clock: FakeClock, store: str
) -> None:
    if store == "redis" and not REDIS_URL:
        pytest.skip("EXAMCAST_TEST_REDIS_URL is not set")
    settings = server_settings(
        tmp_path / "data",
        password_hash_memory_kib=1024,
        staff_two_factor="required",
        redis_url=REDIS_URL if store == "redis" else "",
    )
    # A Redis store outlives the server: a phone and address of this run alone.
    phone = f"138{secrets.randbelow(10**8):08d}"
    address = "127." + ".".join(str(b) for b in secrets.token_bytes(2)) + ".9"
    async with running_server(settings, clock) as server, api_client(server, address) as client:
        await staff(server, client, phone, Role.STAFF_REVIEWER)
        asked = await second_factor(client, phone)
        setup = await client.call(
            "POST", "/api/session/enrolment", {"challenge": asked["challenge"]}
        )
        totp = pyotp.TOTP(setup.body["secret"], interval=PERIOD_S)
        await client.call(
            "POST",
            "/api/session/second-factor",
            {"challenge": asked["challenge"], "code": totp.at(clock())},
        )
        clock.advance(PERIOD_S)
        asked = await second_factor(client, phone)
        right = totp.at(clock())
        guesses = [f"{(int(right) + 7 + i) % 10**6:06d}" for i in range(16)]
        replies = await asyncio.gather(
            *(
                client.call(
                    "POST",
                    "/api/session/second-factor",
                    {"challenge": asked["challenge"], "code": g},
                )
                for g in guesses
            )
        )
        codes = [r.code for r in replies]
        assert codes.count("wrong_second_factor") == GUESSES.free
        assert codes.count("rate_limited") == 16 - GUESSES.free
        audit = await server.app[AUDIT].recent(limit=500)
        assert sum(e.event is Event.SECOND_FACTOR_FAILED for e in audit) == GUESSES.free


async def test_proctor_assignment_answers_alike_for_unknown_and_non_proctors(
    api_server: RunningServer,
) -> None:
    async with api_client(api_server) as admin:
        await staff(api_server, admin, "13800138200", Role.UNIT_ADMIN)
        assert (await log_in(admin, "13800138200")).status == 200
        exam = await admin.call(
            "POST",
            "/api/admin/exams",
            {"title": "T", "opens_at": 1.0, "closes_at": 2.0},
        )
        assert exam.status == 201, exam
        async with api_client(api_server) as other:
            await signed_up(other, "13800138201", serial=201)
        path = f"/api/admin/exams/{exam.body['id']}/proctors"
        candidate = await admin.call("POST", path, {"phone": "13800138201"})
        unknown = await admin.call("POST", path, {"phone": "13800138299"})
        assert candidate.status == unknown.status == 404
        assert candidate.body == unknown.body


async def test_identity_claim_filed_reviewed_and_approved(
    clocked_server: RunningServer, clock: FakeClock
) -> None:
    server = clocked_server
    id_number = resident_id(777)
    async with api_client(server) as squatter:
        created = await register(squatter, "13900000666", "王芳", id_number=id_number)
        assert created.status == 201
    async with api_client(server, "127.0.0.4") as real:
        taken = await register(real, "13800138000", "王芳", id_number=id_number)
        assert taken.status == 409
        assert taken.body["error"]["details"] == {"field": "id_number", "claim": True}
        clock.advance(61)  # the first code was spent on the refused registration
        await real.call("POST", "/api/sms-codes", {"phone": "13800138000"})
        form = aiohttp.FormData()
        for name, value in {
            "phone": "13800138000",
            "sms_code": code_from_outbox(server, "13800138000"),
            "name": "王芳",
            "id_type": "resident_id",
            "id_number": id_number,
            "password": "my-own-id-back-42",
        }.items():
            form.add_field(name, value)
        form.add_field(
            "photo",
            b"\xff\xd8\xff\xe0" + b"\0" * 4096,
            filename="me.jpg",
            content_type="image/jpeg",
        )
        async with real.http.post(
            server.url + "/api/identity-claims", data=form, headers={"Origin": server.url}
        ) as response:
            assert response.status == 201, await response.text()
            claim = await response.json()
        missing = await real.call(
            "POST", "/api/identity-claims", data=b"x", headers={"Content-Type": "text/plain"}
        )
        assert missing.status == 415
    async with api_client(server) as reviewer:
        await staff(server, reviewer, "13800138300", Role.STAFF_REVIEWER)
        assert (await log_in(reviewer, "13800138300")).status == 200
        queue = await reviewer.call("GET", "/api/identity-claims")
        assert [c["claim_id"] for c in queue.body["claims"]] == [claim["claim_id"]]
        photo = await reviewer.call("GET", f"/api/identity-claims/{claim['claim_id']}/photo")
        assert photo.status == 200 and "attachment" in photo.headers["Content-Disposition"]
        decided = await reviewer.call(
            "POST", f"/api/identity-claims/{claim['claim_id']}", {"decision": "approve"}
        )
        assert decided.status == 200 and decided.body["state"] == "approved"
    async with api_client(server) as real:
        assert (await log_in(real, "13800138000", "my-own-id-back-42")).status == 200
        me = await real.call("GET", "/api/me")
        assert me.body["account"]["id_number"] == id_number
    async with api_client(server) as squatter:
        assert (await log_in(squatter, "13900000666")).status == 401
    events = [e.event for e in await server.app[AUDIT].recent(limit=500)]
    for event in (Event.ID_NUMBER_TAKEN, Event.CLAIM_FILED, Event.CLAIM_DECIDED):
        assert event in events


async def test_a_one_minute_idle_window_keeps_an_active_session(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = server_settings(tmp_path / "data", password_hash_memory_kib=1024, session_idle_s=60)
    async with running_server(settings, clock) as server, api_client(server) as client:
        await signed_up(client, "13800138000")
        for _ in range(20):  # a request every 10 s for over 3 minutes
            clock.advance(10)
            assert (await client.call("GET", "/api/me")).status == 200
        clock.advance(59)  # quiet for just under the window
        assert (await client.call("GET", "/api/me")).status == 200
        clock.advance(66)  # quiet for the window and one last-seen write interval
        assert (await client.call("GET", "/api/me")).status == 401

"""Accounts over HTTP: register, log in, sessions and cookies, and the attacks that must fail."""

from __future__ import annotations

import pytest

from exams.shared.ports import Event
from tests.support.api import api_client, log_in, register
from tests.support.server import RunningServer
from tests.support.world import PASSWORD, resident_id
from web.keys import AUDIT, AUTH, SMS_OUTBOX

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

PHONE = "13800138000"


async def test_register_log_in_me_log_out(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        await client.call("GET", "/api/health")
        anonymous = client.cookie()  # the device-check page's anonymous cookie
        created = await register(client, PHONE, "李雷")
        assert created.status == 201 and created.body["account"]["role"] == "candidate"
        assert (await client.call("GET", "/api/me")).status == 401

        logged_in = await log_in(client, "+86 138-0013-8000")
        assert logged_in.status == 200
        assert logged_in.body["journey"]["next_step"] == "accept_agreements"
        set_cookie = logged_in.headers.getall("Set-Cookie")
        session = [c for c in set_cookie if c.startswith("examcast_session=")]
        assert len(session) == 1, set_cookie
        assert "HttpOnly" in session[0] and "SameSite=Lax" in session[0]
        assert "Secure" not in session[0]  # plain HTTP here; set under TLS
        token = client.cookie()
        assert token and token != anonymous  # rotated at log-in

        me = await client.call("GET", "/api/me")
        assert me.body["account"]["name"] == "李雷" and me.body["journey"]["next_step"]
        assert (await client.call("DELETE", "/api/session")).status == 204
        assert (await client.call("GET", "/api/me")).status == 401

    async with api_client(api_server) as replay:  # the old token is dead on the server too
        replay.http.cookie_jar.update_cookies({"examcast_session": token})
        assert (await replay.call("GET", "/api/me")).status == 401


async def test_a_used_sms_code_cannot_be_replayed(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        await client.call("POST", "/api/sms-codes", {"phone": PHONE})
        code = api_server.app[SMS_OUTBOX].latest(PHONE).code  # type: ignore[union-attr]
        form = {
            "phone": PHONE,
            "sms_code": code,
            "name": "张三",
            "id_type": "resident_id",
            "id_number": resident_id(1),
            "password": PASSWORD,
        }
        assert (await client.call("POST", "/api/accounts", form)).status == 201
        replayed = await client.call("POST", "/api/accounts", {**form, "id_number": resident_id(2)})
        assert replayed.status == 400 and replayed.code == "wrong_sms_code"


async def test_codes_are_never_in_responses_and_sending_is_limited(
    api_server: RunningServer,
) -> None:
    async with api_client(api_server) as client:
        sent = await client.call("POST", "/api/sms-codes", {"phone": PHONE})
        code = api_server.app[SMS_OUTBOX].latest(PHONE).code  # type: ignore[union-attr]
        assert code is not None and code not in str(sent.body)
        again = await client.call("POST", "/api/sms-codes", {"phone": PHONE})
        assert again.status == 429 and again.body["error"]["details"]["retry_after"] == 60


async def test_registration_names_every_bad_field(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        bad = await client.call(
            "POST",
            "/api/accounts",
            {
                "phone": "1234",
                "sms_code": "x",
                "name": "",
                "id_type": "resident_id",
                "id_number": "110105194912310021",
                "password": "12345678",
            },
        )
        assert bad.status == 400
        assert set(bad.body["error"]["details"]["fields"]) == {
            "phone",
            "sms_code",
            "name",
            "id_number",
            "password",
        }


async def test_brute_force_is_slowed_but_the_owner_logs_in_from_elsewhere(
    api_server: RunningServer,
) -> None:
    async with api_client(api_server) as owner_setup:
        assert (await register(owner_setup, PHONE)).status == 201
    async with api_client(api_server, "127.0.0.1") as attacker:
        for _ in range(5):
            assert (await log_in(attacker, PHONE, "guess-1234")).status == 401
        slowed = await log_in(attacker, PHONE, "guess-1234")
        assert slowed.status == 429 and slowed.body["error"]["details"]["retry_after"] >= 1
        assert (await log_in(attacker, PHONE)).status == 429  # even the right one, from here
    async with api_client(api_server, "127.0.0.2") as owner:
        assert (await log_in(owner, PHONE)).status == 200
    events = {e.event for e in await api_server.app[AUDIT].recent()}
    assert {Event.LOGIN_FAILED, Event.LOGIN_THROTTLED, Event.LOGIN_OK} <= events


async def test_cross_site_posts_are_refused(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        assert (await register(client, PHONE)).status == 201
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
            refused = await client.call(
                "POST", "/api/session", {"phone": PHONE, "password": PASSWORD}, headers=headers
            )
            assert refused.status == 403 and refused.code == "forbidden"
        assert client.cookie() is None or (await client.call("GET", "/api/me")).status == 401


async def test_the_socket_connect_helper_reads_the_same_cookie(api_server: RunningServer) -> None:
    auth = api_server.app[AUTH]
    async with api_client(api_server) as client:
        assert (await register(client, PHONE)).status == 201
        assert (await log_in(client, PHONE)).status == 200
        header = f"theme=dark; examcast_session={client.cookie()}"
        account = await auth.account_for_cookie_header(header)
        assert account is not None and account.phone == PHONE
    for bad in (None, "", "examcast_session=nope", "garbage;;==", "examcast_session=" + "a" * 43):
        assert await auth.account_for_cookie_header(bad) is None


async def test_log_in_replaces_another_accounts_session(api_server: RunningServer) -> None:
    async with api_client(api_server) as client:
        assert (await register(client, PHONE, serial=1)).status == 201
        await client.call("GET", "/api/health")  # the SMS limit: one a minute per phone only
        assert (await register(client, "13900139000", "王五", serial=2)).status == 201
        assert (await log_in(client, PHONE)).status == 200
        first = client.cookie()
        assert (await log_in(client, "13900139000")).status == 200
        assert client.cookie() != first
    async with api_client(api_server) as replay:
        assert first is not None
        replay.http.cookie_jar.update_cookies({"examcast_session": first})
        assert (await replay.call("GET", "/api/me")).status == 401

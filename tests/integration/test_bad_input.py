"""JSON the server cannot hold, over HTTP and over Socket.IO: a clear 400 /
``invalid_input`` every time, never a 500, Python's own words or a traceback in the log.

The cases: nesting deep enough to exhaust the interpreter's stack, a lone
surrogate (``"\\ud800"``, which JavaScript's ``JSON.stringify`` sends for a
broken string), an integer of 400 digits as a time, ``1e400`` and ``NaN``,
and an SDP offer whose BUNDLE group names a media section it does not have.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import socketio
from socketio import packet

from exams.identity.accounts import Role
from tests.integration.test_signaling import real_offer
from tests.support.api import ApiClient, Reply, api_client
from tests.support.exams import add_unit, staff
from tests.support.server import RunningServer, sign_up, socket_connect

DEEP = "[" * 100_000 + "]" * 100_000  # far past the recursion limit: 200 KB
NESTED = "[" * 200 + "]" * 200  # parses, but deeper than any message of ours
SURROGATE = '"\\ud800"'
BIG = "9" * 400
PYTHON_WORDS = (
    "Traceback",
    "Error",
    "Exception",
    "recursion",
    "surrogates not allowed",
    "codec",
    "Expecting",
    "object has no attribute",
    "NoneType",
)


def assert_refused(reply: Reply | dict[str, Any], what: str) -> None:
    body = reply.body if isinstance(reply, Reply) else reply
    if isinstance(reply, Reply):
        assert reply.status == 400, (what, reply)
    assert isinstance(body, dict) and body["error"]["code"] == "invalid_input", (what, body)
    message = body["error"]["message"]
    assert message, what
    assert not [w for w in PYTHON_WORDS if w in str(body)], (what, body)


def assert_quiet_log(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    assert "Traceback" not in caplog.text


async def raw_post(client: ApiClient, path: str, text: str) -> Reply:
    return await client.call(
        "POST", path, data=text.encode(), headers={"Content-Type": "application/json"}
    )


async def test_json_bodies_the_server_cannot_hold_are_400_on_every_route(
    api_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with api_client(api_server) as admin, api_client(api_server) as visitor:
        await add_unit(api_server, "u1")
        await staff(api_server, admin, Role.UNIT_ADMIN, "u1")

        def exam(title: str, opens_at: str) -> str:
            return '{"title": ' + title + ', "opens_at": ' + opens_at + ', "closes_at": 2e9}'

        cases = [
            (visitor, "/api/sms-codes", DEEP),
            (visitor, "/api/session", DEEP),
            (visitor, "/api/accounts", DEEP),
            (admin, "/api/admin/exams", DEEP),
            (visitor, "/api/sms-codes", '{"phone": ' + NESTED + "}"),
            (visitor, "/api/session", '{"phone": "13800138000", "password": ' + SURROGATE + "}"),
            (visitor, "/api/sms-codes", '{"phone": "13800138000", ' + SURROGATE + ": 1}"),
            (admin, "/api/admin/exams", exam(SURROGATE, "1000")),
            (admin, "/api/admin/exams", exam('"t"', BIG)),
            (admin, "/api/admin/exams", exam('"t"', "-" + BIG)),
            (admin, "/api/admin/exams", exam('"t"', "1e400")),
            (admin, "/api/admin/exams", exam('"t"', "NaN")),
            (admin, "/api/admin/exams", exam('"t"', "1e15")),  # a number, not a date
            (visitor, "/api/session", '{"phone": '),
        ]
        for client, path, text in cases:
            assert_refused(await raw_post(client, path, text), f"{path} {text[:60]}")
        big = await raw_post(admin, "/api/admin/exams", exam('"t"', BIG))
        assert "9007199254740991" in big.body["error"]["message"]
        deep = await raw_post(visitor, "/api/session", DEEP)
        assert "nested more than" in deep.body["error"]["message"]
        broken = await raw_post(visitor, "/api/session", '{"phone": ')
        assert "not valid JSON (line 1, column" in broken.body["error"]["message"]
        # The server is fine afterwards.
        ok = await admin.call(
            "POST", "/api/admin/exams", {"title": "t", "opens_at": 1, "closes_at": 2}
        )
        assert ok.status == 201, ok
    assert_quiet_log(caplog)


class RawPacket(packet.Packet):
    """Sends the text of :data:`RAW` where a message says ``"__RAW__"``: JSON that no
    Python encoder would produce (a well-behaved one cannot nest 100,000 deep)."""

    RAW = "null"

    def encode(self) -> Any:
        encoded = super().encode()
        if isinstance(encoded, str):
            return encoded.replace('"__RAW__"', self.RAW)
        return encoded


@asynccontextmanager
async def raw_socket(server: RunningServer) -> AsyncIterator[socketio.AsyncClient]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        await sign_up(server, http)
        cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
        sio = socketio.AsyncClient(reconnection=False, serializer=RawPacket)
        await socket_connect(sio, server.url, {"Cookie": cookie})
        try:
            yield sio
        finally:
            await sio.disconnect()
    finally:
        await http.close()


async def test_socket_messages_the_server_cannot_hold_get_invalid_input(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cases: list[tuple[str, Any, str]] = [
        ("open_session", {"role": "\ud800"}, "null"),  # the client escapes it: "\ud800"
        ("open_session", {"\udc00": "primary"}, "null"),
        ("open_session", "__RAW__", DEEP),
        ("open_session", "__RAW__", '{"role": ' + NESTED + "}"),
        ("open_session", "__RAW__", '{"role": "primary", "resume": ' + BIG + "}"),
        ("stop_take", "__RAW__", '{"take_id": 1e400}'),
        ("stop_take", "__RAW__", '{"take_id": NaN}'),
    ]
    async with raw_socket(server) as sio:
        for event, data, raw in cases:
            RawPacket.RAW = raw
            ack = await sio.call(event, data, timeout=10)
            assert_refused(ack, f"{event} {str(data)[:40]} {raw[:40]}")
        RawPacket.RAW = "null"
        opened = await sio.call("open_session", {"role": "primary"}, timeout=10)
        assert opened["session_id"], opened
    assert_quiet_log(caplog)


async def test_an_offer_bundling_onto_a_missing_media_section_is_refused(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """aiortc bundles onto the transport of the group's first mid; when no m-line has
    that mid it has none, fails, and its own ``close()`` fails on the half-made peer."""
    caplog.set_level(logging.INFO)
    offer = await real_offer()
    assert "a=group:BUNDLE 0 1" in offer and "a=mid:0" in offer
    bad_offers = [
        offer.replace("a=mid:0", "a=mid:5"),  # m-line mid 5 is in no group; group's 0 is gone
        offer.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 7 0 1"),
        offer.replace("a=mid:1", "a=mid:0"),  # two sections, one mid
        # no a=fingerprint: aiortc answered, then failed an assertion in its own task
        offer.replace("a=fingerprint:", "a=x-fingerprint:"),
    ]
    async with raw_socket(server) as sio:
        opened = await sio.call("open_session", {"role": "primary"}, timeout=10)
        for sdp in bad_offers:
            ack = await sio.call(
                "offer",
                {"session_id": opened["session_id"], "type": "offer", "sdp": sdp},
                timeout=20,
            )
            assert_refused(ack, sdp[-80:])
        good = await sio.call(
            "offer", {"session_id": opened["session_id"], "type": "offer", "sdp": offer}
        )
        assert good["type"] == "answer", good
    assert_quiet_log(caplog)

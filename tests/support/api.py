"""An HTTP client of the JSON API, as a browser on one client address would be.

Every error body it receives is checked against the one error shape. Unsafe
requests carry the server's own Origin, as a page of the server would send.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.journey import Call, JourneyFailed, Person, sign_up
from exams.identity.accounts import Account
from tests.support.server import RunningServer
from tests.support.world import PASSWORD, resident_id
from web.keys import ACCOUNTS, SMS_OUTBOX
from web.openapi import ERROR
from web.schema import problems


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def code(self) -> str | None:
        return (
            self.body["error"]["code"]
            if isinstance(self.body, dict) and "error" in self.body
            else None
        )


def assert_error_shape(reply: Reply) -> None:
    assert reply.status >= 400, reply
    assert problems(ERROR, reply.body) == {}, reply.body
    assert reply.body["error"]["message"], reply.body


class ApiClient:
    def __init__(self, server: RunningServer, address: str = "127.0.0.1") -> None:
        self.server = server
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        )

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if method not in ("GET", "HEAD"):
            sent.setdefault("Origin", self.server.url)
        kwargs: dict[str, Any] = {"headers": sent}
        if body is not None:
            kwargs["json"] = body
        if data is not None:
            kwargs["data"] = data
        async with self.http.request(method, self.server.url + path, **kwargs) as response:
            raw = await response.read()
            parsed: Any = raw
            if response.content_type == "application/json" and raw:  # HEAD: headers only
                parsed = json.loads(raw)
            reply = Reply(response.status, parsed, response.headers)
        if reply.status >= 400 and response.content_type == "application/json" and raw:
            assert_error_shape(reply)
        return reply

    def cookie(self) -> str | None:
        found = [c.value for c in self.http.cookie_jar if c.key == "examcast_session"]
        return found[0] if found else None

    async def close(self) -> None:
        await self.http.close()


def journey_call(client: ApiClient) -> Call:
    """``client`` as the journey driver's :class:`~bench.journey.Call`."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        reply = await client.call(method, path, body)
        if reply.status >= 300:
            raise JourneyFailed(f"{method} {path}: {reply}")
        return reply.body

    return call


@asynccontextmanager
async def api_client(server: RunningServer, address: str = "127.0.0.1") -> AsyncIterator[ApiClient]:
    client = ApiClient(server, address)
    try:
        yield client
    finally:
        await client.close()


async def register(
    client: ApiClient, phone: str, name: str = "张三", id_number: str | None = None, serial: int = 1
) -> Reply:
    sent = await client.call("POST", "/api/sms-codes", {"phone": phone})
    assert sent.status == 202, sent
    message = client.server.app[SMS_OUTBOX].latest(phone)
    assert message is not None and message.code is not None
    return await client.call(
        "POST",
        "/api/accounts",
        {
            "phone": phone,
            "sms_code": message.code,
            "name": name,
            "id_type": "resident_id",
            "id_number": id_number or resident_id(serial),
            "password": PASSWORD,
        },
    )


async def log_in(client: ApiClient, phone: str, password: str = PASSWORD) -> Reply:
    return await client.call("POST", "/api/session", {"phone": phone, "password": password})


async def signed_up(client: ApiClient, phone: str, name: str = "张三", serial: int = 1) -> Account:
    """Register and log in (the one driver, bench/journey.py); returns the account."""

    async def sms_code(to: str) -> str:
        message = client.server.app[SMS_OUTBOX].latest(to)
        assert message is not None and message.code is not None
        return message.code

    person = Person(phone, name, resident_id(serial), PASSWORD)
    created = await sign_up(journey_call(client), person, sms_code)
    return await client.server.app[ACCOUNTS].get(created["account"]["id"])


async def accept_agreements(client: ApiClient) -> Reply:
    docs = (await client.call("GET", "/api/agreements")).body["documents"]
    versions = {d["kind"]: d["version"] for d in docs}
    return await client.call(
        "POST",
        "/api/agreements/accept",
        {
            "user_agreement_version": versions["user_agreement"],
            "privacy_policy_version": versions["privacy_policy"],
        },
    )


async def verify(client: ApiClient, answer: str, scope: str = "login") -> Reply:
    attempt = await client.call("POST", "/api/verification/attempts", {"scope": scope})
    assert attempt.status == 201, attempt
    return await client.call(
        "POST", f"/api/verification/attempts/{attempt.body['attempt_id']}", {"answer": answer}
    )

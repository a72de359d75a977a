"""Candidates for the browser tests: registered and logged in as the pages would do it.

Calls go through a browser context's own request API, so the session cookie
lands in that context and every page opened in it is logged in. The SMS code
is read from the server's log (there is no SMS gateway in tests).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from playwright.async_api import APIRequestContext, Playwright

from bench.journey import Call, before_device_check
from exams.shared.personal import gb11643_check_char
from tests.support.process import ServerProcess

PASSWORD = "camera-check-1"
UNIT_ID = "10001"

_serial = itertools.count(1)


@dataclass(frozen=True)
class Candidate:
    phone: str
    name: str
    id_number: str
    id_type: str = "resident_id"
    password: str = PASSWORD


def new_candidate(name: str = "张三") -> Candidate:
    """Someone who has not registered yet: a phone number and ID number of their own."""
    serial = next(_serial)
    first17 = f"110105200{serial % 10}0101{serial % 1000:03d}"
    return Candidate(f"136{serial:08d}", name, first17 + gb11643_check_char(first17))


async def call(
    http: APIRequestContext, server: ServerProcess, method: str, path: str, body: Any = None
) -> Any:
    """One JSON call that must succeed; its answer.

    A GET is sent again once if its connection is reset: the server closes a keep-alive
    connection idle for ``header_timeout_s``, and one reused just then is reset before the
    request is read (a browser resends then too); a POST is not, it might have been done."""
    response = await http.fetch(
        server.url + path,
        method=method,
        data=body,
        headers={"Origin": server.url},  # as a page of the server sends it
        max_retries=1 if method == "GET" else 0,
    )
    assert response.ok, f"{method} {path}: {response.status} {await response.text()}"
    return await response.json() if response.status != 204 else None


def journey_call(http: APIRequestContext, server: ServerProcess) -> Call:
    """``http`` as the journey driver's :class:`~bench.journey.Call` (bench/journey.py)."""

    async def journey_step(method: str, path: str, body: Any = None) -> Any:
        return await call(http, server, method, path, body)

    return journey_step


async def register(http: APIRequestContext, server: ServerProcess, who: Candidate) -> None:
    await call(http, server, "POST", "/api/sms-codes", {"phone": who.phone})
    code = await asyncio.to_thread(server.sms_code, who.phone)
    form = {
        "phone": who.phone,
        "sms_code": code,
        "name": who.name,
        "id_type": who.id_type,
        "id_number": who.id_number,
        "password": who.password,
    }
    await call(http, server, "POST", "/api/accounts", form)


async def log_in(http: APIRequestContext, server: ServerProcess, who: Candidate) -> None:
    await call(http, server, "POST", "/api/session", {"phone": who.phone, "password": who.password})


async def signed_up(http: APIRequestContext, server: ServerProcess) -> Candidate:
    """A new candidate, registered and logged in through ``http``."""
    who = new_candidate()
    await register(http, server, who)
    await log_in(http, server, who)
    return who


async def admit(playwright: Playwright, server: ServerProcess, *people: dict[str, Any]) -> None:
    """The unit's admin (a new account given the role by the operator's command) uploads
    an admitted list holding ``people`` (accounts as ``GET /api/me`` describes them).

    The list replaces the unit's list: tests that admit people one after another on a
    shared server each see their own candidate admitted, which is all they need."""
    try:
        server.admin("unit-add", UNIT_ID, "北京测试大学")
    except AssertionError as refused:  # an earlier test on this server added it
        assert "exists" in str(refused), refused
    rows = [(p["name"], p["id_type"]["code"], p["id_number"]) for p in people]
    await upload_admitted_list(playwright, server, UNIT_ID, rows)


async def upload_admitted_list(
    playwright: Playwright, server: ServerProcess, unit_id: str, rows: list[tuple[str, str, str]]
) -> None:
    """A new account, made the unit's admin by the operator's command, uploads the
    admitted list ``rows`` (name, ID type, ID number) for ``unit_id``."""
    admin = await playwright.request.new_context()
    try:
        person = new_candidate("管理员")
        await register(admin, server, person)
        server.admin("grant", person.phone, "unit_admin", "--unit", unit_id)
        await log_in(admin, server, person)
        csv = "".join(f"{name},{id_type},{id_number}\n" for name, id_type, id_number in rows)
        response = await admin.post(
            f"{server.url}/api/admin/units/{unit_id}/admitted-list",
            data=("name,id_type,id_number\n" + csv).encode(),
            headers={"Content-Type": "text/csv", "Origin": server.url},
        )
        assert response.status == 201, await response.text()
    finally:
        await admin.dispose()


async def me(http: APIRequestContext, server: ServerProcess) -> dict[str, Any]:
    account: dict[str, Any] = (await call(http, server, "GET", "/api/me"))["account"]
    return account


async def steps_before_device_check(http: APIRequestContext, server: ServerProcess) -> None:
    """Every admission step before the device check, as the journey pages will do them,
    for the candidate logged in through ``http``, who is on the admitted list (:func:`admit`)."""
    who = await me(http, server)
    next_step = await before_device_check(journey_call(http, server), who["id_number"], UNIT_ID)
    assert next_step == "device_check", next_step

"""The candidate's walk over the HTTP API, one driver for the bench and the tests.

Sign up (SMS code, account, log-in), then the admission journey: agreements,
identity verification, the exam notice, the unit, confirmation, the commitment
letter and, when the unit's exams need one, the device check; the candidate is
then at the exam list. Each step is what the journey pages send
(docs/api.md). The driver speaks through a :class:`Call`, so an aiohttp
session (:class:`HttpCall`), the tests' API client or a browser's request
context can walk it alike; a refused step raises :class:`JourneyFailed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp


class JourneyFailed(RuntimeError):
    """The server refused a step of the walk."""


class Call(Protocol):
    """One JSON request: its body as parsed; raises :class:`JourneyFailed` on a refusal."""

    def __call__(self, method: str, path: str, body: Any = None) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Person:
    phone: str
    name: str
    id_number: str  # a resident ID number; its last six characters pass the stand-in check
    password: str


async def sign_up(call: Call, person: Person, sms_code: Callable[[str], Awaitable[str]]) -> Any:
    """Register ``person`` (the code texted to the phone from ``sms_code``) and log in;
    the registration's answer (``{"account": ...}``)."""
    await call("POST", "/api/sms-codes", {"phone": person.phone})
    account = {
        "phone": person.phone,
        "sms_code": await sms_code(person.phone),
        "name": person.name,
        "id_type": "resident_id",
        "id_number": person.id_number,
        "password": person.password,
    }
    created = await call("POST", "/api/accounts", account)
    await call("POST", "/api/session", {"phone": person.phone, "password": person.password})
    return created


async def verify(call: Call, id_number: str, scope: str = "login") -> None:
    """Pass identity verification for ``scope`` (``login`` or ``exam:<id>``)."""
    attempt = await call("POST", "/api/verification/attempts", {"scope": scope})
    answer = {"answer": id_number[-6:]}  # what the stand-in verification vendor checks
    passed = await call("POST", f"/api/verification/attempts/{attempt['attempt_id']}", answer)
    if not passed.get("passed"):
        raise JourneyFailed(f"verification for {scope} did not pass: {passed}")


async def before_device_check(call: Call, id_number: str, unit_id: str) -> str:
    """Every admission step up to the device check, for the logged-in candidate, who is on
    ``unit_id``'s admitted list; the journey's next step after them."""
    docs = (await call("GET", "/api/agreements"))["documents"]
    versions = {d["kind"]: d["version"] for d in docs}
    accepted = {
        "user_agreement_version": versions["user_agreement"],
        "privacy_policy_version": versions["privacy_policy"],
    }
    await call("POST", "/api/agreements/accept", accepted)
    await verify(call, id_number)
    notice = await call("GET", "/api/notice")
    await call("POST", "/api/notice/read", {"version": notice["version"]})
    await call("POST", f"/api/units/{unit_id}/choose")
    await call("POST", "/api/admission/confirm")
    letter = await call("GET", "/api/admission/commitment")
    await call("POST", "/api/admission/commitment", {"version": letter["version"]})
    return str((await call("GET", "/api/me"))["journey"]["next_step"])


async def to_exam_list(
    call: Call,
    id_number: str,
    unit_id: str,
    device_take: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """The whole admission journey; the device check, when the unit's exams need one, with
    the take ``device_take`` recorded (as the device-check page does)."""
    next_step = await before_device_check(call, id_number, unit_id)
    if next_step == "device_check":
        if device_take is None:
            raise JourneyFailed("the unit's exams need a device check and none was recorded")
        await call("POST", "/api/admission/device-check", {"take_id": await device_take()})
    journey = (await call("GET", "/api/me"))["journey"]
    if journey["next_step"] != "exams":
        raise JourneyFailed(f"not at the exam list after the journey: {journey}")


class HttpCall:
    """A :class:`Call` on an aiohttp session against ``url``, with the server's Origin on
    every request. With ``keep_cookie`` it carries the session cookie itself (for a session
    whose cookie jar keeps nothing, one per simulated client address); :attr:`cookie`."""

    def __init__(self, http: aiohttp.ClientSession, url: str, keep_cookie: bool = False) -> None:
        self.http = http
        self.url = url
        self.keep_cookie = keep_cookie
        self.cookies: dict[str, str] = {}

    @property
    def cookie(self) -> str:
        """The cookies kept so far, as a Cookie header."""
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    async def __call__(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Origin": self.url}
        if self.keep_cookie and self.cookie:
            headers["Cookie"] = self.cookie
        async with self.http.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            if response.status >= 300:
                raise JourneyFailed(f"{method} {path}: {response.status} {await response.text()}")
            if self.keep_cookie:
                self.cookies.update((k, m.value) for k, m in response.cookies.items())
            return await response.json() if response.content_type == "application/json" else None

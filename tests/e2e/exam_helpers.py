"""Exams for the browser tests: a unit admin who creates them, and a candidate who has
done the whole admission journey, both through the API as the pages would.

The device check is recorded for real on the device-check page (the fake camera),
since the server accepts only a stored device-check take of the candidate's own.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

from playwright.async_api import APIRequestContext, Page, Playwright, expect

from bench.journey import before_device_check
from tests.e2e.accounts import call, journey_call, log_in, me, new_candidate, register
from tests.support.process import ServerProcess

EXAM_UNIT = "20001"  # a unit of the exam tests' own: other tests' candidates never see it

# JS for an init script: keep every WebSocket the page opens, so a test can cut one.
KEEP_WEBSOCKETS = """
window.openedSockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    window.openedSockets.push(this);
  }
};
"""


@dataclass
class UnitAdmin:
    http: APIRequestContext
    server: ServerProcess
    unit_id: str

    async def create_exam(self, body: dict[str, Any]) -> dict[str, Any]:
        exam: dict[str, Any] = await call(self.http, self.server, "POST", "/api/admin/exams", body)
        return exam

    async def admit(self, *people: dict[str, Any]) -> None:
        """Replace the unit's admitted list with ``people`` (accounts as /api/me has them)."""
        rows = "".join(f"{p['name']},{p['id_type']['code']},{p['id_number']}\n" for p in people)
        response = await self.http.post(
            f"{self.server.url}/api/admin/units/{self.unit_id}/admitted-list",
            data=("name,id_type,id_number\n" + rows).encode(),
            headers={"Content-Type": "text/csv", "Origin": self.server.url},
        )
        assert response.status == 201, await response.text()


def add_unit(server: ServerProcess, unit_id: str) -> None:
    """The operator adds the unit, unless an earlier test of this run did."""
    try:
        server.admin("unit-add", unit_id, f"测试音乐学院 {unit_id}")
    except AssertionError as exc:
        if "exists already" not in str(exc):
            raise


async def unit_admin(playwright: Playwright, server: ServerProcess, unit_id: str) -> UnitAdmin:
    """The unit and a new admin of it, logged in on a request context of their own."""
    add_unit(server, unit_id)
    http = await playwright.request.new_context()
    person = new_candidate("管理员")
    await register(http, server, person)
    server.admin("grant", person.phone, "unit_admin", "--unit", unit_id)
    await log_in(http, server, person)
    return UnitAdmin(http, server, unit_id)


async def through_journey(
    page: Page, server: ServerProcess, admin: UnitAdmin, device_check: bool = True
) -> dict[str, Any]:
    """The page's candidate (logged in) does every admission step up to the exam list;
    returns the account. The device check is recorded on its page when ``device_check``."""
    http = page.request
    account = await me(http, server)
    await admin.admit(account)
    await before_device_check(journey_call(http, server), account["id_number"], admin.unit_id)
    if device_check:
        take_id = await record_device_check(page, server)
        await call(http, server, "POST", "/api/admission/device-check", {"take_id": take_id})
    journey = (await call(http, server, "GET", "/api/me"))["journey"]
    assert journey["next_step"] == "exams", journey
    return account


async def verify(
    http: APIRequestContext, server: ServerProcess, account: dict[str, Any], scope: str
) -> None:
    attempt = await call(http, server, "POST", "/api/verification/attempts", {"scope": scope})
    answer = {"answer": account["id_number"][-6:]}
    path = f"/api/verification/attempts/{attempt['attempt_id']}"
    assert (await call(http, server, "POST", path, answer))["passed"]


async def record_device_check(page: Page, server: ServerProcess) -> str:
    """A short test take on the device-check page; its id."""
    await page.goto(server.url + "/device-check")
    start = page.get_by_test_id("start-recording")
    await expect(start).to_be_enabled(timeout=20_000)
    await start.click()
    await page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=elapsed]').dataset.seconds) >= 1"
    )
    await page.get_by_test_id("stop-recording").click()
    playback = page.get_by_test_id("playback")
    await expect(page.locator("body")).to_have_attribute("data-state", "review", timeout=30_000)
    take_id = await playback.get_attribute("data-take-id")
    assert take_id
    return take_id


def exam_window(now: float | None = None) -> dict[str, float]:
    now = time.time() if now is None else now
    return {"opens_at": now - 60, "closes_at": now + 3600}


def png(width: int = 16, height: int = 16, noise: bool = False) -> bytes:
    """A small real PNG made here rather than committed: a gradient, or noise (which
    does not compress, for a file of a given size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    def pixels(y: int) -> bytes:
        if noise:
            return random.Random(y).randbytes(width * 3)
        return b"".join(bytes((x * 16 % 256, y * 16 % 256, 128)) for x in range(width))

    rows = b"".join(b"\x00" + pixels(y) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )

"""Set-up for the console's browser tests: units and staff accounts made as the operator
makes them (``examcast unit-add`` / ``grant`` on the server's data), candidates taken
through the admission journey by the API, and media made at test time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from playwright.async_api import APIRequestContext, FilePayload, Page, Playwright, expect

from bench.journey import to_exam_list
from tests.e2e.accounts import Candidate, call, journey_call, log_in, new_candidate, register
from tests.e2e.conftest import FFMPEG
from tests.support.process import ServerProcess

# Laptop-sized pages in China's time zone: the console shows and reads local times.
DESK = {
    "viewport": {"width": 1366, "height": 900},
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
CSV_HEADER = "姓名,证件类型,证件号码\n"


def add_unit(server: ServerProcess, unit_id: str, name: str) -> None:
    """The operator adds the unit, unless an earlier test of this run did."""
    try:
        server.admin("unit-add", unit_id, name)
    except AssertionError as exc:
        if "exists already" not in str(exc):
            raise


async def staff(
    playwright: Playwright,
    server: ServerProcess,
    name: str,
    role: str,
    unit_id: str | None = None,
) -> Candidate:
    """A new person who registers, then gets ``role`` from the operator."""
    http = await playwright.request.new_context()
    try:
        person = new_candidate(name)
        await register(http, server, person)
    finally:
        await http.dispose()
    server.admin("grant", person.phone, role, *(["--unit", unit_id] if unit_id else []))
    return person


async def logged_in(
    playwright: Playwright, server: ServerProcess, who: Candidate
) -> APIRequestContext:
    """A request context of its own, logged in as ``who`` (dispose of it when done)."""
    http = await playwright.request.new_context()
    await log_in(http, server, who)
    return http


async def log_in_on_page(page: Page, who: Candidate) -> None:
    """Fill in the login page the console sent us to; it comes back afterwards."""
    await page.get_by_test_id("login-phone").fill(who.phone)
    await page.get_by_test_id("login-password").fill(who.password)
    await page.get_by_test_id("login-submit").click()


async def registered(
    playwright: Playwright, server: ServerProcess, name: str
) -> tuple[Candidate, APIRequestContext]:
    """A new candidate, registered and logged in on a request context of their own."""
    who = new_candidate(name)
    http = await playwright.request.new_context()
    await register(http, server, who)
    await log_in(http, server, who)
    return who, http


def csv_file(name: str, text: str) -> FilePayload:
    """An admitted list as the file a unit admin picks."""
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode()}


def csv_rows(*people: Candidate) -> str:
    return "".join(f"{p.name},居民身份证,{p.id_number}\n" for p in people)


async def import_list(
    http: APIRequestContext, server: ServerProcess, unit_id: str, text: str
) -> None:
    response = await http.post(
        f"{server.url}/api/admin/units/{unit_id}/admitted-list",
        data=text.encode(),
        headers={"Content-Type": "text/csv", "Origin": server.url},
    )
    assert response.status == 201, await response.text()


async def accept_agreements(http: APIRequestContext, server: ServerProcess) -> None:
    docs = (await call(http, server, "GET", "/api/agreements"))["documents"]
    versions = {d["kind"]: d["version"] for d in docs}
    accepted = {
        "user_agreement_version": versions["user_agreement"],
        "privacy_policy_version": versions["privacy_policy"],
    }
    await call(http, server, "POST", "/api/agreements/accept", accepted)


async def verify(http: APIRequestContext, server: ServerProcess, scope: str, answer: str) -> bool:
    """One real-person verification attempt (the built-in verifier asks for the last six
    characters of the ID number); whether it passed."""
    attempt = await call(http, server, "POST", "/api/verification/attempts", {"scope": scope})
    done = await call(
        http,
        server,
        "POST",
        f"/api/verification/attempts/{attempt['attempt_id']}",
        {"answer": answer},
    )
    return bool(done["passed"])


async def up_to_exams(
    http: APIRequestContext, server: ServerProcess, who: Candidate, unit_id: str
) -> None:
    """Every admission step for ``who``, on the admitted list of ``unit_id`` whose exams are
    all offline (so there is no device check), up to the exam list."""
    await to_exam_list(journey_call(http, server), who.id_number, unit_id)


async def upload(http: APIRequestContext, server: ServerProcess, path: str, data: bytes) -> Any:
    response = await http.post(
        server.url + path,
        data=data,
        headers={"Content-Type": "application/octet-stream", "Origin": server.url},
    )
    assert response.status == 201, await response.text()
    return await response.json()


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", *args], check=True, timeout=60)


def make_video(folder: Path) -> Path:
    """Two seconds of VP8 in WebM, as a candidate's prepared recording."""
    path = folder / "answer.webm"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=15",
        "-t",
        "2",
        "-c:v",
        "libvpx",
        "-b:v",
        "200k",
        str(path),
    )
    return path


def make_photo(folder: Path) -> Path:
    """A PNG picture standing in for a photo of someone holding their ID card."""
    path = folder / "holding-id.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=480x360", "-frames:v", "1", str(path))
    return path


async def expect_view(page: Page, view: str) -> None:
    """The console shows ``view`` (body data-view), loaded."""
    await expect(page.locator("body")).to_have_attribute("data-view", view)
    await expect(page.get_by_test_id("view")).to_have_attribute("data-state", re.compile("ready"))

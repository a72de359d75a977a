"""Set-up for the journey page's tests: admission units with their admitted lists
(as the operator and each unit's admin make them), review staff, a photo, and
the journey's steps done through the API up to a given one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.async_api import APIRequestContext, Playwright

from tests.e2e.accounts import (
    Candidate,
    call,
    log_in,
    new_candidate,
    register,
    upload_admitted_list,
)
from tests.e2e.conftest import FFMPEG
from tests.support.process import ServerProcess


async def unit_with_list(
    playwright: Playwright,
    server: ServerProcess,
    unit_id: str,
    name: str,
    people: list[Candidate],
) -> None:
    """The operator adds the unit and makes a new account its admin, who uploads an
    admitted list holding ``people`` (who need not have registered yet)."""
    server.admin("unit-add", unit_id, name)
    rows = [(p.name, p.id_type, p.id_number) for p in people]
    await upload_admitted_list(playwright, server, unit_id, rows)


async def review_staff(playwright: Playwright, server: ServerProcess) -> APIRequestContext:
    """A logged-in account with the staff_reviewer role (dispose of it when done)."""
    staff = await playwright.request.new_context()
    person = new_candidate("审核员")
    await register(staff, server, person)
    server.admin("grant", person.phone, "staff_reviewer")
    await log_in(staff, server, person)
    return staff


async def decide_review(
    staff: APIRequestContext, server: ServerProcess, account_name: str, decision: str
) -> None:
    """Staff approve or reject the pending review of the candidate named ``account_name``."""
    queue = (await call(staff, server, "GET", "/api/reviews"))["reviews"]
    review = next(r for r in queue if r["candidate"]["name"] == account_name)
    body = {"decision": decision, "note": "照片不清晰" if decision == "reject" else ""}
    await call(staff, server, "POST", f"/api/reviews/{review['review_id']}", body)


def make_photo(folder: Path) -> Path:
    """A JPEG picture, as a phone's camera would give one (a test pattern here)."""
    path = folder / "holding-id.jpg"
    subprocess.run(
        [
            FFMPEG,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


async def steps_through_confirmation(
    http: APIRequestContext, server: ServerProcess, who: Candidate, unit_id: str
) -> None:
    """Agreements, verification, notice, the unit and the confirmation of details,
    through the API, for ``who`` logged in through ``http``."""
    docs = (await call(http, server, "GET", "/api/agreements"))["documents"]
    versions = {d["kind"]: d["version"] for d in docs}
    accepted = {
        "user_agreement_version": versions["user_agreement"],
        "privacy_policy_version": versions["privacy_policy"],
    }
    await call(http, server, "POST", "/api/agreements/accept", accepted)
    attempt = await call(http, server, "POST", "/api/verification/attempts", {"scope": "login"})
    answer = {"answer": who.id_number[-6:]}
    await call(http, server, "POST", f"/api/verification/attempts/{attempt['attempt_id']}", answer)
    notice = await call(http, server, "GET", "/api/notice")
    await call(http, server, "POST", "/api/notice/read", {"version": notice["version"]})
    await call(http, server, "POST", f"/api/units/{unit_id}/choose")
    await call(http, server, "POST", "/api/admission/confirm")

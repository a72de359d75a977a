"""Set-ups the proctoring browser tests share: an exam with a proctor assigned, a candidate
ready for it, the proctor's desk (a wide page of their own), the candidate's question page
in a formal answer, and waits on that page's state and recording time."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, Playwright, ViewportSize, expect

from tests.e2e.accounts import Candidate, call, log_in, signed_up
from tests.e2e.conftest import NewPage
from tests.e2e.console_helpers import DESK, staff
from tests.e2e.exam_helpers import (
    KEEP_WEBSOCKETS,
    UnitAdmin,
    exam_window,
    through_journey,
    unit_admin,
    verify,
)
from tests.support.process import ServerProcess

DESKTOP = ViewportSize(width=1280, height=860)


def one_question_exam(
    now: float, title: str, question: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """An exam open from a minute before ``now`` for an hour, of one online question:
    ``question``'s fields over the defaults (order 1, ten minutes to submit, one formal
    answer); ``extra``, more of the exam's fields."""
    return {
        "title": title,
        "instructions": "请在安静的环境中作答。",
        "time_requirements": "进入正式答题后 10 分钟内提交。",
        **exam_window(now),
        "questions": [
            {"order": 1, "mode": "online", "submission_limit_s": 600, "formal_count": 1, **question}
        ],
        **extra,
    }


async def exam_with_proctor(
    playwright: Playwright,
    server: ServerProcess,
    unit_id: str,
    body: dict[str, Any],
    proctor_name: str,
) -> tuple[UnitAdmin, str, Candidate]:
    """A new admin of ``unit_id`` creates the exam and assigns a new proctor to it: the
    admin, the exam's id and the proctor."""
    admin = await unit_admin(playwright, server, unit_id)
    exam_id = (await admin.create_exam(body))["id"]
    proctor = await staff(playwright, server, proctor_name, "proctor")
    await call(
        admin.http, server, "POST", f"/api/admin/exams/{exam_id}/proctors", {"phone": proctor.phone}
    )
    return admin, exam_id, proctor


async def candidate_ready(
    new_page: NewPage, server: ServerProcess, admin: UnitAdmin, exam_id: str
) -> tuple[Page, Candidate, dict[str, Any]]:
    """A desktop page of a new candidate who has done the admission journey and the exam's
    identity check: the page, the candidate (phone and password) and the account."""
    page = await new_page(server, anonymous=True, viewport=DESKTOP)
    who = await signed_up(page.request, server)
    account = await through_journey(page, server, admin)
    await verify(page.request, server, account, f"exam:{exam_id}")
    return page, who, account


async def proctor_desk(new_page: NewPage, server: ServerProcess, proctor: Candidate) -> Page:
    """A desk-sized page of the proctor's own, logged in, its WebSockets kept."""
    desk = await new_page(server, anonymous=True, **DESK)
    await desk.add_init_script(KEEP_WEBSOCKETS)
    await log_in(desk.request, server, proctor)
    return desk


async def expect_state(page: Page, state: str, timeout_s: float = 15) -> None:
    await expect(page.locator("body")).to_have_attribute(
        "data-state", state, timeout=timeout_s * 1000
    )


async def recorded(page: Page, seconds: float) -> None:
    """Wait until the page shows ``seconds`` recorded (by the server's clock)."""
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=rec-elapsed]').dataset.seconds) >= s",
        arg=seconds,
        timeout=(seconds + 15) * 1000,
    )


async def enter_formal(page: Page, server: ServerProcess, exam_id: str, question_id: str) -> None:
    """The candidate opens the question and enters its formal answer (confirmed): reading."""
    await page.goto(f"{server.url}/exams/{exam_id}/questions/{question_id}")
    await expect(page.get_by_test_id("enter-formal")).to_be_enabled(timeout=20_000)
    await page.get_by_test_id("enter-formal").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect_state(page, "reading")

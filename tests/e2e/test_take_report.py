"""The take's quality report and a fair retake on the question page, in Chromium (issue #18).

A candidate records the one formal take of a question on the page; mid-take the tab is
reloaded (the page and its connection go away for a moment and come back), so the take
lacks a stretch. The exam counts any loss as damage here (``lost_over_s`` 0, so the test
does not hang on how long a reload takes on a busy machine): right after the take the
page says how much the take lost, that one more formal take was granted and why, and
offers to record again beyond ``formal_count`` 1. The damaged take submitted, the unit's
console shows its report beside the player, and the retake with its reason.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Playwright, expect

from tests.e2e.accounts import log_in
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.console_helpers import expect_view, logged_in, staff
from tests.e2e.exam_helpers import (
    EXAM_UNIT,
    UnitAdmin,
    add_unit,
    exam_window,
    through_journey,
    verify,
)
from tests.e2e.test_exam import DESKTOP, by_testid, confirm, expect_state, recorded, stop
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_the_page_reports_the_take_and_grants_a_retake_for_its_loss(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    page = await new_page(server, viewport=DESKTOP)
    add_unit(server, EXAM_UNIT)
    person = await staff(playwright, server, "管理员", "unit_admin", EXAM_UNIT)
    admin = UnitAdmin(await logged_in(playwright, server, person), server, EXAM_UNIT)
    exam = await admin.create_exam(
        {
            "title": "2027 声乐考试",
            **exam_window(),
            "retake": {"lost_over_s": 0},
            "questions": [
                {
                    "id": "song",
                    "order": 1,
                    "mode": "online",
                    "title": "自选歌曲",
                    "recording_limit_s": 60,
                    "formal_count": 1,
                }
            ],
        }
    )
    account = await through_journey(page, server, admin)
    await verify(page.request, server, account, f"exam:{exam['id']}")
    await page.goto(f"{server.url}/exams/{exam['id']}/questions/song")
    await expect_state(page, "intro")
    await expect(by_testid(page, "enter-formal")).to_be_enabled(timeout=20_000)
    await by_testid(page, "enter-formal").click()
    await confirm(page, "")
    await expect(by_testid(page, "start-recording")).to_be_enabled(timeout=20_000)
    await by_testid(page, "start-recording").click()
    await recorded(page, 2)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.reload()  # the take goes on in a new segment after a hole
    await recorded(page, 4)
    await stop(page)
    await expect_state(page, "answering", timeout_s=30)

    report = by_testid(page, "take-report")
    await expect(report).to_contain_text(re.compile(r"这次录制因网络中断丢失了 [\d.]+ 秒"))
    await expect(report).to_contain_text("已为您增加一次正式录制机会")
    await expect(report).to_have_attribute("data-damaged", "true")
    await expect(by_testid(page, "counts")).to_contain_text("正式录制已用 1/2 次")
    await expect(by_testid(by_testid(page, "work"), "work-meta")).to_contain_text("丢失了")
    await expect(by_testid(page, "record-again")).to_be_visible()
    await shots.take(page, "take-report-retake")

    # Submitted as it is; the university sees the report beside the player, and the retake.
    await by_testid(by_testid(page, "work"), "choose").click()
    await expect(by_testid(page, "chosen")).to_have_count(1)
    await by_testid(page, "submit").click()
    await confirm(page, "")
    await expect_state(page, "submitted", timeout_s=20)
    console = await new_page(server, anonymous=True, viewport=DESKTOP)
    await log_in(console.request, server, person)
    await console.goto(f"{server.url}/console#exams/{exam['id']}/submissions")
    await expect_view(console, "submissions")
    work = by_testid(console, "submission")
    await expect(work).to_have_count(1)
    quality = by_testid(work, "take-quality")
    await expect(quality).to_contain_text("分辨率")
    await expect(quality).to_contain_text(re.compile(r"丢失: [\d.]+ s: \d\d:\d\d"))
    await expect(quality).to_contain_text("kbit/s")
    await expect(by_testid(work, "take-report")).to_contain_text("这次录制因网络中断丢失了")
    await expect(by_testid(work, "take-retake")).to_contain_text("因系统原因已增加一次正式录制")
    await expect(by_testid(work, "play")).to_be_visible()
    await shots.take(console, "console-take-quality")

"""Proctor actions (issue #13) in headless Chromium against a real server: a proctor, in a
browser context of their own, acts on a recording candidate from the wall's spotlight.

The candidate raises a hand (the tile shows it); the proctor's message pops up on the
question page and its OK is the read receipt the proctor sees; five minutes of extra time
move the page's countdown; ending the question stops the take (stored, by the proctor) and
the page says why.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.async_api import Locator, Page, Playwright, expect

from tests.e2e.accounts import call
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.proctor_helpers import (
    candidate_ready,
    enter_formal,
    exam_with_proctor,
    one_question_exam,
    proctor_desk,
)
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20015"  # its own unit: other tests' candidates stay off this wall
REASON = "考试期间离开座位"


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


def exam_body(now: float) -> dict[str, Any]:
    return one_question_exam(
        now,
        "2027 器乐专业考试",
        {
            "id": "piece",
            "title": "自选曲目",
            "prompt": "演奏一首自选曲目。",
            "reading_limit_s": 120,
            "recording_limit_s": 240,
        },
    )


async def test_a_proctor_messages_gives_time_and_ends_a_question(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
) -> None:
    admin, exam_id, proctor = await exam_with_proctor(
        playwright, server, UNIT, exam_body(time.time()), "钱监考"
    )
    laptop, _, account = await candidate_ready(new_page, server, admin, exam_id)
    question = f"/api/exams/{exam_id}/questions/piece"

    # The candidate enters the formal answer and starts recording.
    await enter_formal(laptop, server, exam_id, "piece")
    await expect(by_testid(laptop, "start-recording")).to_be_enabled(timeout=20_000)
    await by_testid(laptop, "start-recording").click()
    await expect(laptop.locator("body")).to_have_attribute("data-state", "recording")
    deadline = (await call(laptop.request, server, "GET", question))["question"]["attempt"][
        "submission_deadline"
    ]

    # The proctor's wall; the candidate raises a hand and the tile shows it.
    desk = await proctor_desk(new_page, server, proctor)
    await desk.goto(f"{server.url}/console/proctor/exams/{exam_id}")
    tile = desk.locator(f'[data-testid=wall-tile][data-candidate-id="{account["id"]}"]')
    await expect(tile).to_have_attribute("data-status", "recording", timeout=20_000)
    await by_testid(laptop, "raise-hand").click()
    await expect(by_testid(laptop, "hand-state")).to_have_text("已举手，请等待监考老师回复。")
    await expect(tile).to_have_attribute("data-hand", "raised")
    await expect(by_testid(tile, "tile-hand")).to_be_visible()

    # A message: shown at once on the candidate's page; OK is the receipt the proctor sees.
    await tile.click()
    panel = by_testid(desk, "spot-actions")
    await expect(panel).to_be_visible()
    await by_testid(panel, "action-text").fill("请把摄像头对准双手")
    await by_testid(panel, "action-send").click()
    sent = by_testid(panel, "action-message")
    await expect(sent).to_have_attribute("data-read", "no")
    await expect(by_testid(sent, "action-read")).to_have_text("未读")
    dialog = by_testid(laptop, "proctor-message")
    await expect(dialog).to_be_visible()
    await expect(by_testid(dialog, "proctor-message-text")).to_have_text("请把摄像头对准双手")
    await shots.take(laptop, "message-shown")
    await by_testid(dialog, "proctor-message-ok").click()
    await expect(dialog).to_be_hidden()
    await expect(sent).to_have_attribute("data-read", "yes")
    await expect(by_testid(sent, "action-read")).to_have_text(re.compile(r"^已读 "))
    await expect(tile).to_have_attribute("data-hand", "none")  # the message answered it
    await expect(by_testid(laptop, "raise-hand")).to_be_enabled()

    # Five minutes more: the server's deadline moves and the page's countdown follows.
    countdown = by_testid(laptop, "submit-deadline")
    await expect(countdown).to_have_text(re.compile(r"^提交剩余 (09|10):\d\d"))
    await by_testid(panel, "action-minutes").fill("5")
    await by_testid(panel, "action-extend").click()
    await expect(by_testid(panel, "action-status")).to_contain_text("已延长 5 分钟")
    await expect(countdown).to_have_text(re.compile(r"^提交剩余 1[45]:\d\d"))
    moved = (await call(laptop.request, server, "GET", question))["question"]["attempt"]
    assert moved["submission_deadline"] == deadline + 300 and moved["extra_s"] == 300, moved
    await shots.take(desk, "spotlight-actions")

    # Ending the question, with a reason and a confirm: the take stops and is stored, the
    # candidate's page says why.
    await by_testid(panel, "action-end").click()
    await expect(by_testid(panel, "action-status")).to_contain_text("请先填写结束作答的原因")
    await by_testid(panel, "action-reason").fill(REASON)
    await by_testid(panel, "action-end").click()
    await expect(by_testid(panel, "action-end-question")).to_contain_text("已录制的视频会保存")
    await by_testid(panel, "action-end-confirm").click()
    ended = by_testid(laptop, "attempt-ended")
    await expect(ended).to_have_text(f"监考老师已结束本题作答：{REASON}。已录制的视频已保存。")
    await expect(laptop.locator("body")).to_have_attribute("data-phase", "closed")
    await expect(tile).not_to_have_attribute("data-status", "recording")
    page = (await call(laptop.request, server, "GET", question))["question"]
    [take] = page["attempt"]["takes"]
    assert (take["stop_reason"], page["attempt"]["end_reason"]) == ("ended_by_proctor", REASON)
    stored: dict[str, Any] = {}
    limit = time.monotonic() + 30
    while stored.get("state") != "stored":
        assert time.monotonic() < limit, stored
        await laptop.wait_for_timeout(200)
        stored = await call(laptop.request, server, "GET", f"/api/takes/{take['take_id']}")
    assert stored["stop_reason"] == "ended_by_proctor" and stored["recorded_s"] > 0, stored
    await shots.take(laptop, "question-ended")

    # After a reload the page still says why.
    await laptop.reload()
    await expect(ended).to_have_text(f"监考老师已结束本题作答：{REASON}。已录制的视频已保存。")

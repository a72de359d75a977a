"""Signals from a real browser (issue #13), in headless Chromium. Mid-take:

- the microphone is muted (its track disabled, as a muted microphone sends digital
  silence): Chromium's RTP audio-level header extension says so, and after the exam's
  silence rule (3 s here) a ``silence`` incident is raised, ended when it is unmuted;
- the window loses the focus and gets it back (the events the page listens to,
  dispatched in the page: headless Chromium keeps every page focused): ``window_left``;
- full screen is entered and left for real, then entered again: ``fullscreen_left``;
- the page is reloaded for real: ``page_reloaded``, a moment in the take being recorded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from playwright.async_api import Page, Playwright

from tests.e2e.accounts import call
from tests.e2e.conftest import NewPage
from tests.e2e.exam_helpers import UnitAdmin, unit_admin
from tests.e2e.proctor_helpers import (
    candidate_ready,
    enter_formal,
    expect_state,
    one_question_exam,
    recorded,
)
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20014"  # this test's own unit


def exam_body(now: float) -> dict[str, Any]:
    return one_question_exam(
        now,
        "2027 声乐专业考试",
        {
            "id": "song",
            "title": "自选曲目",
            "prompt": "演唱一首自选曲目。",
            "reading_limit_s": None,  # the candidate starts recording by hand
            "recording_limit_s": 120,
            "rehearsal_allowed": False,
        },
        monitoring={"silence": {"enabled": True, "after_s": 3}},
    )


# The page's own stream (its preview shows it): enable or disable its microphone.
MICROPHONE = """(on) => document.querySelector('[data-testid=preview]').srcObject
  .getAudioTracks().forEach((track) => { track.enabled = on; })"""


async def incident(
    admin: UnitAdmin, exam_id: str, who: str, kind: str, ended: bool = False
) -> dict[str, Any]:
    """The candidate's first incident of ``kind`` (ended, if asked), polled with a bound."""
    path = f"/api/proctor/exams/{exam_id}/candidates/{who}/incidents"
    deadline = time.monotonic() + 20
    while True:
        listed = await call(admin.http, admin.server, "GET", path)
        found = [
            i
            for i in listed["incidents"]
            if i["kind"] == kind and (not ended or i["ended_at"] is not None)
        ]
        if found:
            return dict(found[0])
        assert time.monotonic() < deadline, f"no {kind} incident: {listed['incidents']}"
        await asyncio.sleep(0.2)


async def recording_page(
    new_page: NewPage, server: ServerProcess, admin: UnitAdmin, exam_id: str
) -> tuple[Page, dict[str, Any]]:
    laptop, _, account = await candidate_ready(new_page, server, admin, exam_id)
    await enter_formal(laptop, server, exam_id, "song")
    await laptop.get_by_test_id("start-recording").click()
    await expect_state(laptop, "recording")
    await recorded(laptop, 1)
    return laptop, account


async def test_leaving_the_window_and_reloading_mid_take_are_incidents(
    server: ServerProcess, new_page: NewPage, playwright: Playwright
) -> None:
    admin = await unit_admin(playwright, server, UNIT)
    exam_id = (await admin.create_exam(exam_body(time.time())))["id"]
    laptop, account = await recording_page(new_page, server, admin, exam_id)
    me = account["id"]

    muted = time.time()
    await laptop.evaluate(MICROPHONE, False)
    quiet = await incident(admin, exam_id, me, "silence")
    assert muted - 1 <= quiet["started_at"] <= muted + 2, (muted, quiet)
    assert quiet["camera"] == "primary" and quiet["raised_at"] - quiet["started_at"] >= 3
    await laptop.evaluate(MICROPHONE, True)
    await incident(admin, exam_id, me, "silence", ended=True)

    before = time.time()
    await laptop.evaluate("() => dispatchEvent(new Event('blur'))")
    left = await incident(admin, exam_id, me, "window_left")
    assert before - 1 <= left["started_at"] <= time.time() + 1  # the server's time
    assert left["ended_at"] is None and left["camera"] is None
    await laptop.evaluate("() => dispatchEvent(new Event('focus'))")
    back = await incident(admin, exam_id, me, "window_left", ended=True)
    assert back["ended_at"] >= left["started_at"]

    # Full screen entered, then left (a real change of the browser's state), then again.
    await laptop.evaluate("() => document.documentElement.requestFullscreen()")
    await laptop.wait_for_function("() => document.fullscreenElement !== null")
    await laptop.evaluate("() => document.exitFullscreen()")
    await laptop.wait_for_function("() => document.fullscreenElement === null")
    await incident(admin, exam_id, me, "fullscreen_left")
    await laptop.evaluate("() => document.documentElement.requestFullscreen()")
    await incident(admin, exam_id, me, "fullscreen_left", ended=True)
    await laptop.evaluate("() => document.exitFullscreen()")

    await laptop.reload()
    await expect_state(laptop, "recording")
    moment = await incident(admin, exam_id, me, "page_reloaded")
    assert moment["started_at"] == moment["ended_at"]
    assert moment["take_id"] is not None and moment["take_offset_s"] > 0
    assert moment["detail"].get("source") == "page"

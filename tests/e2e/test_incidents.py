"""Incidents on the wall and the timeline after the exam (issue #13), in headless Chromium.

A candidate records the formal answer of a question that needs a second camera (a phone
joins by the QR code) while a proctor watches the exam's wall in a browser context of their
own. Mid-take the candidate's page leaves full screen (a real change of the browser's
state, which the question page reports over its socket and the server times): the
candidate's tile shows the alert at once (no reload), the proctor opens the spotlight and
confirms it with a note; a second one is left open. After the answer is submitted, the
unit's admin opens the exam's incidents in the console: the timeline shows both with their
state, the decision, note and who decided; the admin dismisses the open one there, both
exports carry the notes, and clicking the first plays both cameras from a few seconds
before it, in sync (each <video>'s position checked on the take's clock and in its own file,
and its pixels seen to change).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.async_api import Locator, Page, Playwright, expect

from tests.e2e.accounts import call, log_in
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.console_helpers import staff
from tests.e2e.proctor_helpers import (
    DESKTOP,
    candidate_ready,
    enter_formal,
    exam_with_proctor,
    expect_state,
    one_question_exam,
    proctor_desk,
    recorded,
)
from tests.e2e.test_proctor_wall import changing
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20013"  # this test's own unit: other tests' candidates stay off its wall
TITLE = "2027 器乐专业考试"
QUESTION = "自选曲目"
BEFORE_S = 5  # the console plays from this long before an incident (pages/console/incidents.js)
NOTE = "考生离开全屏约 2 秒，已电话提醒"
LATER_NOTE = "看过录像：考生在调整坐姿，排除"


MONITORED = (
    "camera_dark",
    "picture_frozen",
    "no_face",
    "many_faces",
    "silence",
    "camera_lost",
    "second_camera_missing",
    "page_hidden",
    "window_left",
    "fullscreen_left",
    "page_reloaded",
    "face_not_recognised",
)


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


def exam_body(now: float) -> dict[str, Any]:
    return one_question_exam(
        now,
        TITLE,
        {
            "id": "piece",
            "title": QUESTION,
            "prompt": "演奏一首自选曲目，二机位从侧面拍摄。",
            "reading_limit_s": None,  # the candidate starts recording by hand
            "recording_limit_s": 120,
            "rehearsal_allowed": False,
            "second_camera_required": True,
        },
        # Only the alert this test raises: the fake camera shows no face, and a slow
        # machine may keep the take running past the picture detectors' thresholds.
        monitoring={kind: {"enabled": kind == "fullscreen_left"} for kind in MONITORED},
    )


# Both players of <dual-playback>: where each is on the take's clock, in its own file, and
# whether it plays.
PLAYERS = """() => ["dual-primary", "dual-secondary"].map((id) => {
  const v = document.querySelector(`[data-testid=timeline-dual] [data-testid=${id}]`);
  return { take: Number(v.dataset.takeTime), current: v.currentTime, paused: v.paused,
    ready: v.readyState, src: v.currentSrc };
})"""


async def test_an_incident_from_the_wall_to_the_timeline(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
) -> None:
    # The exam, a proctor assigned to it, a candidate ready for it.
    admin, exam_id, proctor = await exam_with_proctor(
        playwright, server, UNIT, exam_body(time.time()), "李监考"
    )
    laptop, who, account = await candidate_ready(new_page, server, admin, exam_id)

    # The proctor watches the wall.
    desk = await proctor_desk(new_page, server, proctor)
    await desk.goto(f"{server.url}/console/proctor/exams/{exam_id}")
    await expect(by_testid(desk, "wall-live")).to_have_attribute("data-state", "live")
    tile = desk.locator(f'[data-testid=wall-tile][data-candidate-id="{account["id"]}"]')
    await expect(tile).to_have_attribute("data-alerts", "false")
    await expect(by_testid(tile, "tile-alerts")).to_be_hidden()

    # The candidate enters the formal answer; the phone joins as the second camera.
    await enter_formal(laptop, server, exam_id, "piece")
    await expect(by_testid(laptop, "pair-link")).to_contain_text("/pair?token=")
    pair_url = (await by_testid(laptop, "pair-link").text_content() or "").strip()
    phone = await new_page(server, anonymous=True, **playwright.devices["Pixel 7"])
    await phone.goto(pair_url)
    await phone.wait_for_url("**/login?next=*")
    await by_testid(phone, "login-phone").fill(who.phone)
    await by_testid(phone, "login-password").fill(who.password)
    await by_testid(phone, "login-submit").click()
    await expect_state(phone, "connected", timeout_s=20)
    await by_testid(phone, "ready").click()
    await expect_state(phone, "ready")
    await expect(by_testid(laptop, "start-recording")).to_be_enabled()
    await by_testid(laptop, "start-recording").click()
    await expect_state(laptop, "recording")
    await expect(tile).to_have_attribute("data-status", "recording", timeout=20_000)
    await recorded(laptop, BEFORE_S + 1)

    # Mid-take the page leaves full screen: the tile says so at once.
    await raise_on_page(laptop)
    alerts = by_testid(tile, "tile-alerts")
    await expect(alerts).to_be_visible()
    await expect(tile).to_have_attribute("data-alerts", "true")
    await expect(by_testid(alerts, "tile-alerts-count")).to_have_text("⚠ 1")
    await expect(by_testid(alerts, "tile-alerts-kind")).to_have_text("退出了全屏")
    await shots.take(desk, "wall-alert")
    await by_testid(desk, "wall-filter").select_option("alerts")
    await expect(tile).to_be_visible()

    # The spotlight lists it; the proctor confirms it with a note.
    await tile.click()
    spotlight = by_testid(desk, "spotlight")
    await expect(spotlight).to_be_visible()
    row = by_testid(spotlight, "incident")
    await expect(row).to_have_count(1)
    await expect(by_testid(row, "incident-kind")).to_have_text("退出了全屏")
    await expect(by_testid(row, "incident-state")).to_have_text("待处理")
    await expect(by_testid(row, "incident-time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    await by_testid(row, "incident-note-input").fill(NOTE)
    await shots.take(desk, "spotlight-incident")
    await by_testid(row, "incident-confirm").click()
    await expect(by_testid(row, "incident-state")).to_have_text("已确认")
    await expect(by_testid(row, "incident-note")).to_have_text(f"备注：{NOTE}")
    await expect(by_testid(row, "incident-confirm")).to_be_hidden()
    await expect(alerts).to_be_hidden()  # decided: nothing waits on the tile
    await expect(tile).to_have_attribute("data-alerts", "false")
    await by_testid(desk, "wall-filter").select_option("all")
    await by_testid(spotlight, "spot-close").click()

    # Back to full screen; later the page leaves it again: a second alert, left open.
    await back_on_page(laptop)
    await recorded(laptop, BEFORE_S + 4)
    await raise_on_page(laptop)
    await expect(by_testid(alerts, "tile-alerts-count")).to_have_text("⚠ 1")
    await back_on_page(laptop)
    await recorded(laptop, BEFORE_S + 6)
    await by_testid(laptop, "stop-recording").click()
    await by_testid(laptop, "confirm-ok").click()
    await expect_state(laptop, "answering", timeout_s=30)
    work = by_testid(laptop, "work")
    await expect(work).to_have_count(1)
    if await by_testid(work, "choose").count():
        await by_testid(work, "choose").click()
    await by_testid(laptop, "submit").click()
    await by_testid(laptop, "confirm-ok").click()
    await expect_state(laptop, "submitted", timeout_s=30)

    # The unit's admin: the exam's incidents in the console, with the decision.
    head = await staff(playwright, server, "周主任", "unit_admin", UNIT)
    console = await new_page(server, anonymous=True, viewport=DESKTOP)
    await log_in(console.request, server, head)
    await console.goto(f"{server.url}/console#exams/{exam_id}/incidents")
    await expect(console.locator("body")).to_have_attribute("data-view", "incidents")
    timeline = console.locator(f'[data-testid=timeline][data-candidate-id="{account["id"]}"]')
    events = by_testid(timeline, "incident")
    await expect(events).to_have_count(2)  # oldest first
    event, later = events.nth(0), events.nth(1)
    await expect(by_testid(event, "incident-kind")).to_have_text("退出了全屏")
    await expect(by_testid(event, "incident-state")).to_have_text("已确认")
    await expect(by_testid(event, "incident-note")).to_have_text(f"备注：{NOTE}")
    await expect(by_testid(event, "incident-by")).to_contain_text("李监考")
    await expect(by_testid(event, "incident-position")).to_contain_text(QUESTION)
    await expect(by_testid(event, "incident-duration")).to_have_text(
        re.compile(r"^持续 (\d+ 分 )?\d+ 秒$")
    )
    await expect(by_testid(timeline, "timeline-counts")).to_have_text("共 2 条 · 待处理 1 条")

    # The admin decides the one left open, here.
    await expect(by_testid(later, "incident-state")).to_have_text("待处理")
    await by_testid(later, "incident-note-input").fill(LATER_NOTE)
    await by_testid(later, "incident-dismiss").click()
    await expect(by_testid(later, "incident-state")).to_have_text("已排除")
    await expect(by_testid(later, "incident-note")).to_have_text(f"备注：{LATER_NOTE}")
    await expect(by_testid(later, "incident-by")).to_contain_text("高校管理员 周主任")
    await expect(by_testid(timeline, "timeline-counts")).to_have_text("共 2 条 · 待处理 0 条")

    listed = await call(console.request, server, "GET", f"/api/proctor/exams/{exam_id}/incidents")
    incident, decided = listed["incidents"]
    assert (decided["status"], decided["note"]) == ("dismissed", LATER_NOTE), decided
    offset = incident["take_offset_s"]
    assert offset >= BEFORE_S, incident  # raised after BEFORE_S + 1 s recorded
    for format_, kind in (("json", "application/json"), ("csv", "text/csv")):
        link = by_testid(timeline, f"timeline-export-{format_}")
        href = await link.get_attribute("href")
        assert href
        reply = await console.request.get(server.url + href)
        assert reply.status == 200 and reply.headers["content-type"].startswith(kind), href
        assert NOTE in await reply.text(), href

    # Clicking it plays both cameras from BEFORE_S seconds before, in sync.
    await by_testid(event, "incident-kind").click()
    dual = by_testid(timeline, "timeline-dual")
    await expect(dual).to_be_visible()
    start = offset - BEFORE_S
    await expect(dual).to_have_attribute("data-from", f"{start:.2f}")
    await console.wait_for_function(
        f"""() => ({PLAYERS})().every((p) => p.ready >= 2 && !p.paused
              && p.take >= {start} - 0.3 && p.take < {start} + 4)""",
        timeout=20_000,
    )
    first, second = await console.evaluate(PLAYERS)
    assert abs(first["take"] - second["take"]) < 0.5, (first, second)
    assert "camera=secondary" in second["src"], second
    # Each <video> is at that moment of its own file: the take's time less the start of the
    # camera's segment holding it (start_s, on the take's clock).
    cameras = listed["takes"][incident["take_id"]]["cameras"]
    for player, camera in ((first, "primary"), (second, "secondary")):
        (segment,) = cameras[camera]["segments"]  # one unbroken segment per camera
        assert abs(player["current"] + segment["start_s"] - player["take"]) < 0.5, (
            camera,
            player,
            segment,
        )
        assert start - 0.5 <= player["current"] + segment["start_s"] < start + 4, (camera, player)
    for name in ("dual-primary", "dual-secondary"):
        await changing(console, by_testid(dual, name), f"the timeline's {name}")
    await shots.take(console, "console-timeline-playing")

    # In English too.
    await by_testid(console, "lang-toggle").click()
    await expect(by_testid(event, "incident-state")).to_have_text("Confirmed")
    await expect(by_testid(event, "incident-kind")).to_have_text("Left full screen")


async def raise_on_page(page: Page) -> None:
    """The question page enters full screen, then leaves it (real changes of the browser's
    state: pages/question/page-watch.js reports the leaving as ``fullscreen_left``)."""
    await page.evaluate("() => document.documentElement.requestFullscreen()")
    await page.wait_for_function("() => document.fullscreenElement !== null")
    await page.evaluate("() => document.exitFullscreen()")
    await page.wait_for_function("() => document.fullscreenElement === null")


async def back_on_page(page: Page) -> None:
    """Back to full screen: the condition ends (``fullscreen_back``)."""
    await page.evaluate("() => document.documentElement.requestFullscreen()")
    await page.wait_for_function("() => document.fullscreenElement !== null")

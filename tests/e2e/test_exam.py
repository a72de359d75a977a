"""The candidate's exam pages (MISSION M3) in headless Chromium against a real server:
the exam list with per-exam verification, the question list, online questions
recorded by the server from the page's camera (rehearsal, formal takes, choosing,
auto-submit) and an offline question answered with an uploaded file. The stored
takes are opened with PyAV at the end.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
import pytest
from playwright.async_api import FilePayload, Locator, Page, Playwright, ViewportSize, expect

from tests.e2e.accounts import call, log_in, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.exam_helpers import (
    EXAM_UNIT,
    KEEP_WEBSOCKETS,
    exam_window,
    png,
    through_journey,
    unit_admin,
)
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

READING_S = 4  # question 1: the reading time before recording starts by itself
AUTO_READING_S = 3  # question 2
SKETCH_LIMIT_S = 3  # an offline question's submission time, left to run out
DESKTOP = ViewportSize(width=1280, height=860)
PHONE = ViewportSize(width=412, height=915)


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


async def expect_state(page: Page, state: str, timeout_s: float = 15) -> None:
    await expect(page.locator("body")).to_have_attribute(
        "data-state", state, timeout=timeout_s * 1000
    )


async def recorded(page: Page, seconds: int) -> None:
    """Wait until the page shows ``seconds`` recorded (by the server's clock)."""
    await expect_state(page, "recording")
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=rec-elapsed]').dataset.seconds) >= s",
        arg=seconds,
        timeout=(seconds + 10) * 1000,
    )


async def confirm(page: Page, expected: str) -> None:
    """Accept the page's confirmation dialog, which must say ``expected``."""
    dialog = by_testid(page, "confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(by_testid(page, "confirm-text")).to_contain_text(expected)
    await by_testid(page, "confirm-ok").click()
    await expect(dialog).to_be_hidden()


async def stop(page: Page, shots: Shots | None = None, name: str = "") -> None:
    await by_testid(page, "stop-recording").click()
    if shots:
        await expect(by_testid(page, "confirm-dialog")).to_be_visible()
        await shots.take(page, name)
    await confirm(page, "不能继续录制")


async def fits(page: Page) -> None:
    """No sideways scrolling: a phone browser would zoom the page out to fit it."""
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport and width <= viewport["width"], f"the page is {width}px wide"


async def phone_shot(page: Page, shots: Shots, name: str) -> None:
    await page.set_viewport_size(PHONE)
    await fits(page)
    await shots.take(page, name)
    await page.set_viewport_size(DESKTOP)


def exam_body(now: float) -> dict[str, Any]:
    return {
        "title": "2027 钢琴专业考试",
        "instructions": "请在光线充足、安静的环境中作答；摄像头需拍到上半身和双手。",
        "time_requirements": "每道在线题须在进入正式答题后 10 分钟内提交。",
        "opens_at": now - 60,
        "closes_at": now + 3600,
        # The reload below is the candidate's own: how long it loses depends on the machine,
        # so no take here counts as damaged (the retakes: tests/integration/test_retakes.py).
        "retake": {"lost_over_s": 3600, "low_fps_over_s": 3600, "audio_missing": False},
        "questions": [
            {
                "id": "solo",
                "order": 1,
                "mode": "online",
                "title": "自选曲目",
                "prompt": "演奏一首自选曲目，开始前报出曲名。",
                "reading_limit_s": READING_S,
                "recording_limit_s": 60,
                "submission_limit_s": 600,
                "rehearsal_allowed": True,
                "rehearsal_count": 1,
                "formal_count": 2,
                "formal_playback_allowed": True,
                "materials": [
                    {
                        "key": "piece",
                        "kind": "text",
                        "label": "曲目名称",
                        "required": True,
                        "max_chars": 100,
                    }
                ],
            },
            {
                "id": "sight",
                "order": 2,
                "mode": "online",
                "title": "视奏",
                "prompt": "阅读谱例后演奏，只能录制一次。",
                "reading_limit_s": AUTO_READING_S,
                "recording_limit_s": 30,
                "formal_count": 1,
                "auto_submit": True,
            },
            {
                "id": "score",
                "order": 3,
                "mode": "offline",
                "title": "乐谱",
                "prompt": "上传你演奏曲目的乐谱图片。",
                "submission_limit_s": 600,
                "files": {
                    "kinds": ["image"],
                    "formats": ["png"],
                    "min_count": 1,
                    "max_count": 2,
                    "max_bytes": 64 * 1024,
                },
            },
        ],
    }


def segment_file(server: ServerProcess, take_id: str) -> Path:
    return server.data_dir / "recordings" / take_id / "segment-000.webm"


def decode(path: Path) -> tuple[str, str, int, int]:
    """Codecs and decoded frame counts of a stored take."""
    with av.open(str(path)) as container:
        video = container.streams.video[0].codec_context.name
        audio = container.streams.audio[0].codec_context.name
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(1 for _ in container.decode(audio=0))
    return video, audio, frames, samples


async def test_candidate_answers_a_whole_exam(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    page = await new_page(server, viewport=DESKTOP)
    await page.add_init_script(KEEP_WEBSOCKETS)
    admin = await unit_admin(playwright, server, EXAM_UNIT)
    exam_id = (await admin.create_exam(exam_body(time.time())))["id"]
    account = await through_journey(page, server, admin)
    # The question page's steps name the candidate (c=): in a cluster they reach the node of
    # the candidate's camera, where takes start and stop (decision 0026).
    steps: list[str] = []
    page.on(
        "request",
        lambda r: steps.append(r.url) if r.method == "POST" and "/questions/" in r.url else None,
    )

    # The exam list: window, instructions, time requirements; verification first.
    await page.goto(server.url + "/exams")
    card = by_testid(page, "exam-card")
    await expect(card).to_have_count(1)
    await expect(card).to_contain_text("2027 钢琴专业考试")
    await expect(card).to_contain_text("摄像头需拍到上半身和双手")
    await expect(card).to_contain_text("10 分钟内提交")
    await expect(card).to_contain_text("进行中")
    await shots.take(page, "exam-list")
    await by_testid(page, "enter-exam").click()
    await by_testid(page, "verify-start").click()
    await expect(by_testid(page, "verify-prompt")).to_contain_text("后 6 位")
    await expect(by_testid(page, "verify-stand-in")).to_contain_text("代替真正的实人验证")
    await by_testid(page, "verify-answer").fill("000000")
    await by_testid(page, "verify-submit").click()
    await expect(by_testid(page, "verify-notice")).to_contain_text("验证未通过")
    await shots.take(page, "verify-failed")
    await by_testid(page, "verify-start").click()
    await by_testid(page, "verify-answer").fill(account["id_number"][-6:])
    await shots.take(page, "verify-answer")
    await by_testid(page, "verify-submit").click()

    # The question list: modes, settings, phases.
    await page.wait_for_url(f"**/exams/{exam_id}")
    await expect_state(page, "list")
    questions = by_testid(page, "question")
    await expect(questions).to_have_count(3)
    await expect(questions.nth(0)).to_contain_text("在线录制")
    await expect(questions.nth(0)).to_contain_text(f"{READING_S} 秒")
    await expect(questions.nth(0)).to_contain_text("可排练 1 次")
    await expect(questions.nth(1)).to_contain_text("录制结束后自动提交")
    await expect(questions.nth(2)).to_contain_text("线下录制")
    await shots.take(page, "question-list")
    await phone_shot(page, shots, "question-list-phone")

    # Question 1: a rehearsal, started by hand during its reading time, played back once.
    await by_testid(questions.nth(0), "open-question").click()
    await expect_state(page, "intro")
    await expect(by_testid(page, "rehearse")).to_be_enabled(timeout=20_000)
    await expect(by_testid(page, "connection")).to_have_attribute("data-state", "connected")
    await shots.take(page, "q1-intro")
    await by_testid(page, "rehearse").click()
    await expect_state(page, "reading")
    await expect(by_testid(page, "reading-label")).to_contain_text("排练")
    await shots.take(page, "q1-rehearsal-reading")
    await by_testid(page, "start-recording").click()
    await recorded(page, 2)  # played back past 0.5 s below
    await shots.take(page, "q1-rehearsal-recording")
    await stop(page, shots, "q1-stop-warning")
    await expect_state(page, "rehearsal-review", timeout_s=30)
    await shots.take(page, "q1-rehearsal-review")
    await by_testid(page, "play-rehearsal").click()
    await expect_state(page, "rehearsal-playback")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=playback]').currentTime > 0.5"
    )
    await shots.take(page, "q1-rehearsal-playback")
    # Not locked in for the take's length: the candidate pauses (the video's controls)
    # and ends the one playback early; it counts as played, on the server too.
    rehearsal_id = await by_testid(page, "playback").get_attribute("data-take-id")
    await page.evaluate("() => document.querySelector('[data-testid=playback]').pause()")
    await expect(by_testid(page, "close-playback")).to_have_text("结束回放")
    await by_testid(page, "close-playback").click()
    await confirm(page, "不能再次回放")
    await expect_state(page, "intro", timeout_s=20)
    await expect(by_testid(page, "notice")).to_contain_text("已结束回放")
    again = await page.request.get(f"{server.url}/api/takes/{rehearsal_id}/segments/0")
    assert again.status in (403, 404), again.status
    await expect(by_testid(page, "play-rehearsal")).to_be_hidden()
    await expect(by_testid(page, "rehearse")).to_be_hidden()  # its one rehearsal is used
    await shots.take(page, "q1-rehearsal-gone")

    # The formal answer: the reading countdown runs out and the server starts recording.
    await by_testid(page, "enter-formal").click()
    await confirm(page, f"阅题 {READING_S} 秒后自动开始录制；须在 10 分钟内完成录制并提交。")
    await expect_state(page, "reading")
    await expect(by_testid(page, "reading-countdown")).to_be_visible()
    await expect(by_testid(page, "submit-deadline")).to_contain_text("提交剩余")
    await shots.take(page, "q1-formal-reading")
    await recorded(page, 2)
    await expect(by_testid(page, "rec-label")).to_contain_text("正式录制")
    await shots.take(page, "q1-formal-recording")
    await stop(page)
    await expect_state(page, "answering", timeout_s=30)
    await expect(by_testid(page, "work")).to_have_count(1)
    # Right after the take, what the server received of it, plainly (issue #18).
    await expect(by_testid(page, "take-report")).to_contain_text(
        re.compile(
            r"这次录制(完整：\d+×\d+，每秒 \d+ 帧，有声音|因网络中断丢失了 [\d.]+ 秒)|画面有"
        )
    )
    await expect(by_testid(page, "record-again")).to_be_visible()
    await shots.take(page, "q1-first-take")

    # Record again (no new reading time), then choose the first take and submit it.
    await by_testid(page, "record-again").click()
    await confirm(page, "还可录 1 次")
    await recorded(page, 2)
    # The tab is reloaded mid-take (closed and opened again): the take goes on in a new
    # segment after a gap, and the candidate sees how much it holds and what it lost.
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.reload()
    await recorded(page, 5)
    await stop(page)
    await expect_state(page, "answering", timeout_s=30)
    works = by_testid(page, "work")
    await expect(works).to_have_count(2)
    await expect(by_testid(works.nth(0), "work-meta")).to_contain_text("时长")
    await expect(by_testid(works.nth(1), "work-meta")).to_contain_text(
        re.compile(r"录制 \d+ 秒，中断 1 次（缺 \d+ 秒）")
    )
    await expect(by_testid(page, "take-report")).to_contain_text("这次录制")
    await expect(by_testid(page, "record-again")).to_be_hidden()
    await expect(by_testid(page, "submit")).to_be_disabled()
    await by_testid(works.nth(0), "choose").click()
    await expect(by_testid(works.nth(0), "chosen")).to_have_text("已选")
    await expect(by_testid(works.nth(1), "chosen")).to_have_count(0)
    await by_testid(works.nth(0), "play-work").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=playback]').currentTime > 0.3"
    )
    await shots.take(page, "q1-chosen-playing")
    await by_testid(page, "close-playback").click()
    await by_testid(page, "material-text").fill("肖邦：降E大调夜曲")
    await by_testid(page, "save-text").click()
    await expect(by_testid(page, "material-state")).to_have_text("已保存")
    await phone_shot(page, shots, "q1-works-phone")
    await by_testid(page, "submit").click()
    await confirm(page, "第 1 次录制")
    await expect_state(page, "submitted")
    await expect(by_testid(page, "message")).to_contain_text("已于")
    await shots.take(page, "q1-submitted")

    # Question 2: recording starts by itself, stops by hand, submits itself.
    await by_testid(page, "next-question").click()
    await expect(by_testid(page, "question-title")).to_contain_text("视奏")
    await expect(by_testid(page, "auto-submit-badge")).to_be_visible()
    await expect(by_testid(page, "enter-formal")).to_be_enabled(timeout=20_000)
    await expect(by_testid(page, "rehearse")).to_be_hidden()
    # No submission limit on this question: the intro does not speak of one.
    await expect(by_testid(page, "message")).to_contain_text("本题须在考试结束前提交")
    await by_testid(page, "enter-formal").click()
    await confirm(page, f"阅题 {AUTO_READING_S} 秒后自动开始录制")
    await expect_state(page, "reading")
    await shots.take(page, "q2-reading")
    # The signaling connection drops while reading: the page reconnects, keeps its media
    # session and still follows the server, which starts recording by itself.
    await page.evaluate("() => window.openedSockets.forEach((ws) => ws.close())")
    await page.wait_for_function(
        "() => openedSockets.length >= 2 && openedSockets.at(-1).readyState === WebSocket.OPEN"
    )
    await expect(by_testid(page, "connection")).to_have_attribute("data-state", "connected")
    await recorded(page, 1)
    await stop(page)
    await expect_state(page, "submitted", timeout_s=30)
    await expect(by_testid(page, "message")).to_contain_text("自动提交")
    await expect(by_testid(page, "phase")).to_have_text("已自动提交")
    await shots.take(page, "q2-auto-submitted")

    # Question 3 (offline): open it, a refused file, a real PNG, save, submit.
    await by_testid(page, "next-question").click()
    await expect_state(page, "intro")
    await shots.take(page, "q3-intro")
    await by_testid(page, "open-question").click()
    await expect_state(page, "files")
    await expect(by_testid(page, "submit-files")).to_be_disabled()
    files = by_testid(page, "file-input")
    fake = FilePayload(name="fake.png", mimeType="image/png", buffer=b"not a picture" * 10)
    await files.set_input_files(files=[fake])
    upload = by_testid(page, "upload")
    await expect(by_testid(upload, "upload-error")).to_contain_text("不符合要求")
    await shots.take(page, "q3-refused-file")
    await upload.get_by_role("button").click()
    await expect(upload).to_have_count(0)
    score = FilePayload(name="乐谱.png", mimeType="image/png", buffer=png(64, 48))
    extra = FilePayload(name="第二页.png", mimeType="image/png", buffer=png(32, 32))
    await files.set_input_files(files=[score, extra])
    await expect(by_testid(page, "file")).to_have_count(2)
    await expect(by_testid(page, "add-files")).to_be_hidden()  # two is the most
    await by_testid(by_testid(page, "file").nth(1), "remove-file").click()
    await expect(by_testid(page, "file")).to_have_count(1)
    await expect(by_testid(page, "file")).to_contain_text("乐谱.png")
    await expect(by_testid(page, "file-count")).to_have_attribute("data-count", "1")
    await by_testid(page, "save-files").click()
    await expect(by_testid(page, "notice")).to_contain_text("已保存")
    await expect(by_testid(page, "saved-at")).to_be_visible()
    await shots.take(page, "q3-saved")
    await phone_shot(page, shots, "q3-saved-phone")
    await by_testid(page, "submit-files").click()
    await confirm(page, "1 个文件")
    await expect_state(page, "submitted")
    await expect(by_testid(page, "remove-file")).to_have_count(0)
    await shots.take(page, "q3-submitted")

    # The exam is finished.
    await by_testid(page, "to-list").click()
    await expect(by_testid(page, "exam-finished")).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-finished", "true")
    await shots.take(page, "exam-finished")
    await page.goto(server.url + "/exams")
    await expect(by_testid(page, "exam-card")).to_contain_text("已完成")
    await shots.take(page, "exam-list-finished")

    # What the server holds: the chosen formal take of question 1, question 2's take
    # started by the server and submitted by itself; both stored as VP8 + Opus.
    data = await call(page.request, server, "GET", f"/api/exams/{exam_id}")
    assert data["finished"], data
    solo, sight, offline = data["questions"]
    formal = [t for t in solo["attempt"]["takes"] if t["kind"] == "formal"]
    assert len(formal) == 2 and formal[0]["started_by"] == "server", formal
    assert steps and all(parse_qs(urlsplit(u).query).get("c") == [account["id"]] for u in steps)
    assert solo["attempt"]["chosen_take_id"] == formal[0]["take_id"]
    assert solo["attempt"]["submitted_by"] == "candidate"
    rehearsal = [t for t in solo["attempt"]["takes"] if t["kind"] == "rehearsal"]
    assert rehearsal[0]["playback"] == "gone", rehearsal
    assert sight["attempt"]["submitted_by"] == "auto", sight["attempt"]
    auto_take = sight["attempt"]["chosen_take_id"]
    assert sight["attempt"]["takes"][0]["started_by"] == "server"
    assert len(offline["attempt"]["files"]) == 1
    for take_id in (formal[0]["take_id"], auto_take):
        video, audio, frames, samples = await asyncio.to_thread(
            decode, segment_file(server, take_id)
        )
        assert (video, audio) == ("vp8", "opus"), take_id
        assert frames > 0 and samples > 0, (take_id, frames, samples)


def offline_exam(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "instructions": "Upload your portfolio.",
        "time_requirements": "Before the exam closes.",
        **exam_window(),
        "questions": [
            {
                "id": "portfolio",
                "order": 1,
                "mode": "offline",
                "title": "Portfolio",
                "files": {
                    "kinds": ["image"],
                    "formats": ["png"],
                    "max_count": 3,
                    "max_bytes": 9999,
                },
            },
            {
                "id": "sketch",
                "order": 2,
                "mode": "offline",
                "title": "Quick sketch",
                "submission_limit_s": SKETCH_LIMIT_S,
                "files": {
                    "kinds": ["image"],
                    "formats": ["png"],
                    "max_count": 1,
                    "max_bytes": 9999,
                },
            },
        ],
    }


async def test_verification_cancel_and_manual_review_on_a_phone(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    """Per-exam verification: cancelling means a minute's wait; three failures lead to
    manual review with a photo, and staff approval lets the candidate in. On a phone,
    in English. (Offline-only exams: this candidate needs no device check.)"""
    phone = playwright.devices["Pixel 7"]
    page = await new_page(server, **phone)
    admin = await unit_admin(playwright, server, "20002")
    first = (await admin.create_exam(offline_exam("Exam A")))["id"]
    second = (await admin.create_exam(offline_exam("Exam B")))["id"]

    # Before the admission steps are done, the exam list says which comes first.
    await page.goto(server.url + "/exams")
    await expect_state(page, "gated")
    await expect(by_testid(page, "notice")).to_contain_text("用户协议")
    await expect(by_testid(page, "to-journey")).to_have_attribute("href", "/journey")
    await shots.take(page, "journey-first")

    await through_journey(page, server, admin, device_check=False)

    # A question page of an unverified exam sends the candidate to its verification.
    await page.goto(f"{server.url}/exams/{first}/questions/portfolio")
    await page.wait_for_url(f"**/exams?verify={first}")
    panel = by_testid(page, "verify")
    await expect(panel).to_be_visible()
    await expect(by_testid(page, "verify-title")).to_contain_text("Exam A")
    await by_testid(page, "lang-toggle").click()
    await expect(by_testid(page, "title")).to_have_text("Exams")
    await expect(by_testid(page, "verify-title")).to_contain_text("Real-person verification")

    # Cancel: the next try waits a minute, counted down on the page.
    await by_testid(page, "verify-start").click()
    await by_testid(page, "verify-cancel").click()
    await expect(panel).to_have_attribute("data-status", "waiting")
    await expect(by_testid(page, "verify-status")).to_contain_text("Try again in")
    await expect(by_testid(page, "verify-start")).to_be_disabled()
    await expect(by_testid(page, "verify-start")).to_contain_text("Verify again in")
    await fits(page)
    await shots.take(page, "cancelled-wait")

    # Another exam: three wrong answers, then a photo for manual review.
    await by_testid(page, "verify-close").click()
    cards = by_testid(page, "exam-card")
    await expect(cards).to_have_count(2)
    await by_testid(cards.filter(has_text="Exam B"), "enter-exam").click()
    for left in (2, 1, 0):
        await by_testid(page, "verify-start").click()
        await by_testid(page, "verify-answer").fill("12345X")
        await by_testid(page, "verify-submit").click()
        if left:
            await expect(by_testid(page, "verify-notice")).to_contain_text(f"{left} more")
    await expect(panel).to_have_attribute("data-status", "manual_review")
    await expect(by_testid(page, "verify-status")).to_contain_text("three times in a row")
    await expect(by_testid(page, "verify-review")).to_be_visible()
    await shots.take(page, "manual-review")
    photo = FilePayload(name="me.png", mimeType="image/png", buffer=png(48, 48, noise=True))
    await by_testid(page, "review-photo").set_input_files(files=[photo])
    await expect(panel).to_have_attribute("data-status", "review_pending")
    await expect(by_testid(page, "verify-refresh")).to_be_visible()
    await fits(page)
    await shots.take(page, "review-pending")

    # Staff approve the photo: checking again lets the candidate into the exam.
    staff = await playwright.request.new_context()
    try:
        person = new_candidate("审核员")
        await register(staff, server, person)
        server.admin("grant", person.phone, "staff_reviewer")
        await log_in(staff, server, person)
        queue = (await call(staff, server, "GET", "/api/reviews"))["reviews"]
        review = next(r for r in queue if r["scope"] == f"exam:{second}")
        decision = {"decision": "approve", "note": ""}
        await call(staff, server, "POST", f"/api/reviews/{review['review_id']}", decision)
    finally:
        await staff.dispose()
    await by_testid(page, "verify-refresh").click()
    await page.wait_for_url(f"**/exams/{second}")
    await expect(by_testid(page, "question")).to_have_count(2)
    await expect(by_testid(page, "question").nth(0)).to_contain_text("Offline recording")
    await fits(page)
    await shots.take(page, "exam-after-review")
    await by_testid(page, "open-question").nth(1).click()
    await expect_state(page, "intro")
    await expect(by_testid(page, "open-question")).to_have_text("Start answering")
    await fits(page)
    await shots.take(page, "offline-question-en")

    # Opened, its submission time runs out unused: the question shows closed.
    await by_testid(page, "open-question").click()
    await expect_state(page, "files")
    await expect(by_testid(page, "submit-deadline")).to_contain_text("left to submit")
    await expect_state(page, "closed", timeout_s=SKETCH_LIMIT_S + 10)
    await expect(by_testid(page, "offline-message")).to_contain_text("nothing more can be uploaded")
    await expect(by_testid(page, "phase")).to_have_text("Closed")
    await expect(by_testid(page, "add-files")).to_be_hidden()
    await shots.take(page, "offline-closed-en")
    keys = await page.evaluate(CATALOGUE_KEYS)
    assert keys["zh"] == keys["en"], set(keys["zh"]) ^ set(keys["en"])
    assert not keys["missing"], keys["missing"]


CATALOGUE_KEYS = """async () => {
  const { CATALOGUES } = await import("/static/js/lib/i18n.js");
  const used = [...document.querySelectorAll("[data-i18n], [data-i18n-label]")]
    .flatMap((el) => [el.dataset.i18n, el.dataset.i18nLabel].filter(Boolean));
  const exam = (lang) => Object.keys(CATALOGUES[lang]).filter((k) => k.startsWith("exam.")).sort();
  return {
    zh: exam("zh"),
    en: exam("en"),
    missing: used.filter((key) => !(key in CATALOGUES.zh && key in CATALOGUES.en)),
  };
}"""

"""The university console (/console) and the review queue (/console/reviews) in headless
Chromium against a real server: a unit admin creates an exam with every kind of
question setting, imports an admitted list, follows a candidate's progress and plays
their work; review staff approve and reject manual verification photos."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Playwright, expect

from tests.e2e.accounts import call, log_in, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.console_helpers import (
    CSV_HEADER,
    DESK,
    accept_agreements,
    add_unit,
    csv_file,
    csv_rows,
    expect_view,
    import_list,
    log_in_on_page,
    logged_in,
    make_photo,
    make_video,
    registered,
    staff,
    up_to_exams,
    upload,
    verify,
)
from tests.e2e.test_device_check import CATALOGUE_KEYS, by_testid
from tests.support.process import ServerProcess, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

EDITOR_UNIT, FOLLOW_UNIT = "50001", "50002"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """This module's own server: the accounts registered here do not count against the
    shared server's limit of SMS codes per client address (thirty an hour)."""
    running = start_server(tmp_path_factory.mktemp("console") / "data")
    yield running
    running.stop()


MB = 1024 * 1024
BEIJING = timezone(timedelta(hours=8))


def local_input(moment: datetime) -> str:
    """A datetime-local input's value (the pages run in China's time zone)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


async def test_admin_creates_an_exam_and_imports_the_admitted_list(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    add_unit(server, EDITOR_UNIT, "北京测试音乐学院")
    admin = await staff(playwright, server, "王老师", "unit_admin", EDITOR_UNIT)

    # Not logged in: the console sends the admin to log in, and comes back.
    page = await new_page(server, anonymous=True, **DESK)
    await page.goto(server.url + "/console")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fconsole$"))
    await log_in_on_page(page, admin)
    await expect(page).to_have_url(re.compile(r"/console$"))
    await expect_view(page, "exams")
    await expect(by_testid(page, "unit-name")).to_have_text("北京测试音乐学院")
    await expect(by_testid(page, "no-exams")).to_be_visible()
    await shots.take(page, "no-exams")

    # A new exam: its texts and window (local time), an online and an offline question.
    await by_testid(page, "new-exam").click()
    await expect_view(page, "new")
    await by_testid(page, "exam-title").fill("2027 音乐表演专业考试")
    await by_testid(page, "exam-opens").fill("2027-03-01T09:00")
    await by_testid(page, "exam-closes").fill("2027-03-03T18:00")
    await by_testid(page, "exam-time-requirements").fill("每题须在进入正式答题后 15 分钟内提交。")
    await by_testid(page, "exam-instructions").fill("请在安静、光线充足的房间作答。")

    online = by_testid(page, "question").nth(0)
    await by_testid(online, "q-title").fill("自选曲目演奏")
    await by_testid(online, "q-prompt").fill("演奏一首自选曲目，开始前报出曲名。")
    await by_testid(online, "q-reading").fill("60")
    await by_testid(online, "q-recording").fill("120")
    await by_testid(online, "q-submission-none").uncheck()
    await by_testid(online, "q-submission").fill("900")
    await by_testid(online, "q-rehearsal").check()
    await by_testid(online, "q-rehearsal-count").fill("2")
    await by_testid(online, "q-formal-count").fill("2")
    await by_testid(online, "q-second-camera").check()
    await by_testid(online, "q-auto-submit").check()  # not with two formal recordings
    await by_testid(online, "q-add-material").click()
    material = by_testid(online, "material").nth(0)
    await by_testid(material, "m-kind").select_option("image")
    await by_testid(material, "m-label").fill("曲谱照片")
    await by_testid(material, "m-max-count").fill("2")
    await by_testid(material, "m-max-mb").fill("5")
    await by_testid(material, "m-formats").fill("jpg, png")

    await by_testid(page, "add-offline").click()
    offline = by_testid(page, "question").nth(1)
    await expect(by_testid(offline, "offline-settings")).to_be_visible()
    await by_testid(offline, "q-title").fill("作品集")
    await by_testid(offline, "q-kind-pdf").check()
    await by_testid(offline, "q-formats").fill("mp4, pdf")
    await by_testid(offline, "q-max-count").fill("3")
    await by_testid(offline, "q-max-mb").fill("30")

    # The server refuses auto-submit with two formal recordings (and with a required
    # material): said next to the setting and listed above the form; nothing is created.
    await by_testid(page, "save").click()
    problems = by_testid(page, "problems")
    await expect(problems).to_contain_text("有 1 处需要修改")
    auto_submit = online.locator('[data-field="auto_submit"] [data-testid="field-error"]')
    await expect(auto_submit).to_contain_text("自动提交只能用于正式录制次数为 1 的题目")
    await expect(auto_submit).to_contain_text("有必须提交的附加材料时不能自动提交")
    await expect(by_testid(online, "q-auto-submit")).to_be_focused()
    assert (await call(page.request, server, "GET", "/api/admin/exams"))["exams"] == []
    await shots.take(page, "setting-refused")

    await by_testid(online, "q-auto-submit").uncheck()
    # Monitoring (issue #13): a threshold and a detector switched off; a fixed one is locked.
    await expect(by_testid(page, "monitoring")).to_contain_text("画面中没有人脸")
    await by_testid(page, "monitoring-no_face-after").fill("15")
    await by_testid(page, "monitoring-silence-on").uncheck()
    await expect(by_testid(page, "monitoring-camera_lost-after")).to_be_disabled()
    # the face check (issue #17) counts checks, not seconds: on, its seconds locked
    await expect(by_testid(page, "monitoring")).to_contain_text("人脸不符")
    await expect(by_testid(page, "monitoring-face_not_recognised-after")).to_be_disabled()
    # Sound and picture (issue #18): music by default; a voice has the browser's bitrate.
    await expect(by_testid(page, "media-audio")).to_have_value("music")
    await by_testid(page, "media-audio").select_option("voice")
    await expect(by_testid(page, "media-audio-kbps")).to_be_disabled()
    await by_testid(page, "media-audio").select_option("music")
    await by_testid(page, "media-audio-kbps").fill("256")
    await by_testid(page, "media-video").select_option("480p")
    await by_testid(page, "media-min-fps").fill("25")
    # Retakes for system faults (issue #18): the defaults shown, one changed, one off.
    await expect(by_testid(page, "retake")).to_contain_text("系统原因重录")
    await expect(by_testid(page, "retake-max-extra")).to_have_value("2")
    await by_testid(page, "retake-lost").fill("3")
    await by_testid(page, "retake-audio").uncheck()
    await by_testid(page, "save").click()
    await expect(by_testid(page, "editor-notice")).to_contain_text("考试已创建")
    await expect(page).to_have_url(re.compile(r"/console#exams/[0-9a-f]+$"))
    await expect(problems).to_have_count(0)
    await expect(by_testid(page, "exam-heading")).to_have_text("2027 音乐表演专业考试")
    await shots.take(page, "exam-created")

    [exam] = (await call(page.request, server, "GET", "/api/admin/exams"))["exams"]
    opens = datetime(2027, 3, 1, 9, 0, tzinfo=BEIJING).timestamp()
    assert (exam["opens_at"], exam["closes_at"]) == (opens, opens + 2 * 86400 + 9 * 3600)
    assert exam["time_requirements"] == "每题须在进入正式答题后 15 分钟内提交。"
    assert exam["monitoring"]["no_face"] == {"enabled": True, "after_s": 15.0}
    assert exam["monitoring"]["silence"] == {"enabled": False, "after_s": 20.0}
    assert exam["monitoring"]["camera_lost"] == {"enabled": True, "after_s": 2.0}
    assert exam["monitoring"]["face_not_recognised"] == {"enabled": True, "after_s": 0.0}
    assert exam["media"] == {"audio": "music", "audio_kbps": 256, "video": "480p", "min_fps": 25}
    assert exam["retake"] == {
        "enabled": True,
        "lost_over_s": 3.0,
        "low_fps_over_s": 5.0,
        "audio_missing": False,
        "max_extra": 2,
    }
    first, second = exam["questions"]
    assert {k: first[k] for k in SETTINGS} == {
        "mode": "online",
        "reading_limit_s": 60,
        "recording_limit_s": 120,
        "submission_limit_s": 900,
        "rehearsal_allowed": True,
        "rehearsal_count": 2,
        "formal_count": 2,
        "second_camera_required": True,
        "formal_playback_allowed": True,
        "auto_submit": False,
    }
    assert first["materials"] == [
        {
            "key": "image",
            "kind": "image",
            "label": "曲谱照片",
            "required": True,
            "max_count": 2,
            "max_bytes": 5 * MB,
            "formats": ["jpg", "png"],
        }
    ]
    assert (second["mode"], second["submission_limit_s"]) == ("offline", None)
    assert second["files"] == {
        "kinds": ["video", "pdf"],
        "formats": ["mp4", "pdf"],
        "min_count": 1,
        "max_count": 3,
        "min_bytes": 0,
        "max_bytes": 30 * MB,
    }

    # Saved again unchanged after a reload: the stored values come back exactly.
    await page.reload()
    await expect_view(page, "settings")
    await expect(by_testid(page, "exam-opens")).to_have_value("2027-03-01T09:00")
    await by_testid(page, "exam-title").fill("2027 音乐表演专业考试（正式）")
    await by_testid(page, "save").click()
    await expect(by_testid(page, "editor-notice")).to_contain_text("已保存")
    saved = await call(page.request, server, "GET", f"/api/admin/exams/{exam['id']}")
    assert saved == {**exam, "title": "2027 音乐表演专业考试（正式）"}

    # The admitted list: a file with bad rows is refused whole, each row explained.
    await by_testid(page, "nav-admitted").click()
    await expect_view(page, "admitted")
    await expect(by_testid(page, "list-none")).to_be_visible()
    good, other = new_candidate("李明"), new_candidate("赵小红")
    bad_checksum = good.id_number[:-1] + ("0" if good.id_number[-1] != "0" else "1")
    bad = CSV_HEADER + csv_rows(good) + f"张三,居民身份证,{bad_checksum}\n王五,学生证,123\n"
    await by_testid(page, "csv-file").set_input_files(csv_file("名单.csv", bad))
    await by_testid(page, "csv-upload").click()
    rows = by_testid(page, "csv-error")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_attribute("data-line", "3")
    await expect(rows.nth(0)).to_contain_text("校验位")
    await expect(rows.nth(1)).to_have_attribute("data-line", "4")
    await expect(rows.nth(1)).to_contain_text("unknown ID type '学生证'")
    await expect(by_testid(page, "csv-result")).to_contain_text("有 2 行需要修改，名单没有导入")
    await expect(by_testid(page, "list-none")).to_be_visible()
    await shots.take(page, "list-refused")

    await by_testid(page, "csv-file").set_input_files(
        csv_file("名单.csv", CSV_HEADER + csv_rows(good, other))
    )
    await by_testid(page, "csv-upload").click()
    await expect(by_testid(page, "csv-result")).to_contain_text("名单现在共 2 人")
    await expect(by_testid(page, "csv-error")).to_have_count(0)
    await expect(by_testid(page, "list-count")).to_have_text("共 2 人")
    entries = by_testid(page, "entry")
    await expect(entries).to_have_count(2)
    await expect(entries.nth(0)).to_contain_text(good.id_number)
    await expect(entries.nth(1)).to_contain_text("赵小红")
    await shots.take(page, "list-imported")

    # The exam's progress: nobody has started yet.
    await by_testid(page, "nav-exams").click()
    await expect(by_testid(page, "exam-row")).to_have_count(1)
    await by_testid(page, "exam-progress-link").click()
    await expect_view(page, "progress")
    await expect(by_testid(page, "no-progress")).to_be_visible()
    await shots.take(page, "progress-empty")

    # In English on request; both catalogues have the same keys.
    await by_testid(page, "lang-toggle").click()
    await expect(by_testid(page, "title")).to_have_text("University console")
    await expect(by_testid(page, "tab-submissions")).to_have_text("Submissions")
    await expect(by_testid(page, "no-progress")).to_have_text("No candidate has started yet.")
    keys = await page.evaluate(CATALOGUE_KEYS)
    assert keys["zh"] == keys["en"], set(keys["zh"]) ^ set(keys["en"])
    assert not keys["missing"], keys["missing"]
    await shots.take(page, "english")


SETTINGS = (
    "mode",
    "reading_limit_s",
    "recording_limit_s",
    "submission_limit_s",
    "rehearsal_allowed",
    "rehearsal_count",
    "formal_count",
    "second_camera_required",
    "formal_playback_allowed",
    "auto_submit",
)


def offline_exam() -> dict[str, Any]:
    now = time.time()
    return {
        "title": "2027 美术学专业考试",
        "instructions": "上传提前拍摄好的作品。",
        "opens_at": now - 600,
        "closes_at": now + 7200,
        "questions": [
            {
                "id": "works",
                "order": 1,
                "mode": "offline",
                "title": "作品视频",
                "files": {
                    "kinds": ["video"],
                    "formats": ["webm", "mp4"],
                    "max_count": 2,
                    "max_bytes": 20 * MB,
                },
            },
            {
                "id": "statement",
                "order": 2,
                "mode": "offline",
                "title": "创作说明",
                "files": {
                    "kinds": ["pdf"],
                    "formats": ["pdf"],
                    "max_count": 1,
                    "max_bytes": 5 * MB,
                },
            },
        ],
    }


async def test_admin_follows_a_candidate_and_plays_the_work(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    add_unit(server, FOLLOW_UNIT, "上海测试美术学院")
    admin = await staff(playwright, server, "陈老师", "unit_admin", FOLLOW_UNIT)
    admin_http = await logged_in(playwright, server, admin)
    who, candidate = await registered(playwright, server, "周小舟")
    try:
        exam = await call(admin_http, server, "POST", "/api/admin/exams", offline_exam())
        await import_list(admin_http, server, FOLLOW_UNIT, CSV_HEADER + csv_rows(who))
        await up_to_exams(candidate, server, who, FOLLOW_UNIT)
        assert await verify(candidate, server, f"exam:{exam['id']}", who.id_number[-6:])

        page = await new_page(server, anonymous=True, **DESK)
        await log_in(page.request, server, admin)
        await page.goto(f"{server.url}/console#exams/{exam['id']}")
        await expect_view(page, "settings")
        await expect(by_testid(page, "editor-locked")).to_be_empty()

        # The admin moves the close while the candidate starts: the server refuses the
        # change (409); the page says why and puts the saved settings back, locked.
        later = datetime.fromtimestamp(exam["closes_at"] + 3600, BEIJING)
        await by_testid(page, "exam-closes").fill(local_input(later))
        works = f"/api/exams/{exam['id']}/questions/works"
        await call(candidate, server, "POST", works + "/open")
        await by_testid(page, "save").click()
        notice = by_testid(page, "editor-notice")
        await expect(notice).to_contain_text("已有考生开始这场考试，不能再修改结束时间")
        await expect(by_testid(page, "editor-locked")).to_contain_text("只能修改考试名称")
        closes = datetime.fromtimestamp(exam["closes_at"], BEIJING)
        await expect(by_testid(page, "exam-closes")).to_have_value(local_input(closes))
        await expect(by_testid(page, "exam-closes")).to_be_disabled()
        await expect(by_testid(page, "add-online")).to_be_hidden()
        await shots.take(page, "edit-refused")

        # The texts may still change.
        await by_testid(page, "exam-instructions").fill("上传提前拍摄好的作品（横屏）。")
        await by_testid(page, "save").click()
        await expect(notice).to_contain_text("已保存")

        # The candidate hands in a video for the first question.
        video = (await asyncio.to_thread(make_video, tmp_path)).read_bytes()
        await upload(candidate, server, works + "/files?name=answer.webm", video)
        await call(candidate, server, "POST", works + "/submit")

        await by_testid(page, "tab-progress").click()
        await expect_view(page, "progress")
        row = by_testid(page, "progress-row")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("周小舟")
        await expect(row).to_contain_text("1 / 2")
        cells = by_testid(row, "progress-cell")
        await expect(cells.nth(0)).to_have_attribute("data-phase", "submitted")
        await expect(cells.nth(1)).to_have_attribute("data-phase", "not_started")
        await expect(by_testid(page, "progress-summary")).to_contain_text("已开始 1 人")
        await shots.take(page, "progress")

        # The work: played in the page from the download address, and downloaded.
        await by_testid(page, "tab-submissions").click()
        await expect_view(page, "submissions")
        work = by_testid(page, "submission")
        await expect(work).to_have_count(1)
        await expect(work).to_contain_text("作品视频")
        await by_testid(work, "play").click()
        player = "document.querySelector('[data-testid=player]')"
        await page.wait_for_function(f"() => {player}.readyState >= 2 && {player}.videoWidth > 0")
        await page.wait_for_function(f"() => {player}.currentTime > 0.5")
        await shots.take(page, "work-playing")
        async with page.expect_download() as downloading:
            await by_testid(work, "download").click()
        download = await downloading.value
        assert download.suggested_filename.endswith(".webm"), download.suggested_filename
        assert await asyncio.to_thread(Path(await download.path()).read_bytes) == video

        # Proctors are invited by phone: the invited person accepts it once logged in, and
        # the admin is told the same whether the phone has an account or not (issue #10).
        proctor, proctor_http = await registered(playwright, server, "孙监考")
        await proctor_http.dispose()
        await by_testid(page, "tab-proctors").click()
        await expect_view(page, "proctors")
        await expect(by_testid(page, "no-proctors")).to_be_visible()
        await by_testid(page, "proctor-phone").fill("12345")
        await by_testid(page, "proctor-assign").click()
        await expect(page.locator(".inline-form [data-testid=field-error]")).to_contain_text(
            "手机号不正确"
        )
        await by_testid(page, "proctor-phone").fill(proctor.phone)
        await by_testid(page, "proctor-assign").click()
        await expect(by_testid(page, "proctor-result")).to_contain_text("已向")
        await expect(by_testid(page, "invitation")).to_have_attribute("data-state", "pending")
        await expect(by_testid(page, "no-proctors")).to_be_visible()  # not before they accept
        await shots.take(page, "proctor-invited")
        desk = await new_page(server, anonymous=True, **DESK)
        await desk.goto(server.url + "/login")
        await log_in_on_page(desk, proctor)
        await desk.wait_for_url("**/journey")  # logging in changes nothing: still a candidate
        offer = by_testid(desk, "invitation-offer")
        await expect(offer).to_have_attribute("data-role", "proctor")
        await expect(by_testid(offer, "invitation-what")).to_contain_text(exam["title"])
        await expect(by_testid(offer, "invitation-warning")).to_contain_text("不再是考生账号")
        await expect(by_testid(offer, "invitation-warning")).to_contain_text("两步登录")
        await shots.take(desk, "invitation-offer")
        await page.reload()
        await expect(by_testid(page, "no-proctors")).to_be_visible()  # nor when they log in
        await by_testid(offer, "invitation-accept").click()
        # Every session of the account ended: log in again, then their new home.
        await desk.wait_for_url(re.compile(r"/login\?accepted=1$"))
        await expect(by_testid(desk, "invitation-accepted")).to_be_visible()
        await log_in_on_page(desk, proctor)
        await desk.wait_for_url("**/console/proctor")  # their own home, not the journey
        await expect(by_testid(desk, "proctor-exam")).to_contain_text(exam["title"])
        await expect(by_testid(desk, "proctor-live")).to_contain_text("监考墙")
        await shots.take(desk, "proctor-home")
        await page.reload()
        await expect(by_testid(page, "proctor")).to_contain_text("孙监考")
        await expect(by_testid(page, "invitation")).to_have_attribute("data-state", "applied")
        await shots.take(page, "proctor-assigned")

        # The candidate who handed in a work is invited too: accepting is refused, and the
        # page says why; they decline, and stay a candidate.
        await by_testid(page, "proctor-phone").fill(who.phone)
        await by_testid(page, "proctor-assign").click()
        await expect(by_testid(page, "invitation").first).to_have_attribute("data-state", "pending")
        seat = await new_page(server, anonymous=True, **DESK)
        await seat.goto(server.url + "/login")
        await log_in_on_page(seat, who)
        await seat.wait_for_url("**/journey")
        await by_testid(seat, "invitation-accept").click()
        refused = by_testid(seat, "invitation-message")
        await expect(refused).to_contain_text("已经开始答题")
        await expect(refused).to_contain_text("失去考生资格")
        await shots.take(seat, "invitation-refused")
        await by_testid(seat, "invitation-decline").click()
        await expect(by_testid(seat, "invitation-message")).to_contain_text("已拒绝邀请")
        await expect(by_testid(seat, "invitation-offer")).to_have_count(0)
        await page.reload()
        await expect(by_testid(page, "invitation").first).to_have_attribute(
            "data-state", "declined"
        )

        # On a tablet the same pages fit the screen.
        await page.set_viewport_size({"width": 768, "height": 1024})
        await by_testid(page, "tab-progress").click()
        await expect(by_testid(page, "progress-row")).to_have_count(1)
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 768, f"the console is {width}px wide on a tablet"
        await shots.take(page, "tablet-progress")
    finally:
        await admin_http.dispose()
        await candidate.dispose()


async def needs_review(
    playwright: Playwright, server: ServerProcess, name: str, photo: bytes
) -> Any:
    """A candidate who failed verification three times in a row and sent a photo."""
    who, http = await registered(playwright, server, name)
    await accept_agreements(http, server)
    for _ in range(3):
        assert not await verify(http, server, "login", "000000")
    response = await http.post(
        server.url + "/api/verification/reviews?scope=login",
        data=photo,
        headers={"Content-Type": "image/png", "Origin": server.url},
    )
    assert response.status == 201, await response.text()
    return who, http


async def review_card(page: Page, name: str) -> Any:
    card = by_testid(page, "review").filter(
        has=page.get_by_test_id("review-name").get_by_text(name)
    )
    await expect(card).to_have_count(1)
    return card


async def test_staff_approve_and_reject_manual_reviews(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    photo = (await asyncio.to_thread(make_photo, tmp_path)).read_bytes()
    (approved, approved_http), (_, rejected_http) = await asyncio.gather(
        needs_review(playwright, server, "吴审核", photo),
        needs_review(playwright, server, "郑重拍", photo),
    )
    reviewer = await staff(playwright, server, "审核员", "staff_reviewer")
    try:
        # Not logged in: the queue sends staff to log in, and comes back.
        page = await new_page(server, anonymous=True, **DESK)
        await page.goto(server.url + "/console/reviews")
        await expect(page).to_have_url(re.compile(r"/login\?next=%2Fconsole%2Freviews$"))
        await log_in_on_page(page, reviewer)
        await expect(page.locator("body")).to_have_attribute("data-view", "queue")

        card = await review_card(page, "吴审核")
        await expect(by_testid(card, "review-id-number")).to_have_text(approved.id_number)
        # The photo is fetched after the card is shown: wait (bounded) until it has loaded.
        photo_loaded = await (
            await page.wait_for_function(
                "(img) => img.complete && img.naturalWidth",
                arg=await by_testid(card, "review-photo").element_handle(),
            )
        ).json_value()
        assert photo_loaded == 480, photo_loaded
        other = await review_card(page, "郑重拍")
        await shots.take(page, "queue")

        # Rejecting needs a reason the candidate will read.
        await by_testid(other, "reject").click()
        await expect(by_testid(other, "field-error")).to_contain_text("请写明驳回原因")
        await by_testid(other, "review-note").fill("证件号码看不清，请在光线充足处重新拍摄。")
        await by_testid(other, "reject").click()
        await expect(by_testid(other, "review-state")).to_have_text("已驳回")

        await by_testid(card, "approve").click()
        await expect(by_testid(card, "review-state")).to_have_text("已通过")
        await expect(by_testid(card, "review-result")).to_contain_text("吴审核 的实人验证已完成")
        await shots.take(page, "decided")

        status = await call(approved_http, server, "GET", "/api/verification?scope=login")
        assert (status["status"], status["passed_by"]) == ("passed", "manual_review"), status
        journey = (await call(approved_http, server, "GET", "/api/me"))["journey"]
        assert journey["next_step"] == "read_notice", journey
        status = await call(rejected_http, server, "GET", "/api/verification?scope=login")
        assert status["status"] != "passed", status
        assert status["review"]["note"] == "证件号码看不清，请在光线充足处重新拍摄。", status

        # The decided ones are under their tabs.
        await by_testid(page, "tab-approved").click()
        await review_card(page, "吴审核")
        await by_testid(page, "tab-pending").click()
        await expect(by_testid(page, "review").filter(has_text="吴审核")).to_have_count(0)

        # Review staff on the university console: told where their page is.
        await page.goto(server.url + "/console")
        await expect(page.locator("body")).to_have_attribute("data-view", "wrong-role")
        await expect(by_testid(page, "wrong-role-text")).to_contain_text("只供高校管理员使用")
        await expect(by_testid(page, "wrong-role-text")).to_contain_text("审核人员账号")
        await shots.take(page, "reviewer-on-console")
        await by_testid(page, "wrong-role-home").click()
        await expect(page).to_have_url(re.compile(r"/console/reviews$"))
        await expect(page.locator("body")).to_have_attribute("data-view", "queue")
    finally:
        await approved_http.dispose()
        await rejected_http.dispose()


async def test_a_candidate_is_told_the_console_is_not_for_them(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    page = await new_page(server, **playwright.devices["iPad Mini"])
    for path, text in (
        ("/console", "只供高校管理员使用"),
        ("/console/reviews", "只供审核人员使用"),
    ):
        await page.goto(server.url + path)
        await expect(page.locator("body")).to_have_attribute("data-view", "wrong-role")
        problem = by_testid(page, "wrong-role-text")
        await expect(problem).to_contain_text(text)
        await expect(problem).to_contain_text("考生账号")
        await expect(by_testid(page, "wrong-role-home")).to_have_attribute("href", "/journey")
        await shots.take(page, "candidate-" + path.strip("/").replace("/", "-"))
    await by_testid(page, "wrong-role-switch").click()
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fconsole%2Freviews$"))


async def test_each_staff_role_lands_on_its_own_home(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    reviewer = await staff(playwright, server, "吴审核", "staff_reviewer")
    proctor = await staff(playwright, server, "郑监考", "proctor")
    operator = await staff(playwright, server, "钱运维", "operator")
    for who, url, view in (
        (reviewer, "**/console/reviews", None),
        (proctor, "**/console/proctor", "exams"),
    ):
        page = await new_page(server, anonymous=True, **DESK)
        await page.goto(server.url + "/login")
        await log_in_on_page(page, who)
        await page.wait_for_url(url)
        await expect(page.locator("body")).not_to_have_attribute("data-view", "wrong-role")
        if view:
            await expect(page.locator("body")).to_have_attribute("data-view", view)
            await expect(by_testid(page, "no-proctor-exams")).to_be_visible()
        await shots.take(page, f"home-{who.name}")
        # The candidate's journey, opened by hand, points to the same home.
        await page.goto(server.url + "/journey")
        home = url.removeprefix("**")
        await expect(by_testid(page, "staff-home")).to_have_attribute("href", home)

    # The operator lands on the units, creates one and invites its admin.
    page = await new_page(server, anonymous=True, **DESK)
    await page.goto(server.url + "/login")
    await log_in_on_page(page, operator)
    await page.wait_for_url("**/console#units")
    await expect(page.locator("body")).to_have_attribute("data-view", "units")
    await by_testid(page, "unit-id").fill("50009")
    await by_testid(page, "unit-name-input").fill("北京测试音乐学院")
    await by_testid(page, "unit-create").click()
    await expect(by_testid(page, "unit-result")).to_contain_text("北京测试音乐学院")
    unit = page.locator("[data-testid=unit][data-unit='50009']")
    await by_testid(unit, "unit-admins").click()
    await expect(by_testid(unit, "no-invitations")).to_be_visible()
    newcomer = new_candidate("冯管理")  # no account yet: the invitation waits for them
    await by_testid(unit, "admin-phone").fill(newcomer.phone)
    await by_testid(unit, "admin-invite").click()
    await expect(by_testid(unit, "invite-result")).to_contain_text(newcomer.phone)
    await expect(by_testid(unit, "invitation")).to_have_attribute("data-state", "pending")
    await shots.take(page, "operator-units")
    http = await playwright.request.new_context()
    try:
        await register(http, server, newcomer)  # a candidate's account: nothing applies
    finally:
        await http.dispose()
    admin_page = await new_page(server, anonymous=True, **DESK)
    await admin_page.goto(server.url + "/login")
    await log_in_on_page(admin_page, newcomer)
    await admin_page.wait_for_url("**/journey")
    offer = by_testid(admin_page, "invitation-offer")
    await expect(offer).to_have_attribute("data-role", "unit_admin")
    await expect(by_testid(offer, "invitation-what")).to_contain_text("北京测试音乐学院")
    # The account page lists it too; accepted there.
    await by_testid(admin_page, "to-account").click()
    await admin_page.wait_for_url("**/account")
    offer = by_testid(admin_page, "invitation-offer")
    await expect(by_testid(offer, "invitation-warning")).to_contain_text("高校管理员账号")
    await shots.take(admin_page, "account-invitation")
    await by_testid(offer, "invitation-accept").click()
    await admin_page.wait_for_url(re.compile(r"/login\?accepted=1$"))
    await log_in_on_page(admin_page, newcomer)
    await admin_page.wait_for_url("**/console")
    await expect(by_testid(admin_page, "unit-name")).to_have_text("北京测试音乐学院")
    await expect(admin_page.locator("body")).to_have_attribute("data-view", "exams")

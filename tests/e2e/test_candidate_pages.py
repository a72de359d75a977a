"""What a new candidate tripped over on the candidate's pages (issue #10), in headless
Chromium against a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.async_api import Playwright, Request, Route, ViewportSize, expect

from tests.e2e.accounts import log_in, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.exam_helpers import through_journey, unit_admin, verify
from tests.e2e.test_uploads import (
    CHUNK,
    SLOW,
    SMALL_CHUNKS,
    expect_state,
    offset_reached,
    sha256,
    stored,
    throttle,
)
from tests.e2e.test_uploads import exam_body as uploads_exam
from tests.support.files import mp4
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SECRET = "Not-In-Any-URL-42"


async def test_log_in_form_sent_before_its_script_is_ready(
    server: ServerProcess, new_page: NewPage
) -> None:
    page = await new_page(server, anonymous=True)
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))

    async def never_ready(route: Route) -> None:
        """Not answered: the script is still on its way."""

    # The page's script has not arrived (a slow phone link): the form must not go as GET.
    # (Not a lost one: that page loads itself again, js/boot.js, tests/e2e/test_page_load.py.)
    await page.route("**/static/js/pages/login.js", never_ready)
    await page.goto(server.url + "/login?next=%2Fexams", wait_until="commit")
    submit = page.get_by_test_id("login-submit")
    await expect(submit).to_be_disabled()
    await page.get_by_test_id("login-phone").fill("13800138000")
    await page.get_by_test_id("login-password").fill(SECRET)
    await page.get_by_test_id("login-password").press("Enter")  # implicit submission
    # Whatever a browser does anyway (an enabled button, say): the form posts.
    await submit.evaluate("button => { button.disabled = false; }")
    async with page.expect_navigation(wait_until="commit"):
        await submit.click()
    await expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)exams&resend=1$"))
    assert [r.method for r in sent if r.is_navigation_request()] == ["GET", "POST", "GET"]
    assert not [r.url for r in sent if SECRET in r.url]

    # The script arrives: the page says the form was not taken, and can be sent now.
    await page.unroute("**/static/js/pages/login.js", never_ready)
    await page.reload()
    await expect(page.get_by_test_id("form-resend")).to_have_text(
        "页面尚未加载完成时提交了表单，内容没有被接收。请重新填写并提交。"
    )
    await expect(submit).to_be_enabled()


# Every confirmation dialog of the question page, in every variant, as the page makes it.
DIALOG_TEXTS = """async () => {
  const i18n = await import("/static/js/lib/i18n.js");
  const d = await import("/static/js/pages/question/dialogs.js");
  const cases = {
    formalTimed: () => d.formalText({ reading_limit_s: 60, submission_limit_s: 1800 }),
    formalOpen: () => d.formalText({ reading_limit_s: null, submission_limit_s: null }),
    formalLong: () => d.formalText({ reading_limit_s: 90, submission_limit_s: 7 * 86400 }),
    recordAgain: () => d.recordAgainText(2),
    stop: () => d.stopText(),
    endPlayback: () => d.endPlaybackText(),
    submitTake: () => d.submitTakeText(1),
    submitFiles: () => d.submitFilesText(3, 0, "14:30"),
    submitFilesPending: () => d.submitFilesText(3, 2, "14:30"),
  };
  const texts = {};
  for (const code of ["zh", "en"]) {
    i18n.setLang(code);
    texts[code] = Object.fromEntries(Object.entries(cases).map(([k, make]) => [k, make()]));
  }
  i18n.setLang("zh");
  return texts;
}"""

EXPECTED_DIALOG_WORDS = {
    "zh": {
        "formalTimed": ["不能再排练", "阅题 1 分钟后自动开始录制", "须在 30 分钟内完成录制并提交"],
        "formalOpen": ["阅题时间不限", "须在考试结束前完成录制并提交"],
        "formalLong": ["阅题 1 分钟 30 秒后", "须在 7 天内完成录制并提交"],
        "recordAgain": ["还可录 2 次"],
        "stop": ["不能继续录制"],
        "endPlayback": ["不能再次回放"],
        "submitTake": ["第 1 次录制"],
        "submitFiles": ["将提交 3 个文件"],
        "submitFilesPending": ["3 个文件", "2 个尚未上传完", "在 14:30 前完成上传"],
    },
    "en": {
        "formalTimed": [
            "cannot rehearse",
            "after 1 min of reading",
            "record and submit within 30 min",
        ],
        "formalOpen": ["Reading time is unlimited", "record and submit before the exam ends"],
        "formalLong": ["after 1 min 30 s of reading", "record and submit within 7 d"],
        "recordAgain": ["(2 left)"],
        "stop": ["cannot be continued"],
        "endPlayback": ["cannot be played again"],
        "submitTake": ["Recording 1 will be submitted"],
        "submitFiles": ["3 file(s) will be submitted"],
        "submitFilesPending": ["3 file(s)", "2 of them still uploading", "by 14:30"],
    },
}


async def test_every_confirmation_dialog_says_all_it_should_in_both_languages(
    server: ServerProcess, new_page: NewPage
) -> None:
    page = await new_page(server, anonymous=True)
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    await page.goto(server.url + "/login")
    texts = await page.evaluate(DIALOG_TEXTS)
    assert not [w for w in warnings if w.startswith("i18n:")], warnings
    for code, expected in EXPECTED_DIALOG_WORDS.items():
        assert texts[code].keys() == expected.keys()
        for case, text in texts[code].items():
            assert "{" not in text and "  " not in text, (code, case, text)
            for words in expected[case]:
                assert words in text, (code, case, text)
            other = "en" if code == "zh" else "zh"
            assert text != texts[other][case], (case, "not translated")


# Lengths of time, dates and a take's recorded length, as every candidate page shows them.
FORMATS = """async () => {
  const i18n = await import("/static/js/lib/i18n.js");
  const f = await import("/static/js/lib/format.js");
  const { lengthText } = await import("/static/js/lib/take-length.js");
  const at = new Date(2026, 11, 5, 14, 30).getTime() / 1000;  // local time
  const take = {
    state: "stored",
    manifest: {
      segments: [{ index: 0, duration_s: 20.2 }, { index: 1, duration_s: 14.9 }],
      gaps: [{ start_s: 20.3, end_s: 26.4, reason: "reconnect" }],
    },
  };
  const out = {};
  for (const code of ["zh", "en"]) {
    i18n.setLang(code);
    out[code] = {
      submitLeft: f.remaining(167 * 3600 + 47 * 60 + 25),
      hoursLeft: f.remaining(2 * 3600 + 15 * 60 + 9),
      lastHour: f.remaining(95),
      limit: f.duration(90),
      date: f.date(at),
      dateTime: f.dateTime(at),
      sameDay: f.shortTime(at, at + 60),
      takeWithGap: lengthText(take, 41),
      takeSaving: lengthText({ state: "finalizing" }, 41),
      takeWhole: lengthText({ ...take, manifest: { ...take.manifest, gaps: [] } }, 41),
    };
  }
  i18n.setLang("zh");
  return out;
}"""


async def test_times_dates_and_take_lengths_in_both_languages(
    server: ServerProcess, new_page: NewPage
) -> None:
    page = await new_page(server, anonymous=True)
    await page.goto(server.url + "/login")
    shown = await page.evaluate(FORMATS)
    assert shown["zh"] == {
        "submitLeft": "6 天 23 小时",
        "hoursLeft": "2 小时 15 分钟",
        "lastHour": "01:35",
        "limit": "1 分钟 30 秒",
        "date": "2026年12月5日",
        "dateTime": "2026年12月5日 14:30",
        "sameDay": "14:30",
        "takeWithGap": "录制 35 秒，中断 1 次（缺 6 秒）",
        "takeSaving": "时长 41 秒",
        "takeWhole": "时长 35 秒",
    }
    assert shown["en"] == {
        "submitLeft": "6 d 23 h",
        "hoursLeft": "2 h 15 min",
        "lastHour": "01:35",
        "limit": "1 min 30 s",
        "date": "5 Dec 2026",
        "dateTime": "5 Dec 2026, 14:30",
        "sameDay": "14:30",
        "takeWithGap": "35 s recorded, interrupted 1 time(s) (6 s missing)",
        "takeSaving": "41 s long",
        "takeWhole": "35 s long",
    }


async def test_log_in_page_states_the_supported_devices_and_checks_the_browser(
    server: ServerProcess, new_page: NewPage, playwright: Playwright
) -> None:
    phone = await new_page(server, anonymous=True, **playwright.devices["Pixel 7"])
    await phone.goto(server.url + "/login")
    support = phone.get_by_test_id("device-support")
    await expect(support).to_contain_text("Android 6 及以上或 iOS 11 及以上")
    await expect(phone.get_by_test_id("browser-check")).to_have_text(
        "本浏览器检查通过：可以使用摄像头和麦克风在线录制。"
    )
    await phone.get_by_test_id("lang-toggle").click()
    await expect(support).to_contain_text("Android 6 or later or iOS 11 or later")
    await expect(phone.get_by_test_id("browser-check")).to_contain_text("passed the check")

    old = "Mozilla/5.0 (Linux; Android 5.1.1; SM-J120F) AppleWebKit/537.36 (KHTML, like Gecko)"
    too_old = await new_page(server, anonymous=True, user_agent=old + " Chrome/60.0 Mobile")
    await too_old.goto(server.url + "/login")
    await expect(too_old.get_by_test_id("browser-check")).to_have_text(
        "此设备的 Android 版本为 5，低于要求的 Android 6：请换用符合要求的设备。"
    )
    await expect(too_old.get_by_test_id("browser-check")).to_have_attribute("data-kind", "error")


async def test_lang_in_the_address_switches_the_page_and_is_remembered(
    server: ServerProcess, new_page: NewPage
) -> None:
    page = await new_page(server, anonymous=True)
    await page.goto(server.url + "/login?lang=en&next=/journey")
    await expect(page.get_by_test_id("title")).to_have_text("Log in")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    # Remembered as the page's own switch does: the next page, without ?lang, stays English.
    await page.goto(server.url + "/login")
    await expect(page.get_by_test_id("title")).to_have_text("Log in")
    await page.goto(server.url + "/login?lang=fr")  # no such catalogue: the choice stands
    await expect(page.get_by_test_id("title")).to_have_text("Log in")
    await page.goto(server.url + "/login?lang=zh")
    await expect(page.get_by_test_id("title")).to_have_text("登录")
    assert await page.evaluate("localStorage.getItem('examcast.lang')") == "zh"


LOST_UNIT = "20010"  # this test's own unit: other tests' exams stay out of its list


async def test_a_lost_file_of_a_submitted_answer_is_sent_again(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright, tmp_path: Path
) -> None:
    who = new_candidate("王五")
    page = await new_page(server, anonymous=True, viewport=ViewportSize(width=1280, height=900))
    await register(page.request, server, who)
    await log_in(page.request, server, who)
    await page.context.add_init_script(SMALL_CHUNKS)
    admin = await unit_admin(playwright, server, LOST_UNIT)
    exam_id = (await admin.create_exam(uploads_exam(time.time())))["id"]
    account = await through_journey(page, server, admin, device_check=False)
    await verify(page.request, server, account, f"exam:{exam_id}")
    video = tmp_path / "演奏.mp4"
    video.write_bytes(mp4(frames=12, width=640, height=480, noise=True))

    # Part of the video is sent, then the answer is submitted with it unfinished (M3.7).
    await page.goto(f"{server.url}/exams/{exam_id}/questions/works")
    await page.get_by_test_id("open-question").click()
    await expect_state(page, "files")
    await throttle(page, SLOW)
    await page.get_by_test_id("file-input").set_input_files([video])
    row = page.get_by_test_id("upload")
    await offset_reached(row, 2 * CHUNK)
    await row.get_by_test_id("upload-pause").click()
    await expect(row).to_have_attribute("data-state", "paused")
    await page.get_by_test_id("submit-files").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect_state(page, "submitted")

    # The file is lost (another page, the original gone): another one is refused, and the
    # page says what can be done, by when, without the "remove" a submitted answer lacks.
    await page.reload()
    await expect_state(page, "submitted")
    pending = page.get_by_test_id("file").filter(has_text="演奏.mp4")
    await expect(pending).to_have_attribute("data-pending", "true")
    other = tmp_path / "other" / "演奏.mp4"
    other.parent.mkdir()
    other.write_bytes(mp4(frames=2))
    async with page.expect_file_chooser() as chooser:
        await pending.get_by_test_id("resume-file").click()
    await (await chooser.value).set_files(other)
    problem = pending.get_by_test_id("file-problem")
    await expect(problem).to_contain_text("本题已提交，文件不能删除或更换")
    await expect(problem).to_contain_text(re.compile(r"须在 .+ 前上传完"))
    await expect(problem).not_to_contain_text("删除后重新上传")
    await expect(page.get_by_test_id("remove-file")).to_have_count(0)
    await shots.take(page, "lost-file-refused")

    # A copy of it (another name and date, the same bytes): sent again from the start.
    copy = tmp_path / "copy" / "演奏 (1).mp4"
    copy.parent.mkdir()
    copy.write_bytes(video.read_bytes())
    async with page.expect_file_chooser() as chooser:
        await pending.get_by_test_id("resume-file").click()
    await (await chooser.value).set_files(copy)
    again = page.get_by_test_id("upload")
    await expect(again.get_by_test_id("upload-note")).to_contain_text("从头重新上传")
    await shots.take(page, "lost-file-sent-again")
    await throttle(page, -1)
    done = page.get_by_test_id("file").filter(has_text="演奏.mp4")
    await expect(done).to_have_attribute("data-pending", "false", timeout=30_000)
    file_id = await done.get_attribute("data-file-id")
    assert file_id and sha256(stored(server, file_id)) == sha256(video.read_bytes())

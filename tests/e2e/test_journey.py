"""The candidate's admission journey (/journey, MISSION M1.2, M1.3, M2.1–M2.5) in
headless Chromium against a real server: every step through the pages, from the
login page to the exam list, with the refusals the manual describes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, Playwright, expect

from tests.e2e.accounts import Candidate, call, log_in, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.journey_helpers import (
    decide_review,
    make_photo,
    review_staff,
    steps_through_confirmation,
    unit_with_list,
)
from tests.e2e.test_device_check import (
    CATALOGUE_KEYS,
    WATCH_PLAYBACK,
    by_testid,
    expect_state,
    record,
    stored_take,
)
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

LAPTOP = {"width": 1280, "height": 800}
ADMITTED, OTHER, SECOND = "41001", "41002", "41003"


@dataclass(frozen=True)
class Cast:
    """Candidates on the units' admitted lists (registered by each test)."""

    walker: Candidate  # every step through the pages
    phone: Candidate  # on a phone
    mover: Candidate  # admitted by two units: changes unit behind the page's back


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cast(playwright: Playwright, server: ServerProcess) -> AsyncIterator[Cast]:
    people = Cast(new_candidate("林小雨"), new_candidate("陈晨"), new_candidate("吴桐"))
    await unit_with_list(
        playwright,
        server,
        ADMITTED,
        "北京测试音乐学院",
        [people.walker, people.phone, people.mover],
    )
    # Someone else's unit: its list holds another person with the walker's name.
    await unit_with_list(playwright, server, OTHER, "上海测试戏剧学院", [new_candidate("林小雨")])
    await unit_with_list(playwright, server, SECOND, "南京测试艺术学院", [people.mover])
    yield people


async def expect_step(page: Page, step: str) -> None:
    await expect(page.locator("body")).to_have_attribute("data-step", step)


async def expect_verify(page: Page, state: str) -> None:
    await expect(page.locator("body")).to_have_attribute("data-verify", state)


async def assert_fits(page: Page) -> None:
    """Nothing wider than the screen (a phone would zoom out to fit it)."""
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport and width <= viewport["width"], f"the page is {width}px wide"


async def stage_states(page: Page) -> list[str]:
    states = await page.locator("[data-stage]").evaluate_all(
        "items => items.map((li) => li.dataset.progress)"
    )
    return [str(s) for s in states]


async def answer_verification(page: Page, answer: str) -> None:
    await by_testid(page, "verify-answer").fill(answer)
    await by_testid(page, "verify-submit").click()


async def open_journey_logged_in(page: Page, server: ServerProcess, who: Candidate) -> None:
    await register(page.request, server, who)
    await log_in(page.request, server, who)
    await page.goto(server.url + "/journey")


async def test_every_step_from_login_to_the_exam_list(
    server: ServerProcess, new_page: NewPage, shots: Shots, cast: Cast
) -> None:
    who = cast.walker
    page = await new_page(server, anonymous=True, viewport=LAPTOP)
    await register(page.request, server, who)

    # Logging in leads to the journey by default.
    await page.goto(server.url + "/login")
    await by_testid(page, "login-phone").fill(who.phone)
    await by_testid(page, "login-password").fill(who.password)
    await by_testid(page, "login-submit").click()
    await expect(page).to_have_url(re.compile(r"/journey$"))

    # 1. The user agreement and privacy policy: read, tick "agree", continue.
    await expect_step(page, "accept_agreements")
    await expect(by_testid(page, "title")).to_have_text("报考流程")
    await expect(by_testid(page, "account-name")).to_have_text(f"已登录：{who.name}")
    await expect(by_testid(page, "progress-text")).to_have_text(
        "第 1 步（共 7 步）：注册登录 / 实人验证"
    )
    docs = by_testid(page, "agreement-docs").locator("article")
    await expect(docs).to_have_count(2)
    await expect(docs.nth(0)).to_contain_text("用户协议")
    await expect(docs.nth(1)).to_contain_text("隐私政策")
    await shots.take(page, "agreements")
    await by_testid(page, "agree-submit").click()
    await expect(by_testid(page, "agree-error")).to_contain_text("请先勾选")
    await by_testid(page, "agree-check").check()
    await expect(by_testid(page, "agree-error")).to_be_hidden()
    await by_testid(page, "agree-submit").click()

    # The versions accepted are the ones shown.
    await expect_step(page, "verify_identity")
    shown = await docs.evaluate_all("els => els.map((a) => [a.dataset.kind, a.dataset.version])")
    current = (await call(page.request, server, "GET", "/api/agreements"))["documents"]
    assert sorted(map(tuple, shown)) == sorted((d["kind"], d["version"]) for d in current)

    # 2. Real-person verification: a wrong answer is refused, saying how many tries remain.
    await expect_verify(page, "ready")
    await shots.take(page, "verify")
    await by_testid(page, "verify-start").click()
    await expect_verify(page, "answering")
    await expect(by_testid(page, "verify-prompt")).to_have_text("请输入您的证件号码的后 6 位")
    await answer_verification(page, "000000")
    await expect(by_testid(page, "verify-notice")).to_contain_text("验证未通过")
    await expect(by_testid(page, "verify-notice")).to_contain_text("还可以再试 2 次")
    await expect_verify(page, "answering")  # asked again at once
    await expect(by_testid(page, "verify-answer")).to_have_value("")
    await shots.take(page, "verify-wrong")
    await answer_verification(page, who.id_number[-6:])

    # 3. The system notice.
    await expect_step(page, "read_notice")
    await expect(by_testid(page, "notice")).to_have_text("实人验证已通过。")
    await expect(by_testid(page, "notice-title")).to_have_text("系统须知")
    assert await stage_states(page) == ["done", "current", "todo", "todo", "todo", "todo", "todo"]
    await shots.take(page, "notice")
    await by_testid(page, "notice-submit").click()

    # 4. Admission units: one whose list does not hold the candidate is refused with the
    # manual's words and what to check; then the right one.
    await expect_step(page, "choose_unit")
    await expect(by_testid(page, f"unit-{OTHER}")).to_contain_text("上海测试戏剧学院")
    await shots.take(page, "units")
    await by_testid(page, "unit-submit").click()
    await expect(by_testid(page, "units-error")).to_have_text("请先选择一个报考单位。")
    await by_testid(page, f"unit-{OTHER}").click()
    await expect(by_testid(page, "units-error")).to_be_hidden()
    await by_testid(page, "unit-submit").click()
    refused = by_testid(page, "unit-refused")
    await expect(refused).to_contain_text("你不在单位上传的准考名单中")
    await expect(refused).to_contain_text("上海测试戏剧学院")
    details = by_testid(page, "unit-refused-details")
    for text in ("姓名", who.name, "证件类型", "居民身份证", "证件号码", who.id_number):
        await expect(details).to_contain_text(text)
    await expect(by_testid(page, f"unit-{OTHER}")).to_contain_text("名单中没有你")
    await expect_step(page, "choose_unit")
    await shots.take(page, "unit-refused")

    # In English too (and both catalogues have every key the page uses).
    await by_testid(page, "lang-toggle").click()
    await expect(refused).to_contain_text("You are not on the admitted list uploaded by the unit")
    await expect(by_testid(page, "progress-text")).to_have_text(
        "Step 3 of 7: Choose your admission unit"
    )
    await shots.take(page, "unit-refused-en")
    keys = await page.evaluate(CATALOGUE_KEYS)
    assert keys["zh"] == keys["en"], set(keys["zh"]) ^ set(keys["en"])
    assert not keys["missing"], keys["missing"]
    await by_testid(page, "lang-toggle").click()

    await by_testid(page, f"unit-{ADMITTED}").click()
    await by_testid(page, "unit-submit").click()

    # 5. Qualification confirmation: the personal details, 确认无误.
    await expect_step(page, "confirm_details")
    confirm = by_testid(page, "confirm-details")
    for text in ("北京测试音乐学院", who.name, "居民身份证", who.id_number, who.phone):
        await expect(confirm).to_contain_text(text)
    await shots.take(page, "confirm")
    await by_testid(page, "confirm-submit").click()

    # 6. The commitment letter: read, 同意.
    await expect_step(page, "accept_commitment")
    await expect(by_testid(page, "commitment-title")).to_have_text("考试承诺书")
    await expect(by_testid(page, "progress-text")).to_have_text(
        "第 5 步（共 7 步）：阅读并同意承诺书"
    )
    await shots.take(page, "commitment")
    await by_testid(page, "commitment-submit").click()

    # 7. The device check, on its own page, and back.
    await expect_step(page, "device_check")
    assert await stage_states(page) == ["done", "done", "done", "done", "done", "current", "todo"]
    await shots.take(page, "device-step")
    await by_testid(page, "to-device-check").click()
    await expect(page).to_have_url(re.compile(r"/device-check$"))
    await expect_state(page, "preview")
    await expect(by_testid(page, "start-recording")).to_be_enabled()
    await by_testid(page, "start-recording").click()
    await record(page, 3)
    await by_testid(page, "stop-recording").click()
    take = await stored_take(page, server)
    await page.evaluate(WATCH_PLAYBACK)
    await by_testid(page, "play-back").click()
    await expect(by_testid(page, "finish")).to_be_enabled(timeout=20_000)
    played = await page.evaluate("() => window.playedSegments")
    assert played and all(p["frames"] > 0 and p["audioBytes"] > 0 for p in played), played
    await by_testid(page, "finish").click()
    await expect_state(page, "done")
    await expect(by_testid(page, "notice")).to_contain_text("已保存到报名系统")
    await shots.take(page, "device-check-done")
    await by_testid(page, "continue-journey").click()

    # 8. The journey is complete: on to the exam list.
    await expect(page).to_have_url(re.compile(r"/journey$"))
    await expect_step(page, "exams")
    await expect(by_testid(page, "to-exams")).to_have_attribute("href", "/exams")
    assert await stage_states(page) == ["done", "done", "done", "done", "done", "done", "current"]
    journey = (await call(page.request, server, "GET", "/api/me"))["journey"]
    assert journey["next_step"] == "exams", journey
    assert take["purpose"] == "device_check", take
    await shots.take(page, "exams-step")


async def test_cancel_waits_and_three_failures_lead_to_manual_review(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    # Cancelling: the server's one-minute wait, counted down on the page.
    page = await new_page(server, viewport=LAPTOP)
    await page.goto(server.url + "/journey")
    await by_testid(page, "agree-check").check()
    await by_testid(page, "agree-submit").click()
    await by_testid(page, "verify-start").click()
    await expect_verify(page, "answering")
    await by_testid(page, "verify-cancel").click()
    await expect_verify(page, "waiting")
    status = by_testid(page, "verify-status")
    await expect(status).to_contain_text("秒后可以重新验证")
    await expect(by_testid(page, "verify-start")).to_be_disabled()
    await expect(by_testid(page, "verify-start")).to_have_text(
        re.compile(r"^[56]\d 秒后可重新验证$")
    )
    first = int(await status.get_attribute("data-seconds") or 0)
    assert 55 <= first <= 60, first
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=verify-status]').dataset.seconds) < s",
        arg=first,
    )
    await shots.take(page, "cancel-wait")

    # Three wrong answers in a row: automatic verification closes, manual review opens.
    who = new_candidate("赵六")
    page = await new_page(server, anonymous=True, viewport=LAPTOP)
    await open_journey_logged_in(page, server, who)
    await by_testid(page, "agree-check").check()
    await by_testid(page, "agree-submit").click()
    await by_testid(page, "verify-start").click()
    for left in (2, 1):
        await answer_verification(page, "000000")
        await expect(by_testid(page, "verify-notice")).to_contain_text(f"还可以再试 {left} 次")
    await answer_verification(page, "000000")
    await expect_verify(page, "manual_review")
    await expect(by_testid(page, "verify-notice")).to_have_text("连续 3 次验证未通过。")
    await expect(by_testid(page, "review-size")).to_have_text(
        "照片须为 JPEG 或 PNG 格式，不超过 8 MB。"
    )
    await shots.take(page, "manual-review")

    # Not a picture: refused on the page. A JPEG: previewed, sent, waiting for staff.
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a photo")
    await by_testid(page, "review-photo").set_input_files(text_file)
    await expect(by_testid(page, "verify-notice")).to_contain_text("只能上传 JPEG 或 PNG")
    await by_testid(page, "review-photo").set_input_files(make_photo(tmp_path))
    await expect(by_testid(page, "review-preview")).to_be_visible()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=review-preview]').naturalWidth === 640"
    )
    await expect(by_testid(page, "review-file")).to_contain_text("holding-id.jpg")
    await shots.take(page, "photo-chosen")
    await by_testid(page, "review-submit").click()
    await expect_verify(page, "review_pending")
    await expect(by_testid(page, "verify-status")).to_contain_text("正在等待工作人员审核")
    await by_testid(page, "review-refresh").click()
    await expect(by_testid(page, "verify-notice")).to_have_text("仍在审核中，请稍后再查看。")
    await shots.take(page, "review-pending")

    # Staff approve: the page shows the outcome and the journey goes on.
    staff = await review_staff(playwright, server)
    try:
        await decide_review(staff, server, who.name, "approve")
    finally:
        await staff.dispose()
    await by_testid(page, "review-refresh").click()
    await expect_step(page, "read_notice")
    await expect(by_testid(page, "notice")).to_have_text("人工审核已通过，实人验证完成。")
    await shots.take(page, "review-approved")


async def test_a_phone_shows_the_steps_readably(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright, cast: Cast
) -> None:
    who = cast.phone
    # Late in the evening: dark mode.
    page = await new_page(
        server, anonymous=True, color_scheme="dark", **playwright.devices["Pixel 7"]
    )
    # Not logged in: to the login page, which comes back here.
    await page.goto(server.url + "/journey")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fjourney$"))
    await open_journey_logged_in(page, server, who)
    await expect_step(page, "accept_agreements")
    await expect(by_testid(page, "agree-submit")).to_be_visible()
    await assert_fits(page)
    await shots.take(page, "phone-agreements")
    await by_testid(page, "agree-check").tap()
    await by_testid(page, "agree-submit").tap()

    await by_testid(page, "verify-start").tap()
    await answer_verification(page, who.id_number[-6:])
    await expect_step(page, "read_notice")
    await assert_fits(page)
    await shots.take(page, "phone-notice")
    await by_testid(page, "notice-submit").tap()

    await expect_step(page, "choose_unit")
    await by_testid(page, f"unit-{OTHER}").tap()
    await by_testid(page, "unit-submit").tap()
    await expect(by_testid(page, "unit-refused")).to_contain_text("你不在单位上传的准考名单中")
    await assert_fits(page)
    await shots.take(page, "phone-unit-refused")

    await by_testid(page, f"unit-{ADMITTED}").tap()
    await by_testid(page, "unit-submit").tap()
    await expect_step(page, "confirm_details")
    await assert_fits(page)
    await shots.take(page, "phone-confirm")

    # 退出登录 ends the session.
    await by_testid(page, "log-out").tap()
    await expect(page).to_have_url(re.compile(r"/login$"))
    assert (await page.request.get(server.url + "/api/me")).status == 401


async def test_a_refused_step_sends_the_page_to_the_step_required(
    server: ServerProcess, new_page: NewPage, shots: Shots, cast: Cast
) -> None:
    who = cast.mover
    page = await new_page(server, anonymous=True, viewport=LAPTOP)
    await register(page.request, server, who)
    await log_in(page.request, server, who)
    await steps_through_confirmation(page.request, server, who, ADMITTED)
    await page.goto(server.url + "/journey")
    await expect_step(page, "accept_commitment")

    # In another tab the candidate chooses the other unit that admits them: that
    # unit's details are not confirmed, so agreeing to the letter here is refused.
    await call(page.request, server, "POST", f"/api/units/{SECOND}/choose")
    await by_testid(page, "commitment-submit").click()
    await expect_step(page, "confirm_details")
    await expect(by_testid(page, "notice")).to_have_text("需要先确认个人信息，已为你转到这一步。")
    await expect(by_testid(page, "confirm-details")).to_contain_text("南京测试艺术学院")
    await shots.take(page, "sent-back")

    # "更换报考单位" goes back to the list; the first unit's confirmation still holds.
    await by_testid(page, "change-unit").click()
    await expect_step(page, "choose_unit")
    await expect(by_testid(page, f"unit-{SECOND}")).to_contain_text("当前选择")
    await by_testid(page, f"unit-{ADMITTED}").click()
    await by_testid(page, "unit-submit").click()
    await expect_step(page, "accept_commitment")
    await by_testid(page, "commitment-submit").click()
    await expect_step(page, "device_check")

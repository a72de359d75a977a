"""The log-in page's forgotten-password flow (忘记密码) and a staff log-in's second step
(setting up the authenticator at the first log-in, then a code) in headless Chromium
against a real ``examcast serve`` that requires two-step log-in for staff."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Playwright, expect

from tests.e2e.accounts import Candidate, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.console_helpers import DESK, log_in_on_page, make_photo, staff
from tests.e2e.test_device_check import by_testid
from tests.support.process import SMS_RESEND_S, ServerProcess, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

NEW_PASSWORD = "violet-harbour-73"


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server as shipped: staff must set up two-step log-in."""
    running = start_server(
        tmp_path_factory.mktemp("strict") / "data",
        "--staff-two-factor",
        "required",
    )
    yield running
    running.stop()


def sms_count(server: ServerProcess, phone: str) -> int:
    return len(re.findall(rf"SMS to {phone} ", server.log()))


def next_sms_code(server: ServerProcess, phone: str, before: int, timeout: float = 10) -> str:
    """The code of the SMS to ``phone`` that comes after the ``before`` seen so far."""
    deadline = time.monotonic() + timeout
    while sms_count(server, phone) <= before:
        assert time.monotonic() < deadline, f"no new SMS to {phone}"
        time.sleep(0.05)
    return server.sms_code(phone)


async def test_forgotten_password_is_reset_with_an_sms_code(
    strict_server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    server = strict_server
    page = await new_page(server, anonymous=True)
    who = new_candidate("韩梅梅")
    await register(page.context.request, server, who)
    await page.goto(server.url + "/login")
    await by_testid(page, "login-phone").fill(who.phone)
    await by_testid(page, "to-reset").click()
    await expect(by_testid(page, "title")).to_have_text("找回密码")
    await expect(by_testid(page, "reset-phone")).to_have_value(who.phone)

    seen = sms_count(server, who.phone)
    # One code per SMS_RESEND_S per phone: the registration code a moment ago counts.
    await by_testid(page, "reset-send-code").click()
    await expect(by_testid(page, "reset-error")).to_contain_text("获取验证码太频繁")
    await expect(by_testid(page, "reset-send-code")).to_be_disabled()
    await expect(by_testid(page, "reset-send-code")).to_be_enabled(
        timeout=(SMS_RESEND_S + 10) * 1000
    )
    await by_testid(page, "reset-send-code").click()
    await expect(by_testid(page, "reset-code-status")).to_contain_text("验证码已发送到")
    code = await asyncio.to_thread(next_sms_code, server, who.phone, seen)
    assert "重置密码验证码" in server.log()

    await by_testid(page, "reset-code").fill(code)
    await by_testid(page, "reset-password").fill("aaaaaaaa")
    await by_testid(page, "reset-submit").click()
    await expect(page.locator("#reset-password-error")).to_have_text(
        "密码由重复的字符组成（如 aaaaaaaa、abcabcabc），太容易被猜中，请换一个。"
    )
    await shots.take(page, "reset-weak-password")
    await by_testid(page, "reset-password").fill(NEW_PASSWORD)
    await by_testid(page, "reset-submit").click()

    await expect(by_testid(page, "title")).to_have_text("登录")
    await expect(by_testid(page, "login-error")).to_have_text("新密码已设置，请用新密码登录。")
    await expect(by_testid(page, "login-phone")).to_have_value(who.phone)
    await by_testid(page, "login-password").fill(who.password)
    await by_testid(page, "login-submit").click()
    await expect(by_testid(page, "login-error")).to_contain_text("手机号或密码不正确")
    await by_testid(page, "login-password").fill(NEW_PASSWORD)
    await by_testid(page, "login-submit").click()
    await expect(page).to_have_url(re.compile(r"/journey$"))


async def test_staff_set_up_the_authenticator_at_first_log_in_then_give_a_code(
    strict_server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    server = strict_server
    page = await new_page(server, anonymous=True)
    who = new_candidate("监考老师")
    await register(page.context.request, server, who)
    await asyncio.to_thread(server.admin, "grant", who.phone, "proctor")

    await page.goto(server.url + "/login")
    await by_testid(page, "login-phone").fill(who.phone)
    await by_testid(page, "login-password").fill(who.password)
    await by_testid(page, "login-submit").click()
    await expect(by_testid(page, "second-form")).to_be_visible()
    await expect(by_testid(page, "second-intro")).to_contain_text("工作人员账号需要两步登录")
    await expect(by_testid(page, "totp-qr").locator("svg")).to_be_visible()
    secret = (await by_testid(page, "totp-secret").inner_text()).replace(" ", "")
    totp = pyotp.TOTP(secret)
    await shots.take(page, "totp-enrol")

    await by_testid(page, "second-code").fill("000000" if totp.now() != "000000" else "111111")
    await by_testid(page, "second-submit").click()
    await expect(by_testid(page, "second-error")).to_have_text(
        "动态码不正确或已用过，请输入应用当前显示的动态码。"
    )
    await by_testid(page, "second-code").fill(totp.now())
    await by_testid(page, "second-submit").click()
    await expect(by_testid(page, "recovery-codes").locator("li")).to_have_count(10)
    await shots.take(page, "totp-recovery-codes")
    await by_testid(page, "recovery-continue").click()
    await expect(page).to_have_url(re.compile(r"/console/proctor$"))
    status = await page.context.request.get(server.url + "/api/account/two-factor")
    assert (await status.json())["enrolled"] is True

    # The next log-in asks for a code. The one just used is spent: the next step's code
    # (accepted as one step of clock drift) works at once.
    # Leave the proctor page first: without its cookie it would send itself to the log-in
    # page while we navigate there too.
    await page.goto("about:blank")
    await page.context.clear_cookies()
    await page.goto(server.url + "/login")
    await by_testid(page, "login-phone").fill(who.phone)
    await by_testid(page, "login-password").fill(who.password)
    await by_testid(page, "login-submit").click()
    await expect(by_testid(page, "second-intro")).to_contain_text("输入显示的 6 位动态码")
    await expect(by_testid(page, "enrol")).to_be_hidden()
    await by_testid(page, "second-code").fill(totp.at(time.time() + 30))
    await by_testid(page, "second-submit").click()
    await expect(page).to_have_url(re.compile(r"/console/proctor$"))
    me = await page.context.request.get(server.url + "/api/me")
    assert (await me.json())["account"]["role"] == "proctor"


async def test_an_identity_claim_from_the_register_page_approved_on_the_review_page(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    """Someone registered 王芳's ID number first; 王芳 claims it back from the register
    form, review staff approve it, and she logs in and changes her password."""
    real = new_candidate("王芳")
    squatter = Candidate(new_candidate("王芳").phone, "王芳", real.id_number)
    http = await playwright.request.new_context()
    try:
        await register(http, server, squatter)
    finally:
        await http.dispose()
    photo = await asyncio.to_thread(make_photo, tmp_path)

    page = await new_page(server, anonymous=True)
    await page.goto(server.url + "/login#register")
    await by_testid(page, "register-phone").fill(real.phone)
    await by_testid(page, "send-code").click()
    await expect(by_testid(page, "code-status")).to_contain_text("验证码已发送")
    await by_testid(page, "register-code").fill(
        await asyncio.to_thread(server.sms_code, real.phone)
    )
    await by_testid(page, "register-name").fill(real.name)
    await by_testid(page, "register-id-number").fill(real.id_number)
    await by_testid(page, "register-password").fill(real.password)
    await by_testid(page, "register-submit").click()
    await expect(by_testid(page, "register-error")).to_contain_text("这个证件号码已经注册过账号")
    await by_testid(page, "to-claim").click()
    await expect(by_testid(page, "title")).to_have_text("身份申诉")
    await expect(by_testid(page, "claim-id-number")).to_have_value(real.id_number)
    await expect(by_testid(page, "claim-phone")).to_have_value(real.phone)

    # The registration spent its code: a new one, once SMS_RESEND_S is over.
    seen = sms_count(server, real.phone)
    await expect(by_testid(page, "claim-send-code")).to_be_enabled(
        timeout=(SMS_RESEND_S + 10) * 1000
    )
    await by_testid(page, "claim-send-code").click()
    code = await asyncio.to_thread(next_sms_code, server, real.phone, seen)
    await by_testid(page, "claim-code").fill(code)
    await by_testid(page, "claim-photo").set_input_files(photo)
    await by_testid(page, "claim-submit").click()
    await expect(by_testid(page, "claim-done")).to_contain_text("申诉已提交")
    await shots.take(page, "claim-filed")

    reviewer = await staff(playwright, server, "申诉审核员", "staff_reviewer")
    desk = await new_page(server, anonymous=True, **DESK)
    await desk.goto(server.url + "/console/reviews")
    await log_in_on_page(desk, reviewer)
    card = by_testid(desk, "claim").filter(has_text=real.id_number)
    await expect(card).to_have_count(1)
    await expect(by_testid(card, "claim-registered")).to_contain_text("王芳")
    await shots.take(desk, "claim-queue")
    await by_testid(card, "claim-approve").click()
    await expect(by_testid(card, "claim-state")).to_have_text("已通过")

    # 王芳 logs in with the claim's password, and changes it on her account page.
    await page.goto(server.url + "/login")
    await by_testid(page, "login-phone").fill(real.phone)
    await by_testid(page, "login-password").fill(real.password)
    await by_testid(page, "login-submit").click()
    await expect(page).to_have_url(re.compile(r"/journey$"))
    await page.goto(server.url + "/account")
    await by_testid(page, "old-password").fill(real.password)
    await by_testid(page, "new-password").fill("password1")
    await by_testid(page, "password-submit").click()
    await expect(page.locator("#new-password-error")).to_contain_text("最常见的密码")
    await by_testid(page, "new-password").fill(NEW_PASSWORD)
    await by_testid(page, "password-submit").click()
    await expect(by_testid(page, "password-done")).to_be_visible()
    await expect(by_testid(page, "totp-form")).to_be_hidden()  # candidates: no second step
    await shots.take(page, "account-password-changed")


async def test_staff_turn_on_two_step_log_in_on_the_account_page(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    """Where staff may choose (this server: --staff-two-factor optional)."""
    proctor = await staff(playwright, server, "自愿开启", "proctor")
    page = await new_page(server, anonymous=True)
    await page.goto(server.url + "/login?next=/account")
    await log_in_on_page(page, proctor)
    await expect(page).to_have_url(re.compile(r"/account$"))
    await expect(by_testid(page, "totp-status")).to_contain_text("两步登录未开启")
    await by_testid(page, "totp-begin").click()
    await expect(by_testid(page, "totp-qr").locator("svg")).to_be_visible()
    secret = (await by_testid(page, "totp-secret").inner_text()).replace(" ", "")
    await by_testid(page, "totp-code").fill(pyotp.TOTP(secret).now())
    await by_testid(page, "totp-submit").click()
    await expect(by_testid(page, "recovery-codes").locator("li")).to_have_count(10)
    await expect(by_testid(page, "totp-status")).to_contain_text("剩余恢复码 10 个")
    await shots.take(page, "account-totp-on")
    response = await page.context.request.post(
        server.url + "/api/session",
        data={"phone": proctor.phone, "password": proctor.password},
        headers={"Origin": server.url},
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "second_factor_required"

"""The login page (登录 / 注册账号) in headless Chromium against a real server, and the
device check sending a candidate without a session there."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest
from playwright.async_api import Page, Playwright, expect

from tests.e2e.accounts import log_in, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.test_device_check import (
    CATALOGUE_KEYS,
    by_testid,
    expect_live_preview,
    expect_state,
)
from tests.support.process import SMS_RESEND_S, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

LOGIN_FOR_DEVICE_CHECK = re.compile(r"/login\?next=" + re.escape(quote("/device-check", safe="")))


NEXT_PATHS = {
    "/device-check?x=1#y": "/device-check?x=1#y",
    "/exams/3": "/exams/3",
    "//evil.example/": "/journey",
    "/\\evil.example/": "/journey",
    "https://evil.example/": "/journey",
    "javascript:alert(1)": "/journey",
    "/login?next=/login": "/journey",
    "": "/journey",
}
SAFE_NEXT = """async (paths) => {
  const { safeNext } = await import("/static/js/lib/api.js");
  return paths.map(safeNext);
}"""


async def expect_device_check(page: Page) -> None:
    await expect(page).to_have_url(re.compile(r"/device-check$"))
    await expect_state(page, "preview")
    await expect_live_preview(page)
    await expect(by_testid(page, "connection")).to_have_attribute("data-state", "connected")


async def test_register_a_new_candidate_on_the_page(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    # A phone late in the evening: dark mode.
    phone = playwright.devices["Pixel 7"]
    page = await new_page(server, anonymous=True, color_scheme="dark", **phone)
    await page.goto(server.url + "/login?next=/device-check")
    await expect(by_testid(page, "title")).to_have_text("登录")
    await shots.take(page, "login")

    await by_testid(page, "to-register").click()
    await expect(by_testid(page, "title")).to_have_text("注册账号")
    await expect(by_testid(page, "register-id-type")).to_have_value("resident_id")
    await expect(by_testid(page, "register-id-type").locator("option")).not_to_have_count(0)

    # Nothing filled in: every field says so, in Chinese, before anything is sent.
    await by_testid(page, "register-submit").click()
    await expect(by_testid(page, "register-error")).to_have_text("请按提示修改标红的项目。")
    await expect(by_testid(page, "register-phone")).to_have_attribute("aria-invalid", "true")
    await shots.take(page, "register-empty")

    # The SMS code: sent, the button counts down the wait before another may be sent.
    who = new_candidate("李小明")
    await by_testid(page, "register-phone").fill(who.phone)
    await by_testid(page, "send-code").click()
    await expect(by_testid(page, "code-status")).to_contain_text("验证码已发送到 136****")
    await expect(by_testid(page, "send-code")).to_be_disabled()
    await expect(by_testid(page, "send-code")).to_have_text(
        re.compile(rf"^([1-9]|{SMS_RESEND_S}) 秒后重新获取$")
    )
    code = await asyncio.to_thread(server.sms_code, who.phone)

    # A wrong ID number and a weak password are refused, with the fields marked.
    await by_testid(page, "register-code").fill(code)
    await by_testid(page, "register-name").fill(who.name)
    wrong_check = who.id_number[:-1] + ("1" if who.id_number[-1] != "1" else "2")
    await by_testid(page, "register-id-number").fill(wrong_check)
    await by_testid(page, "register-password").fill("123456789")
    await by_testid(page, "register-submit").click()
    await expect(by_testid(page, "register-id-number")).to_have_attribute("aria-invalid", "true")
    await expect(by_testid(page, "register-password")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#reg-password-error")).to_contain_text("不能全是数字")
    await shots.take(page, "register-invalid")

    await by_testid(page, "register-id-number").fill(who.id_number)
    await by_testid(page, "register-password").fill(who.password)
    await expect(by_testid(page, "register-error")).to_be_hidden()

    # A mistyped SMS code: the server counts the try and says how many are left.
    await by_testid(page, "register-code").fill(f"{(int(code) + 1) % 10**6:06d}")
    await by_testid(page, "register-submit").click()
    await expect(by_testid(page, "register-error")).to_contain_text("还可以再试 4 次")
    await expect(by_testid(page, "register-code")).to_have_attribute("aria-invalid", "true")
    await by_testid(page, "register-code").fill(code)
    await expect(by_testid(page, "register-error")).to_be_hidden()
    await shots.take(page, "register-filled")
    await by_testid(page, "register-submit").click()

    # Registered and logged in: straight on to the device check, which goes live.
    await expect_device_check(page)
    await expect(by_testid(page, "account-name")).to_have_text(f"已登录：{who.name}")
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= phone["viewport"]["width"], f"the page is {width}px wide on a phone"
    await shots.take(page, "device-check")


async def test_an_anonymous_visit_goes_to_the_login_page(
    server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    page = await new_page(server, anonymous=True)
    who = new_candidate()
    await register(page.request, server, who)  # registered elsewhere, not logged in here

    await page.goto(server.url + "/device-check")
    await expect(page).to_have_url(LOGIN_FOR_DEVICE_CHECK)
    await expect(by_testid(page, "title")).to_have_text("登录")
    await expect(by_testid(page, "session-ended")).to_be_hidden()

    # A wrong password: said plainly, in Chinese, and in English after the switch.
    await by_testid(page, "login-phone").fill(who.phone)
    await by_testid(page, "login-password").fill("not-the-password")
    await by_testid(page, "login-submit").click()
    error = by_testid(page, "login-error")
    await expect(error).to_contain_text("手机号或密码不正确")
    await shots.take(page, "wrong-password")
    await by_testid(page, "lang-toggle").click()
    await expect(error).to_contain_text("The phone number or the password is wrong")
    await expect(by_testid(page, "login-submit")).to_have_text("Log in")
    await shots.take(page, "wrong-password-en")
    keys = await page.evaluate(CATALOGUE_KEYS)
    assert keys["zh"] == keys["en"], set(keys["zh"]) ^ set(keys["en"])
    assert not keys["missing"], keys["missing"]
    await by_testid(page, "lang-toggle").click()

    # After logging in the page goes only to a path of this site.
    nexts = await page.evaluate(SAFE_NEXT, list(NEXT_PATHS))
    assert nexts == list(NEXT_PATHS.values()), dict(zip(NEXT_PATHS, nexts, strict=True))

    await by_testid(page, "login-password").fill(who.password)
    await by_testid(page, "login-password").press("Enter")
    await expect_device_check(page)


async def test_log_out_and_a_session_that_ends(
    server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    page = await new_page(server, anonymous=True)
    who = new_candidate()
    await register(page.request, server, who)
    await log_in(page.request, server, who)

    # Already logged in, the login page says as whom and goes on from there.
    await page.goto(server.url + "/login?next=/device-check")
    await expect(by_testid(page, "signed-in-text")).to_contain_text(f"你已登录：{who.name}")
    await by_testid(page, "continue").click()
    await expect_state(page, "preview")

    # "退出登录" ends the session and shows the login page, which comes back here.
    await by_testid(page, "log-out").click()
    await expect(page).to_have_url(LOGIN_FOR_DEVICE_CHECK)
    assert (await page.request.get(server.url + "/api/me")).status == 401
    await by_testid(page, "login-phone").fill(who.phone)
    await by_testid(page, "login-password").fill(who.password)
    await by_testid(page, "login-submit").click()
    await expect_device_check(page)

    # The session ends while the page is open (logged out in another tab): the server
    # closes the page's socket at once; reconnecting, it is refused and the page goes to
    # log in again.
    ended = await page.request.delete(server.url + "/api/session", headers={"Origin": server.url})
    assert ended.status == 204, await ended.text()
    await expect(page).to_have_url(LOGIN_FOR_DEVICE_CHECK)
    await expect(by_testid(page, "session-ended")).to_contain_text("登录已失效")
    await shots.take(page, "session-ended")

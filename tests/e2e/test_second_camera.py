"""The second camera (二机位, MISSION M3.5) in headless Chromium against a real server.

One candidate, two browser contexts of the same account: a laptop on the question
page and a phone (Playwright's "Pixel 7") on the page the QR code opens. The fake
camera is browser-wide, so both send the same clip. The laptop shows the code, the
phone logs in, joins and taps Ready, the laptop records a formal take, the phone
follows and stores its part; both files are opened with PyAV and the laptop plays
them side by side. A second take: the phone taps Ready again, then stops its camera
while the laptop records, and the laptop warns at once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Locator, Page, Playwright, ViewportSize, expect

from tests.e2e.accounts import call, log_in, signed_up
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.console_helpers import staff
from tests.e2e.exam_helpers import through_journey, unit_admin, verify
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20005"  # the second camera's own unit: other tests' exams stay out of its list
DESKTOP = ViewportSize(width=1280, height=860)
RECORD_S = 3


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


async def expect_state(page: Page, state: str, timeout_s: float = 15) -> None:
    await expect(page.locator("body")).to_have_attribute(
        "data-state", state, timeout=timeout_s * 1000
    )


async def elapsed(page: Page, seconds: int) -> None:
    """Wait until the page shows ``seconds`` recorded (by the server's clock)."""
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=rec-elapsed]').dataset.seconds) >= s",
        arg=seconds,
        timeout=(seconds + 10) * 1000,
    )


async def confirm(page: Page, expected: str) -> None:
    await expect(by_testid(page, "confirm-text")).to_contain_text(expected)
    await by_testid(page, "confirm-ok").click()
    await expect(by_testid(page, "confirm-dialog")).to_be_hidden()


async def fits(page: Page) -> None:
    """No sideways scrolling on the phone."""
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport and width <= viewport["width"], f"the page is {width}px wide"


async def phone_sized(page: Page, shots: Shots, name: str) -> None:
    """A screenshot of ``page`` on a phone-sized screen (the first device may be a phone)."""
    size = page.viewport_size
    await page.set_viewport_size(ViewportSize(width=412, height=915))
    await fits(page)
    await shots.take(page, name)
    if size:
        await page.set_viewport_size(size)


# Both cameras play, each past ``s`` seconds, at the same moment of the take (100 ms apart
# at most: the page moves the second camera back in line past 200 ms).
IN_SYNC = """(s) => {
  const [a, b] = ["dual-primary", "dual-secondary"].map(
    (id) => document.querySelector(`[data-testid=${id}]`));
  return a.currentTime > s && b.currentTime > s - 0.3 && !a.paused && !b.paused
    && Math.abs(Number(a.dataset.takeTime) - Number(b.dataset.takeTime)) < 0.1;
}"""


def exam_body(now: float) -> dict[str, Any]:
    return {
        "title": "2027 舞蹈专业考试",
        "instructions": "一机位拍正面，二机位从侧面拍全身。",
        "time_requirements": "进入正式答题后 10 分钟内提交。",
        "opens_at": now - 60,
        "closes_at": now + 3600,
        "questions": [
            {
                "id": "dance",
                "order": 1,
                "mode": "online",
                "title": "自选舞蹈",
                "prompt": "表演一段自选舞蹈，二机位从侧面拍摄全身。",
                "reading_limit_s": None,  # unlimited: the candidate starts by hand
                "recording_limit_s": 60,
                "submission_limit_s": 600,
                "rehearsal_allowed": True,
                "rehearsal_count": 1,
                "formal_count": 2,
                "formal_playback_allowed": True,
                "second_camera_required": True,
            }
        ],
    }


def vp8_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "vp8", path
        return sum(1 for _ in container.decode(stream))


async def test_a_phone_joins_as_the_second_camera(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    laptop = await new_page(server, anonymous=True, viewport=DESKTOP)
    who = await signed_up(laptop.request, server)
    admin = await unit_admin(playwright, server, UNIT)
    exam_id = (await admin.create_exam(exam_body(time.time())))["id"]
    account = await through_journey(laptop, server, admin)
    await verify(laptop.request, server, account, f"exam:{exam_id}")
    question = f"/exams/{exam_id}/questions/dance"

    # 排练: the QR code and its link appear on the laptop.
    await laptop.goto(server.url + question)
    await expect(by_testid(laptop, "second-camera")).to_be_visible()
    await expect(by_testid(laptop, "rehearse")).to_be_enabled(timeout=20_000)
    await by_testid(laptop, "rehearse").click()
    await expect_state(laptop, "reading")
    await expect(by_testid(laptop, "pair-qr").locator("svg path")).not_to_have_count(0)
    link = by_testid(laptop, "pair-link")
    await expect(link).to_contain_text("/pair?token=")
    await expect(by_testid(laptop, "second-state")).to_have_text("未配对")
    # Served on loopback: the laptop is told no phone can open this code, and how to fix it.
    await expect(by_testid(laptop, "pair-reach-text")).to_contain_text("手机扫描后无法打开")
    await expect(by_testid(laptop, "pair-reach-options")).to_contain_text("--public-url https://")
    await expect(by_testid(laptop, "pair-reach-options")).to_contain_text("--tls self-signed")
    await shots.take(laptop, "laptop-qr-code")
    await phone_sized(laptop, shots, "laptop-qr-code-narrow")
    pair_url = (await link.text_content() or "").strip()

    # The phone opens the link, logs in first, comes back and joins.
    # A phone late in the evening: dark mode.
    device = playwright.devices["Pixel 7"]
    phone = await new_page(server, anonymous=True, color_scheme="dark", **device)
    await phone.goto(pair_url)
    await phone.wait_for_url("**/login?next=*")
    await expect(by_testid(phone, "pair-joining")).to_contain_text("这台手机将作为二机位加入考试")
    await expect(by_testid(phone, "login-intro")).to_be_hidden()  # no admission steps next
    await by_testid(phone, "login-phone").fill(who.phone)
    await by_testid(phone, "login-password").fill(who.password)
    await shots.take(phone, "phone-login")
    await by_testid(phone, "login-submit").click()
    await expect_state(phone, "connected", timeout_s=20)
    assert phone.url.endswith("/pair"), phone.url  # the used token is out of the history
    await expect(by_testid(phone, "pair-for")).to_contain_text("自选舞蹈")
    await expect(by_testid(phone, "ready")).to_be_enabled()
    await expect(by_testid(laptop, "second-state")).to_have_text("已连接，待就绪")
    await expect(by_testid(laptop, "pair-code")).to_be_hidden()
    await fits(phone)
    await shots.take(phone, "phone-connected")

    # The same code again (another tab of the phone): refused, with what to do.
    replay = await phone.context.new_page()
    await replay.goto(pair_url)
    await expect_state(replay, "error")
    await expect(by_testid(replay, "pair-error")).to_have_attribute("data-code", "pairing_used")
    await expect(by_testid(replay, "error-title")).to_have_text("二维码已使用过")
    await shots.take(replay, "phone-code-used")
    await by_testid(replay, "lang-toggle").click()
    await expect(by_testid(replay, "error-title")).to_have_text("QR code already used")
    await expect(by_testid(replay, "title")).to_have_text("Second camera")
    await shots.take(replay, "phone-code-used-en")
    keys = await replay.evaluate(CATALOGUE_KEYS)
    assert keys["zh"] == keys["en"], set(keys["zh"]) ^ set(keys["en"])
    assert not keys["missing"], keys["missing"]
    await by_testid(replay, "lang-toggle").click()  # the choice is remembered: back to 中文
    await replay.close()

    # Ready, a rehearsal with both cameras, played back once side by side.
    await by_testid(phone, "ready").click()
    await expect_state(phone, "ready")
    await expect(by_testid(laptop, "second-state")).to_have_text("已就绪")
    await shots.take(phone, "phone-ready")
    await by_testid(laptop, "start-recording").click()
    await expect_state(phone, "recording")
    await expect(by_testid(phone, "rec-label")).to_have_text("排练录制中")
    await elapsed(laptop, 2)
    await by_testid(laptop, "stop-recording").click()
    await confirm(laptop, "不能继续录制")
    await expect_state(laptop, "rehearsal-review", timeout_s=30)
    await by_testid(laptop, "play-rehearsal").click()
    await expect(by_testid(laptop, "dual")).to_be_visible()
    await laptop.wait_for_function(IN_SYNC, arg=0.5)
    await shots.take(laptop, "laptop-rehearsal-side-by-side")
    await expect_state(laptop, "intro", timeout_s=20)  # played once, to its end
    await expect(by_testid(laptop, "notice")).to_contain_text("不能再次回放")
    await expect_state(phone, "connected")
    await expect(by_testid(phone, "message")).to_contain_text("再点击一次“就绪”")

    # 正式答题: recording can start only once the phone taps Ready again.
    await by_testid(laptop, "enter-formal").click()
    await confirm(laptop, "不能再排练")
    await expect_state(laptop, "reading")
    await expect(by_testid(laptop, "second-state")).to_have_text("已连接，待就绪")
    await expect(by_testid(laptop, "start-recording")).to_be_disabled()
    await by_testid(phone, "ready").click()
    await expect(by_testid(laptop, "second-state")).to_have_text("已就绪")
    await expect(by_testid(laptop, "start-recording")).to_be_enabled()
    await shots.take(laptop, "laptop-phone-ready")

    await by_testid(laptop, "start-recording").click()
    await expect_state(laptop, "recording")
    await expect_state(phone, "recording")
    await expect(by_testid(laptop, "second-state")).to_have_text("二机位录制中")
    await elapsed(phone, 1)
    await elapsed(laptop, RECORD_S)
    await shots.take(phone, "phone-recording")
    await shots.take(laptop, "laptop-recording")

    # The laptop stops: the phone stops by itself and its part is stored.
    await by_testid(laptop, "stop-recording").click()
    await confirm(laptop, "不能继续录制")
    await expect_state(laptop, "answering", timeout_s=30)
    await expect(by_testid(phone, "notice")).to_contain_text("二机位录像已保存", timeout=15_000)
    await expect_state(phone, "connected")
    await expect(by_testid(phone, "message")).to_contain_text("再点击一次“就绪”")
    await shots.take(phone, "phone-stored")

    work = by_testid(laptop, "work")
    await expect(work).to_have_count(1)
    take_id = await work.get_attribute("data-take-id")
    assert take_id
    take = await call(laptop.request, server, "GET", f"/api/takes/{take_id}")
    primary = take["manifest"]["segments"][0]
    secondary = take["manifest"]["cameras"]["secondary"]["segments"][0]
    folder = server.data_dir / "recordings" / take_id
    assert (primary["file"], secondary["file"]) == (
        "segment-000.webm",
        "secondary/segment-000.webm",
    )
    for name in ("segment-000.webm", "secondary/segment-000.webm"):
        assert await asyncio.to_thread(vp8_frames, folder / name) > 0, name

    # Played back side by side, in sync, under one control.
    await by_testid(work, "play-work").click()
    await expect(by_testid(laptop, "dual")).to_be_visible()
    await expect(by_testid(laptop, "playback")).to_be_hidden()
    await laptop.wait_for_function(IN_SYNC, arg=1.0)
    await expect(by_testid(laptop, "dual-toggle")).to_have_text("暂停")
    await by_testid(laptop, "dual-toggle").click()
    await expect(by_testid(laptop, "dual-toggle")).to_have_text("播放")
    paused = await laptop.evaluate(
        """() => ["dual-primary", "dual-secondary"].map(
          (id) => document.querySelector(`[data-testid=${id}]`).paused)"""
    )
    assert paused == [True, True]
    await shots.take(laptop, "laptop-side-by-side")
    await phone_sized(laptop, shots, "laptop-side-by-side-narrow")
    await by_testid(laptop, "close-playback").click()

    # The next take needs Ready again; stopping the phone while recording warns both sides.
    await expect(by_testid(laptop, "record-again")).to_be_disabled()
    await by_testid(phone, "ready").click()
    await expect_state(phone, "ready")
    await expect(by_testid(laptop, "record-again")).to_be_enabled()
    await by_testid(laptop, "record-again").click()
    await confirm(laptop, "还可录 1 次")
    await expect_state(phone, "recording")
    await by_testid(phone, "stop-camera").click()
    await expect(by_testid(phone, "confirm-text")).to_contain_text("第一台设备仍在录制")
    await shots.take(phone, "phone-stop-warning")
    await by_testid(phone, "confirm-ok").click()
    await expect_state(phone, "stopped")
    warning = by_testid(laptop, "second-warning")
    await expect(warning).to_contain_text("二机位已停止，二机位视频可能不完整")
    await expect(by_testid(laptop, "second-alert")).to_contain_text("二机位未在录制")
    await expect(by_testid(laptop, "pair-code")).to_be_visible()  # a new scan rejoins
    await shots.take(laptop, "laptop-second-stopped-warning")
    await shots.take(phone, "phone-stopped")
    await by_testid(laptop, "stop-recording").click()
    await confirm(laptop, "不能继续录制")
    await expect_state(laptop, "answering", timeout_s=30)
    await expect(warning).to_be_hidden()

    # The first take is submitted: the phone's page says its work is done.
    works = by_testid(laptop, "work")
    await expect(works).to_have_count(2)
    await by_testid(works.nth(0), "choose").click()
    await expect(by_testid(works.nth(0), "chosen")).to_be_visible()
    await by_testid(laptop, "submit").click()
    await confirm(laptop, "第 1 次录制")
    await expect_state(laptop, "submitted")
    await expect(by_testid(laptop, "second-camera")).to_be_hidden()
    await expect_state(phone, "done", timeout_s=10)
    await shots.take(phone, "phone-done")

    # The unit's console: both cameras side by side and in sync, each downloadable under a
    # name an admissions office can file (issue #10).
    reviewer = await staff(playwright, server, "王老师", "unit_admin", UNIT)
    console = await new_page(server, anonymous=True, viewport=DESKTOP)
    await log_in(console.request, server, reviewer)
    await console.goto(f"{server.url}/console#exams/{exam_id}/submissions")
    await expect(console.locator("body")).to_have_attribute("data-view", "submissions")
    take_line = by_testid(console, "work-take")
    await expect(take_line).to_have_attribute("data-cameras", "2")
    cameras = by_testid(console, "work-camera")
    await expect(cameras).to_have_count(2)
    await expect(cameras.nth(0)).to_contain_text("一机位")
    await expect(cameras.nth(1)).to_contain_text("二机位")
    await expect(by_testid(cameras.nth(0), "camera-gaps")).to_have_text("无中断")
    await by_testid(take_line, "play").click()
    await expect(by_testid(console, "dual")).to_be_visible()
    await console.wait_for_function(IN_SYNC, arg=1.0)
    left = await by_testid(console, "dual-primary").bounding_box()
    right = await by_testid(console, "dual-secondary").bounding_box()
    assert left and right and left["x"] + left["width"] <= right["x"] + 1, (left, right)
    assert abs(left["y"] - right["y"]) < 2, (left, right)  # side by side, not stacked
    await shots.take(console, "console-both-cameras")
    async with console.expect_download() as started:
        await by_testid(cameras.nth(1), "download").click()
    saved = await started.value
    assert saved.suggested_filename.endswith(f"_{who.name}_{who.id_number}_二机位.webm")
    assert saved.suggested_filename.startswith(
        f"测试音乐学院 {UNIT}_2027 舞蹈专业考试_第1题-自选舞蹈"
    )
    path = tmp_path / "second.webm"
    await saved.save_as(path)
    assert await asyncio.to_thread(vp8_frames, path) > 0
    await by_testid(console, "dual-toggle").click()
    await expect(by_testid(console, "dual-toggle")).to_have_text("播放")


async def test_a_phone_paired_during_a_take_records_from_its_ready(
    server: ServerProcess,
    new_page: NewPage,
    shots: Shots,
    playwright: Playwright,
) -> None:
    """No phone in the reading time: the server records the laptop alone. A phone paired for
    the first time then joins that take when it taps Ready, and its part is stored."""
    laptop = await new_page(server, anonymous=True, viewport=DESKTOP)
    who = await signed_up(laptop.request, server)
    admin = await unit_admin(playwright, server, UNIT)
    body = exam_body(time.time())
    body["questions"][0] |= {"reading_limit_s": 3, "rehearsal_allowed": False, "rehearsal_count": 0}
    exam_id = (await admin.create_exam(body))["id"]
    account = await through_journey(laptop, server, admin)
    await verify(laptop.request, server, account, f"exam:{exam_id}")

    await laptop.goto(f"{server.url}/exams/{exam_id}/questions/dance")
    await expect(by_testid(laptop, "enter-formal")).to_be_enabled(timeout=20_000)
    await by_testid(laptop, "enter-formal").click()
    await confirm(laptop, "阅题")
    await expect_state(laptop, "recording", timeout_s=20)  # the reading time ran out
    await expect(by_testid(laptop, "second-state")).to_have_text("未配对")
    link = by_testid(laptop, "pair-link")
    await expect(link).to_contain_text("/pair?token=")
    pair_url = (await link.text_content() or "").strip()

    phone = await new_page(server, anonymous=True, **playwright.devices["Pixel 7"])
    await phone.goto(pair_url)
    await phone.wait_for_url("**/login?next=*")
    await by_testid(phone, "login-phone").fill(who.phone)
    await by_testid(phone, "login-password").fill(who.password)
    await by_testid(phone, "login-submit").click()
    await expect_state(phone, "connected", timeout_s=20)
    await expect(by_testid(laptop, "second-warning")).to_contain_text("二机位会立即加入录制")
    await by_testid(phone, "ready").click()
    await expect_state(phone, "recording")  # at once: the take records the phone from now
    await expect(by_testid(phone, "rec-label")).to_have_text("二机位录制中")
    await expect(by_testid(laptop, "second-state")).to_have_text("二机位录制中")
    await expect(by_testid(laptop, "second-warning")).to_be_hidden()
    await elapsed(phone, 1)
    await shots.take(phone, "phone-joined-a-running-take")
    await elapsed(laptop, 4)  # the phone's part is a second or more

    await by_testid(laptop, "stop-recording").click()
    await confirm(laptop, "不能继续录制")
    await expect_state(laptop, "answering", timeout_s=30)
    await expect(by_testid(phone, "notice")).to_contain_text("二机位录像已保存", timeout=15_000)
    work = by_testid(laptop, "work")
    await expect(work).to_have_count(1)
    stored_id = await work.get_attribute("data-take-id")
    assert stored_id
    take = await call(laptop.request, server, "GET", f"/api/takes/{stored_id}")
    [primary] = take["manifest"]["segments"]
    [secondary] = take["manifest"]["cameras"]["secondary"]["segments"]
    assert secondary["start_s"] > primary["start_s"], (primary, secondary)  # joined late
    folder = server.data_dir / "recordings" / stored_id
    assert await asyncio.to_thread(vp8_frames, folder / secondary["file"]) > 0


CATALOGUE_KEYS = """async () => {
  const { CATALOGUES } = await import("/static/js/lib/i18n.js");
  const used = [...document.querySelectorAll("[data-i18n], [data-i18n-label]")]
    .flatMap((el) => [el.dataset.i18n, el.dataset.i18nLabel].filter(Boolean));
  const ours = (lang) => Object.keys(CATALOGUES[lang])
    .filter((k) => k.startsWith("pair.") || k.startsWith("exam.pair.")).sort();
  return {
    zh: ours("zh"),
    en: ours("en"),
    missing: used.filter((key) => !(key in CATALOGUES.zh && key in CATALOGUES.en)),
  };
}"""

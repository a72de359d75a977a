"""The face check (issue #17) in headless Chromium against a real server (``--verifier face``):
the unit admin uploads reference photos (报名照片) as a zip at the console, each checked on its
own; a candidate whose camera shows the astronaut blinking (Chromium's fake camera playing a
clip made here from scikit-image's photo: her eyes painted shut over the engine's own eye
landmarks for half a second in every 1.75 s) passes real-person verification against her own
photo, and fails as a mismatch against someone else's. The challenge is the blink alone
(``--face-challenge blink``): a head turn cannot be made honestly from one photo."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, Playwright, expect

from tests.e2e.accounts import Candidate, call, log_in, new_candidate, register
from tests.e2e.conftest import CHROMIUM, FakeMedia, NewPage, Shots, chromium_args
from tests.support import faces
from tests.support.process import ServerProcess, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "47001"


@pytest.fixture(scope="module")
def face_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        tmp_path_factory.mktemp("faces") / "data",
        "--verifier",
        "face",
        "--face-challenge",
        "blink",
    )
    yield running
    running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def face_browser(
    playwright: Playwright, fake_media: FakeMedia, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser]:
    """A Chromium of its own: its fake camera plays the blinking astronaut."""
    clip = faces.blink_video(tmp_path_factory.mktemp("blink") / "blink.y4m")
    chromium = await playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(FakeMedia(clip, fake_media.audio))
    )
    yield chromium
    await chromium.close()


def by_testid(page: Page, testid: str) -> Locator:
    return page.locator(f'[data-testid="{testid}"]')


def photos_zip(folder: Path, photos: dict[str, bytes]) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in photos.items():
            archive.writestr(f"报名照片/{name}", data)
    path = folder / "报名照片.zip"
    path.write_bytes(out.getvalue())
    return path


async def verify_login(page: Page, server: ServerProcess, who: Candidate) -> None:
    """Log in as ``who``, accept the agreements, and open the verification step."""
    await register(page.request, server, who)
    await log_in(page.request, server, who)
    docs = (await call(page.request, server, "GET", "/api/agreements"))["documents"]
    versions = {d["kind"]: d["version"] for d in docs}
    accept = {
        "user_agreement_version": versions["user_agreement"],
        "privacy_policy_version": versions["privacy_policy"],
    }
    await call(page.request, server, "POST", "/api/agreements/accept", accept)
    await page.goto(f"{server.url}/journey")
    await expect(page.locator("body")).to_have_attribute("data-step", "verify_identity")
    await expect(page.locator("body")).to_have_attribute("data-verify", "ready")


async def run_challenge(page: Page, shots: Shots, name: str) -> None:
    await by_testid(page, "verify-start").click()
    await expect(page.locator("body")).to_have_attribute("data-face", "ready")
    await expect(by_testid(page, "face-steps")).to_contain_text("眨眼")
    await expect(by_testid(page, "verify-submit")).to_have_text("开始")
    await shots.take(page, f"{name}-ready")
    await by_testid(page, "verify-submit").click()
    await expect(page.locator("body")).to_have_attribute("data-face", "step-0")
    await expect(by_testid(page, "face-step")).to_contain_text("请慢慢眨眼")


async def test_the_face_check_from_the_console_to_the_journey(
    playwright: Playwright,
    face_server: ServerProcess,
    face_browser: Browser,
    new_page: NewPage,
    shots: Shots,
    tmp_path: Path,
) -> None:
    server = face_server
    astronaut, someone = new_candidate("艾丝"), new_candidate("高明")
    # The unit admin: the admitted list, then the photos as a zip at the console.
    admin = new_candidate("管理员")
    server.admin("unit-add", UNIT, "北京测试音乐学院")
    page = await new_page(server, on=face_browser, anonymous=True)
    await register(page.request, server, admin)
    server.admin("grant", admin.phone, "unit_admin", "--unit", UNIT)
    await log_in(page.request, server, admin)
    rows = "".join(f"{p.name},{p.id_type},{p.id_number}\n" for p in (astronaut, someone))
    listed = await page.request.post(
        f"{server.url}/api/admin/units/{UNIT}/admitted-list",
        data=("name,id_type,id_number\n" + rows).encode(),
        headers={"Content-Type": "text/csv", "Origin": server.url},
    )
    assert listed.status == 201, await listed.text()
    await page.goto(f"{server.url}/console#admitted-list")
    panel = by_testid(page, "reference-photos")
    await expect(by_testid(page, "photos-count")).to_have_attribute("data-missing", "2")
    archive = photos_zip(
        tmp_path,
        {
            f"{astronaut.id_number}.jpg": faces.reference_photo(),
            f"{someone.id_number}.jpg": faces.other_person_photo(),
            "110105199001011237.jpg": faces.reference_photo(),  # not on the list
        },
    )
    await by_testid(page, "photos-file").set_input_files(str(archive))
    await by_testid(page, "photos-upload").click()
    await expect(by_testid(page, "photo-result")).to_have_count(3)
    await expect(panel.locator('[data-testid="photo-result"][data-stored="true"]')).to_have_count(2)
    refused = panel.locator('[data-testid="photo-result"][data-stored="false"]')
    await expect(refused).to_contain_text("准考名单中没有这个证件号码")
    await expect(by_testid(page, "photos-count")).to_have_attribute("data-missing", "0")
    await expect(by_testid(page, "photos-result")).to_contain_text("已保存 2 张照片")
    await shots.take(page, "console-photos")

    # The astronaut blinks at the camera: verified, the journey goes on.
    page = await new_page(server, on=face_browser, anonymous=True)
    await verify_login(page, server, astronaut)
    await run_challenge(page, shots, "astronaut")
    await expect(page.locator("body")).not_to_have_attribute(
        "data-step", "verify_identity", timeout=60_000
    )
    await shots.take(page, "astronaut-verified")

    # The same camera for someone whose photo is another person's: a mismatch, said so.
    page = await new_page(server, on=face_browser, anonymous=True)
    await verify_login(page, server, someone)
    await run_challenge(page, shots, "someone")
    notice = by_testid(page, "verify-notice")
    await expect(notice).to_contain_text("与报考单位提供的报名照片不一致", timeout=60_000)
    await expect(notice).to_contain_text(re.compile("还可以再试 2 次"))
    await expect(page.locator("body")).to_have_attribute("data-step", "verify_identity")
    await shots.take(page, "someone-mismatch")

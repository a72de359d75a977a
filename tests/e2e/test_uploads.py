"""Offline answer files as resumable uploads (MISSION M3.6, M3.7, M4) in headless
Chromium against a real server.

One candidate on a laptop: two files upload at once with progress; one is paused
mid-way; a third becomes unreadable on the disk (文件异常) and is removed and uploaded
again; the page is reloaded, the answer saved and submitted with the paused file still
unfinished, and the same file picked again goes on from the server's offset (checked
with HEAD and on the wire) until complete. The same account on a phone (another device
name) is told that another device has unfinished files, and then that nothing is left.
The stored files' SHA-256 equal the sources'.

The upload is slowed with Chromium's network emulation and sent in small PATCHes (a
localStorage setting the page reads) so that it can be paused mid-way.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, Playwright, Request, ViewportSize, expect

from tests.e2e.accounts import call, log_in, new_candidate, register
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.exam_helpers import png, through_journey, unit_admin, verify
from tests.support.files import mp4
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20006"  # the upload tests' own unit: other tests' exams stay out of its list
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=412, height=915)
CHUNK = 128 * 1024  # PATCH size: small, so that a pause keeps most of what was sent
SLOW = 1_500_000  # upload bytes per second while pausing mid-way
LAPTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 8.0.0; MI 5 Build/OPR1.170623.032) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
)
SMALL_CHUNKS = f"localStorage.setItem('examcast.uploadChunkBytes', '{CHUNK}');"


def by_testid(page: Page | Locator, name: str) -> Locator:
    return page.get_by_test_id(name)


async def expect_state(page: Page, state: str, timeout_s: float = 15) -> None:
    await expect(page.locator("body")).to_have_attribute(
        "data-state", state, timeout=timeout_s * 1000
    )


async def fits(page: Page) -> None:
    """No sideways scrolling on a phone."""
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport and width <= viewport["width"], f"the page is {width}px wide"


async def throttle(page: Page, upload_bytes_per_s: int) -> None:
    """Chromium's network emulation: uploads at this rate (-1: unthrottled)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    conditions = {
        "offline": False,
        "latency": 0,
        "downloadThroughput": -1,
        "uploadThroughput": upload_bytes_per_s,
    }
    await cdp.send("Network.emulateNetworkConditions", conditions)


async def offset_reached(row: Locator, at_least: int) -> None:
    """Wait until the upload row says at least ``at_least`` bytes are sent."""
    handle = await row.element_handle()
    await row.page.wait_for_function(
        "([row, n]) => Number(row.dataset.offset) >= n", arg=[handle, at_least], timeout=15_000
    )


async def head_offset(page: Page, server: ServerProcess, upload_id: str) -> int:
    response = await page.request.fetch(
        f"{server.url}/api/uploads/{upload_id}", method="HEAD", headers={"Tus-Resumable": "1.0.0"}
    )
    assert response.status == 200, response.status
    return int(response.headers["upload-offset"])


def exam_body(now: float) -> dict[str, Any]:
    return {
        "title": "2027 作品集上传",
        "instructions": "上传事先录好的演奏视频和乐谱图片。",
        "time_requirements": "考试结束前提交；文件可在考试结束后 2 小时内上传完成。",
        "opens_at": now - 60,
        "closes_at": now + 3600,
        "questions": [
            {
                "id": "works",
                "order": 1,
                "mode": "offline",
                "title": "演奏视频与乐谱",
                "prompt": "上传一段演奏视频和它的乐谱（1–3 个文件）。",
                "files": {
                    "kinds": ["video", "image"],
                    "formats": ["mp4", "png"],
                    "min_count": 1,
                    "max_count": 3,
                    "max_bytes": 20 * 1024 * 1024,
                },
            }
        ],
    }


def stored(server: ServerProcess, file_id: str) -> bytes:
    """The bytes the server keeps of an answer file."""
    [path] = (server.data_dir / "uploads").glob(f"*/{file_id}.*")
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_files_upload_pause_and_resume_after_a_reload(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright, tmp_path: Path
) -> None:
    # A candidate with the admission steps done (an offline exam needs no device check),
    # verified for the exam, on a laptop whose uploads go in small PATCHes.
    who = new_candidate("李四")
    page = await new_page(server, anonymous=True, viewport=DESKTOP, user_agent=LAPTOP_UA)
    await register(page.request, server, who)
    await log_in(page.request, server, who)
    await page.context.add_init_script(SMALL_CHUNKS)
    admin = await unit_admin(playwright, server, UNIT)
    exam_id = (await admin.create_exam(exam_body(time.time())))["id"]
    account = await through_journey(page, server, admin, device_check=False)
    await verify(page.request, server, account, f"exam:{exam_id}")

    video = tmp_path / "演奏.mp4"
    video.write_bytes(mp4(frames=12, width=640, height=480, noise=True))  # ~4 MB
    score = tmp_path / "乐谱.png"
    score.write_bytes(png(300, 300, noise=True))  # ~270 KB
    sketch = tmp_path / "草稿.png"
    sketch.write_bytes(png(800, 800, noise=True))  # ~1.9 MB
    patches: list[tuple[str, int]] = []

    def on_request(request: Request) -> None:
        if request.method == "PATCH":
            patches.append((request.url, int(request.headers["upload-offset"])))

    page.on("request", on_request)

    # Open the offline question; two files at once, each with its progress bar.
    question_url = f"{server.url}/exams/{exam_id}/questions/works"
    await page.goto(question_url)
    await expect_state(page, "intro")
    await by_testid(page, "open-question").click()
    await expect_state(page, "files")
    await throttle(page, SLOW)
    await by_testid(page, "file-input").set_input_files([video, score])
    rows = by_testid(page, "upload")
    big = rows.filter(has_text="演奏.mp4")
    await expect(rows).to_have_count(2)
    await offset_reached(big, CHUNK)
    await shots.take(page, "two-files-uploading")

    # The small one completes; the video is paused mid-way.
    await expect(by_testid(page, "file").filter(has_text="乐谱.png")).to_have_attribute(
        "data-pending", "false"
    )
    size = video.stat().st_size
    await offset_reached(big, size // 3)
    await by_testid(big, "upload-pause").click()
    await expect(big).to_have_attribute("data-state", "paused")
    upload_id = await big.get_attribute("data-upload-id")
    assert upload_id
    paused_at = await head_offset(page, server, upload_id)
    assert CHUNK <= paused_at < size, (paused_at, size)
    await expect(by_testid(big, "upload-resume")).to_be_visible()
    await expect(by_testid(page, "upload-grace")).to_contain_text("也可以“保存”和“提交”")
    await shots.take(page, "video-paused")

    # A file the browser can no longer read (gone from the disk mid-way): 文件异常;
    # removed and chosen again.
    await by_testid(page, "file-input").set_input_files([sketch])
    broken = rows.filter(has_text="草稿.png")
    await offset_reached(broken, 1)
    sketch.unlink()
    await expect(broken).to_have_attribute("data-state", "abnormal")
    await expect(by_testid(broken, "upload-error")).to_contain_text("文件异常")
    await shots.take(page, "file-unreadable")
    sketch.write_bytes(png(200, 200, noise=True))
    async with page.expect_file_chooser() as chooser:
        await by_testid(broken, "upload-redo").click()
    await (await chooser.value).set_files(sketch)
    await expect(by_testid(page, "file").filter(has_text="草稿.png")).to_have_attribute(
        "data-pending", "false"
    )
    assert await big.get_attribute("data-state") == "paused"

    # Reload: the video is an unfinished file of the answer, and the page says how to go on.
    await page.reload()
    await expect_state(page, "files")
    pending = by_testid(page, "file").filter(has_text="演奏.mp4")
    await expect(pending).to_have_attribute("data-pending", "true")
    await expect(by_testid(pending, "file-status")).to_contain_text("▲上传中断")
    await expect(by_testid(page, "resume-hint")).to_contain_text("选择同一个文件")
    await expect(by_testid(page, "unfinished-banner")).to_contain_text("1 个文件未上传完")
    await expect(by_testid(page, "file-count")).to_contain_text("其中 1 个未上传完")
    await shots.take(page, "after-reload")
    await page.set_viewport_size(PHONE)
    await fits(page)
    await shots.take(page, "after-reload-phone")
    await page.set_viewport_size(DESKTOP)
    await by_testid(page, "unfinished-open").click()
    dialog = by_testid(page, "unfinished-dialog")
    await expect(by_testid(dialog, "unfinished-item")).to_have_count(1)
    await expect(by_testid(dialog, "unfinished-status")).to_contain_text("▲上传中断")
    await expect(by_testid(dialog, "unfinished-deadline")).to_contain_text(
        "前完成所有考试文件的上传"
    )
    await shots.take(page, "unfinished-dialog")
    await by_testid(dialog, "unfinished-close").click()

    # The question list and the exam list offer it too (续传).
    await page.goto(f"{server.url}/exams/{exam_id}")
    listing = by_testid(page, "unfinished")
    await expect(listing).to_be_visible()
    await expect(by_testid(listing, "unfinished-item")).to_contain_text("第 1 题")
    await expect(by_testid(listing, "unfinished-resume")).to_be_visible()
    await shots.take(page, "question-list-unfinished")
    # 续传 needs the file the upload began with: another one of the same name is refused.
    impostor = tmp_path / "other" / "演奏.mp4"
    impostor.parent.mkdir()
    impostor.write_bytes(mp4(frames=2))
    async with page.expect_file_chooser() as chooser:
        await by_testid(listing, "unfinished-resume").click()
    await (await chooser.value).set_files(impostor)
    await expect(by_testid(listing, "unfinished-problem")).to_contain_text("不是原来的“演奏.mp4”")
    await shots.take(page, "wrong-file-refused")
    await page.goto(f"{server.url}/exams")
    await expect(by_testid(page, "unfinished")).to_contain_text("2027 作品集上传")
    await shots.take(page, "exam-list-unfinished")

    # The same account on a phone: another device (named) has unfinished files.
    phone = await new_page(
        server, anonymous=True, viewport=PHONE, user_agent=PHONE_UA, is_mobile=True, has_touch=True
    )
    await log_in(phone.request, server, who)
    await phone.goto(f"{server.url}/exams/{exam_id}")
    other = by_testid(phone, "unfinished")
    await expect(by_testid(other, "unfinished-other")).to_contain_text(
        "其他设备上（Chrome · Windows）有未上传完的文件"
    )
    await expect(by_testid(other, "unfinished-empty")).to_have_text("没有需上传的文件或已上传完成")
    await fits(phone)
    await shots.take(phone, "phone-other-device")

    # Save and submit while the video is unfinished (M3.7): the page says until when.
    await page.goto(question_url)
    await expect_state(page, "files")
    await by_testid(page, "save-files").click()
    await expect(by_testid(page, "notice")).to_contain_text("已保存")
    await by_testid(page, "submit-files").click()
    await expect(by_testid(page, "confirm-text")).to_contain_text("其中 1 个尚未上传完")
    await by_testid(page, "confirm-ok").click()
    await expect_state(page, "submitted")
    await expect(by_testid(page, "upload-grace")).to_contain_text("还有 1 个文件未上传完")
    await shots.take(page, "submitted-unfinished")
    # The unit admin sees the unfinished file as such: nothing to play or download yet.
    console = await new_page(
        server, anonymous=True, viewport=DESKTOP, storage_state=await admin.http.storage_state()
    )
    await console.goto(f"{server.url}/console#exams/{exam_id}/submissions")
    unfinished = by_testid(console, "work-file").filter(has_text="演奏.mp4")
    await expect(by_testid(unfinished, "file-pending")).to_contain_text("上传未完成")
    await expect(by_testid(unfinished, "download")).to_have_count(0)
    await expect(by_testid(unfinished, "play")).to_have_count(0)
    await expect(by_testid(console, "work-file").locator("[data-testid=download]")).to_have_count(2)
    await shots.take(console, "console-unfinished-file")

    # 续传: the same file picked again goes on from the server's offset (past the pause's
    # if a chunk in flight at the pause still reached the server).
    offset = await head_offset(page, server, upload_id)
    assert paused_at <= offset < size, (paused_at, offset, size)
    before = len(patches)
    async with page.expect_file_chooser() as chooser:
        await by_testid(pending, "resume-file").click()
    await (await chooser.value).set_files(video)
    resumed = rows.filter(has_text="演奏.mp4")
    await expect(by_testid(resumed, "upload-note")).to_contain_text("从服务器已收到的")
    await shots.take(page, "resumed")
    await throttle(page, -1)
    done = by_testid(page, "file").filter(has_text="演奏.mp4")
    await expect(done).to_have_attribute("data-pending", "false", timeout=20_000)
    first_after = patches[before]
    # c=: the candidate's node, where the bytes are (decision 0026)
    resumed_at = f"{server.url}/api/uploads/{upload_id}?c={account['id']}"
    assert first_after == (resumed_at, offset), first_after
    await expect(by_testid(page, "upload-grace")).to_be_hidden()
    await expect(by_testid(page, "unfinished-banner")).to_be_hidden()
    await shots.take(page, "all-uploaded")

    # Nothing is left: on the phone (refreshed) and by the API.
    await by_testid(other, "unfinished-refresh").click()
    await expect(by_testid(other, "unfinished-other")).to_have_count(0)
    await expect(by_testid(other, "unfinished-empty")).to_be_visible()
    await shots.take(phone, "phone-nothing-left")
    await by_testid(phone, "lang-toggle").click()
    await expect(by_testid(other, "unfinished-empty")).to_have_text(
        "No files need uploading, or all are uploaded"
    )
    await phone.goto(question_url)
    await expect_state(phone, "submitted")
    await expect(by_testid(phone, "file")).to_have_count(3)
    await fits(phone)
    await shots.take(phone, "phone-question-en")
    left = await call(page.request, server, "GET", f"/api/exams/{exam_id}/uploads?device_id=x")
    assert left["this_device"] == [] and left["other_devices"] == [], left

    # What the server holds: the three files, byte for byte.
    data = await call(page.request, server, "GET", f"/api/exams/{exam_id}")
    attempt = data["questions"][0]["attempt"]
    assert attempt["submitted_at"], attempt
    files = {f["name"]: f for f in attempt["files"]}
    assert set(files) == {"演奏.mp4", "乐谱.png", "草稿.png"}, files
    assert files["演奏.mp4"]["file_id"] == upload_id
    for name, source in (("演奏.mp4", video), ("乐谱.png", score), ("草稿.png", sketch)):
        assert not files[name]["pending"], files[name]
        assert sha256(stored(server, files[name]["file_id"])) == sha256(source.read_bytes()), name

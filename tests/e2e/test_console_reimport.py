"""Re-importing an admitted list in the console (headless Chromium, real server): the page
previews what the file removes, who of them already started, and imports only when the admin
confirms; the removed candidate is then told on their exam page to choose a unit again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Playwright, expect

from tests.e2e.accounts import call, log_in, new_candidate
from tests.e2e.conftest import NewPage, Shots
from tests.e2e.console_helpers import (
    CSV_HEADER,
    DESK,
    add_unit,
    csv_file,
    csv_rows,
    expect_view,
    import_list,
    logged_in,
    registered,
    staff,
    up_to_exams,
    verify,
)
from tests.support.process import ServerProcess, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "50009"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("reimport") / "data")
    yield running
    running.stop()


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
                    "max_count": 1,
                    "max_bytes": 20 * 1024 * 1024,
                },
            }
        ],
    }


async def test_a_re_import_that_removes_people_is_previewed_and_confirmed(
    server: ServerProcess, new_page: NewPage, shots: Shots, playwright: Playwright
) -> None:
    add_unit(server, UNIT, "杭州测试艺术学院")
    admin = await staff(playwright, server, "孙老师", "unit_admin", UNIT)
    admin_http = await logged_in(playwright, server, admin)
    who, candidate = await registered(playwright, server, "林小雨")
    stays = new_candidate("钱多多")  # on the list, never registered
    try:
        exam = await call(admin_http, server, "POST", "/api/admin/exams", offline_exam())
        await import_list(admin_http, server, UNIT, CSV_HEADER + csv_rows(who, stays))
        await up_to_exams(candidate, server, who, UNIT)
        assert await verify(candidate, server, f"exam:{exam['id']}", who.id_number[-6:])
        await call(candidate, server, "POST", f"/api/exams/{exam['id']}/questions/works/open")

        page = await new_page(server, anonymous=True, **DESK)
        await log_in(page.request, server, admin)
        await page.goto(f"{server.url}/console#admitted-list")
        await expect_view(page, "admitted")
        await expect(page.get_by_test_id("list-count")).to_have_text("共 2 人")

        # A file without 林小雨, who has started the exam: nothing is imported yet.
        without = csv_file("新名单.csv", CSV_HEADER + csv_rows(stays))
        await page.get_by_test_id("csv-file").set_input_files(without)
        await page.get_by_test_id("csv-upload").click()
        preview = page.get_by_test_id("csv-preview")
        await expect(preview).to_be_visible()
        await expect(page.get_by_test_id("csv-result")).to_contain_text("移除 1 人")
        await expect(page.get_by_test_id("csv-preview-impact")).to_contain_text(
            "有 1 人已经开始本单位的考试"
        )
        people = page.get_by_test_id("csv-removed-person")
        await expect(people).to_have_count(1)
        await expect(people.nth(0)).to_contain_text(who.id_number)
        await expect(people.nth(0)).to_contain_text("已开始考试")
        await expect(people.nth(0)).to_have_attribute("data-started", "true")
        await expect(page.get_by_test_id("list-count")).to_have_text("共 2 人")
        await shots.take(page, "reimport-preview")

        # Cancel: the list stays as it was.
        await page.get_by_test_id("csv-cancel").click()
        await expect(preview).to_be_hidden()
        await expect(page.get_by_test_id("csv-result")).to_contain_text("没有导入，原名单不变")
        assert (await candidate.get(f"{server.url}/api/exams/{exam['id']}")).status == 200

        # Again, and confirm: the list has one person, and the page says whom it removed.
        await page.get_by_test_id("csv-file").set_input_files(without)
        await page.get_by_test_id("csv-upload").click()
        await expect(page.get_by_test_id("csv-confirm")).to_have_text("确认导入并移除 1 人")
        await page.get_by_test_id("csv-confirm").click()
        result = page.get_by_test_id("csv-result")
        await expect(result).to_contain_text("名单现在共 1 人；移除 1 人（其中 1 人已开始考试）")
        await expect(preview).to_be_hidden()
        await expect(page.get_by_test_id("list-count")).to_have_text("共 1 人")
        await shots.take(page, "reimport-done")

        # In English too.
        await page.get_by_test_id("lang-toggle").click()
        await expect(result).to_contain_text("1 removed (1 of them had started an exam)")

        # The removed candidate: refused with what to do, sent back to choosing a unit.
        refused = await candidate.get(f"{server.url}/api/exams/{exam['id']}")
        assert refused.status == 403
        error = (await refused.json())["error"]
        assert error["details"]["reason"] == "removed_from_admitted_list"
        journey = (await call(candidate, server, "GET", "/api/me"))["journey"]
        assert (journey["next_step"], journey["removed_from_unit"]) == ("choose_unit", UNIT)
    finally:
        await admin_http.dispose()
        await candidate.dispose()

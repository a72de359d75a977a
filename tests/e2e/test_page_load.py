"""A page whose modules did not all arrive (js/boot.js): the network changed while it
loaded (Chromium's ERR_NETWORK_CHANGED, which another test's veth pair also causes here)
or a connection dropped. Browsers do not fetch a failed module again, so without boot.js
the page stays on "loading" for good. Headless Chromium against a real server; the lost
requests are Playwright's routes, aborted as a dropped network would."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Route, expect

from tests.e2e.conftest import NewPage, Shots
from tests.e2e.test_device_check import by_testid
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

# A module the login page imports, not its entry: a failure inside the module graph.
LOST = "**/static/js/lib/i18n.js*"
RELOADS_KEY = "examcast.reloads"


async def lose(page: Page, times: int | None) -> list[str]:
    """Abort the first ``times`` requests for LOST (all if None); returns their URLs."""
    lost: list[str] = []

    async def handle(route: Route) -> None:
        if times is None or len(lost) < times:
            lost.append(route.request.url)
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await page.route(LOST, handle)
    return lost


def count_loads(page: Page) -> list[str]:
    """The page's document requests (one per load of it), as they go out."""
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if r.resource_type == "document" else None)
    return loads


async def expect_login_page(page: Page) -> None:
    # The title is the catalogue's: the page's modules ran.
    await expect(by_testid(page, "title")).to_have_text("登录")
    await expect(by_testid(page, "load-failed")).to_have_count(0)


async def test_a_module_lost_on_the_way_loads_the_page_again(
    server: ServerProcess, new_page: NewPage
) -> None:
    page = await new_page(server, anonymous=True)
    lost = await lose(page, times=2)
    loads = count_loads(page)
    await page.goto(server.url + "/login")
    await expect_login_page(page)
    assert len(lost) == 2
    assert 2 <= len(loads) <= 3  # the two losses in one load or in two
    # The page that ran forgets the count: a later loss gets its three reloads again.
    assert await page.evaluate(f"sessionStorage.getItem('{RELOADS_KEY}')") is None


async def test_a_page_that_cannot_load_says_so_and_loads_on_demand(
    server: ServerProcess, new_page: NewPage, shots: Shots
) -> None:
    page = await new_page(server, anonymous=True)
    lost = await lose(page, times=None)
    loads = count_loads(page)
    await page.goto(server.url + "/login")
    notice = by_testid(page, "load-failed")
    await expect(notice).to_contain_text("页面没有完整载入")
    await expect(notice).to_contain_text("The page did not load completely")
    # The first load and three more, then no more by itself. Loads, not the module's
    # requests: two module scripts import it, and Chromium may ask for a module that failed
    # again for the second one in the same load (seen under load: 5 requests in 4 loads).
    assert len(loads) == 4
    assert len(lost) >= 4
    await shots.take(page, "load-failed")
    await expect(by_testid(page, "title")).not_to_have_text("登录")

    lost_before = len(lost)
    await page.unroute(LOST)
    await by_testid(page, "load-failed-reload").click()
    await expect_login_page(page)
    assert len(loads) == 5
    assert len(lost) == lost_before

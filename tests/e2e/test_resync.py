"""Pages ask for their whole state again after their socket reconnects (issue #15): events
between nodes go through Redis pub/sub, at most once, so one may never arrive.

In headless Chromium against a real server: the question page's socket drops the
proctor's ``deadline_changed`` (as a lost pub/sub message would be), then reconnects;
the page's countdown shows the extra time all the same.
"""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import pytest
import socketio
from playwright.async_api import Page, Playwright, WebSocketRoute, expect

from tests.e2e.accounts import Candidate
from tests.e2e.conftest import NewPage
from tests.e2e.proctor_helpers import (
    candidate_ready,
    enter_formal,
    exam_with_proctor,
    one_question_exam,
)
from tests.support.clock import wait_until
from tests.support.process import ServerProcess
from tests.support.server import socket_connect

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

UNIT = "20031"  # its own unit


class LossySockets:
    """Every Socket.IO connection of a page, through the test: ``deadline_changed`` frames
    from the server are dropped (lost), and a connection can be cut from the page's side."""

    def __init__(self) -> None:
        self.routes: list[WebSocketRoute] = []
        self.dropped = 0

    async def attach(self, page: Page) -> None:
        await page.route_web_socket(re.compile(r"/socket\.io/"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        self.routes.append(ws)
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and '"deadline_changed"' in message:
                self.dropped += 1
                return
            ws.send(message)

        server.on_message(from_server)


async def extend_time(server: ServerProcess, proctor: Candidate, body: dict[str, Any]) -> None:
    """The proctor gives extra time over their own socket (as the wall's panel does)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        logged_in = await http.post(
            server.url + "/api/session",
            json={"phone": proctor.phone, "password": proctor.password},
            headers={"Origin": server.url},
        )
        assert logged_in.status == 200, await logged_in.text()
        cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
        sio = socketio.AsyncClient(reconnection=False)
        await socket_connect(sio, server.url, {"Cookie": cookie, "Origin": server.url})
        try:
            given = await sio.call("extend_time", body, timeout=15)
            assert "error" not in given, given
        finally:
            await sio.disconnect()


async def test_the_question_page_catches_up_after_its_socket_reconnects(
    server: ServerProcess, new_page: NewPage, playwright: Playwright
) -> None:
    body = one_question_exam(
        time.time(),
        "2027 声乐专业考试",
        {
            "id": "song",
            "title": "自选曲目",
            "prompt": "演唱一首。",
            "reading_limit_s": 300,
            "recording_limit_s": 240,
        },
    )
    admin, exam_id, proctor = await exam_with_proctor(playwright, server, UNIT, body, "孙监考")
    laptop, _, account = await candidate_ready(new_page, server, admin, exam_id)
    sockets = LossySockets()
    await sockets.attach(laptop)
    await enter_formal(laptop, server, exam_id, "song")
    countdown = laptop.get_by_test_id("submit-deadline")
    await expect(countdown).to_have_text(re.compile(r"^提交剩余 (09|10):\d\d"))
    # The first socket is the proctors' line (messages, extra time), opened as the page loads.
    await wait_until(lambda: len(sockets.routes) >= 1, 10, "the page's socket")
    first = sockets.routes[0]
    opened = len(sockets.routes)

    await extend_time(
        server, proctor, {"exam_id": exam_id, "candidate_id": account["id"], "minutes": 5}
    )
    await wait_until(lambda: sockets.dropped >= 1, 10, "the event dropped")  # never arrived
    await first.close()  # the connection drops; the page reconnects by itself
    await wait_until(lambda: len(sockets.routes) > opened, 20, "the page reconnecting")
    await expect(countdown).to_have_text(re.compile(r"^提交剩余 1[45]:\d\d"), timeout=20_000)

"""A node takes no camera new to it past ``max_cameras``, nor while its event loop is
overloaded (media/load.py ``CameraAdmission``): the cameras it has keep recording, a new
one is refused with ``busy`` and a time to ask again, and a candidate already on the node
(a page reload, a reconnect) always gets back in. Real server, real Socket.IO clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from media.load import CALM_SAMPLES
from tests.integration.test_ops import TOKEN, scrape, value
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import (
    Client,
    RunningServer,
    connected_client,
    running_server,
    server_settings,
)
from web.keys import HUB

CAP = 3


@pytest.fixture
async def capped(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = server_settings(
        tmp_path / "data", max_cameras=CAP, camera_refuse_lag_ms=500, metrics_token=TOKEN
    )
    async with running_server(settings) as running:
        yield running


async def clients(stack: AsyncExitStack, server: RunningServer, count: int) -> list[Client]:
    return [await stack.enter_async_context(connected_client(server)) for _ in range(count)]


def refused(answer: dict[str, Any]) -> bool:
    error = answer.get("error")
    if error is None:
        return False
    assert error["code"] == "busy", answer
    assert error["details"]["retry_after_s"] > 0, answer
    return True


async def test_new_cameras_past_the_cap_are_refused_at_once_and_those_here_carry_on(
    capped: RunningServer,
) -> None:
    async with AsyncExitStack() as stack:
        people = await clients(stack, capped, CAP + 3)
        # all at once: the count and the new session are one step, no two pass it together
        opened = await asyncio.gather(
            *(c.call("open_session", {"role": "primary"}) for c in people)
        )
        taken = [i for i, o in enumerate(opened) if not refused(o)]
        waiting = [people[i] for i, o in enumerate(opened) if refused(o)]
        assert (len(taken), len(waiting)) == (CAP, 3), opened
        sessions = [opened[i]["session_id"] for i in taken]
        first, second, third = (people[i] for i in taken)

        # one taken records: its media reaches the server though the node is full
        await first.publish([SyntheticVideo(), SyntheticAudio()], sessions[0])
        # a candidate already here is never refused: a reloaded page's new session, a resume
        again = await second.call("open_session", {"role": "primary"})
        assert "session_id" in again, again
        resumed = await third.call("open_session", {"role": "primary", "resume": sessions[2]})
        assert resumed.get("session_id") == sessions[2], resumed
        # still full for a new one
        assert refused(await waiting[0].call("open_session", {"role": "primary"}))

        # a candidate leaves (both of its sessions): a waiting one's next try gets in
        for session_id in (sessions[1], again["session_id"]):
            closed = await second.call("close_session", {"session_id": session_id})
            assert closed["closed"], closed
        admitted = await waiting[0].call("open_session", {"role": "primary"})
        assert "session_id" in admitted, admitted
        assert refused(await waiting[1].call("open_session", {"role": "primary"}))

        samples = await scrape(capped)
        name = "examcast_media_sessions_refused_total"
        assert value(samples, name, reason="full") == 3 + 1 + 1
        assert value(samples, name, reason="overloaded") == 0


async def test_an_overloaded_loop_takes_no_new_camera_until_it_has_caught_up(
    capped: RunningServer,
) -> None:
    admission = capped.app[HUB].admission
    async with AsyncExitStack() as stack:
        here, new = await clients(stack, capped, 2)
        first = await here.call("open_session", {"role": "primary"})
        assert "session_id" in first, first

        for _ in range(CALM_SAMPLES):  # the loop runs 0.6 s late for the whole window
            admission.note_lag(0.6)
        assert refused(await new.call("open_session", {"role": "primary"}))
        again = await here.call("open_session", {"role": "primary"})  # here already: taken
        assert "session_id" in again, again

        for _ in range(CALM_SAMPLES // 2):  # catching up: a mean still over a quarter
            admission.note_lag(0.0)
        assert refused(await new.call("open_session", {"role": "primary"}))
        for _ in range(CALM_SAMPLES):
            admission.note_lag(0.0)
        assert "session_id" in await new.call("open_session", {"role": "primary"})

        samples = await scrape(capped)
        assert value(samples, "examcast_media_sessions_refused_total", reason="overloaded") == 2


async def test_the_servers_own_loop_is_watched(
    capped: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node samples its loop's lag for itself (media.load.LoopLag, four times a second)
    and hands every sample to the admission, whose decisions the test above drives."""
    admission = capped.app[HUB].admission
    samples: list[float] = []
    note = admission.note_lag

    def noted(lag_s: float) -> None:
        samples.append(lag_s)
        note(lag_s)

    monkeypatch.setattr(admission, "note_lag", noted)
    await wait_until(lambda: len(samples) >= 3, 10, "the loop's lag sampled")
    assert all(lag >= 0 for lag in samples)

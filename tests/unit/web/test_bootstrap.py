"""The composition root: the whole object graph exists once the app is made, on the
clock and scheduler it was given; nothing is wired later, when the app starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import socketio
from aiohttp import web

from tests.support.server import server_settings
from tests.unit.exams.builders import FakeClock
from tests.unit.exams.fakes import FakeScheduler
from web import keys
from web.app import create_app
from web.bootstrap import House, bootstrap


def close(house: House) -> None:
    house.mux_pool.shutdown()
    house.hasher.close()


def test_every_app_key_is_set_before_the_app_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.app.ice.offer_host_addresses", lambda extra, only: None)
    app = create_app(server_settings(tmp_path / "data"))
    every = [v for v in vars(keys).values() if isinstance(v, web.AppKey)]
    try:
        assert every and [k for k in every if k not in app] == []
    finally:
        app[keys.MUX_POOL].shutdown()


async def test_the_clock_and_scheduler_given_reach_the_services(tmp_path: Path) -> None:
    clock, scheduler = FakeClock(1_800_000_000.0), FakeScheduler()
    sio = socketio.AsyncServer(async_mode="aiohttp")
    house = bootstrap(server_settings(tmp_path / "data"), sio, clock=clock, scheduler=scheduler)
    try:
        assert house.clock is clock and house.scheduler is scheduler
        assert house.runner.clock is clock and house.runner.scheduler is scheduler
        await house.db.open()
        try:
            # A take's time limit is a timer of the scheduler given, at the clock's time.
            owner = "someone"
            session = house.hub.open(owner, "primary")
            take = await house.takes.start(owner, session.id, "device_check")
            assert take.started_at == clock()
            assert [t.when for t in scheduler.live] == [take.deadline]
        finally:
            await house.hub.shutdown()
            await house.db.close()
    finally:
        await asyncio.to_thread(close, house)

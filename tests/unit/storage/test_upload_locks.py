"""One request per upload, the newest winning: the older one is cut off, not waited for."""

from __future__ import annotations

import asyncio

import pytest

from exams.shared.errors import UploadInterrupted, UploadLocked
from storage.upload_locks import MemoryUploadLocks


class HangingBody:
    """A body whose bytes stopped coming (a dead connection) until it is cut."""

    def __init__(self) -> None:
        self._cut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def read(self) -> bytes:
        await self._cut
        return b""  # not reached: the future holds the exception

    def cut(self, exc: Exception) -> None:
        if not self._cut.done():
            self._cut.set_exception(exc)


async def test_a_newer_request_cuts_the_holder_off_and_takes_over() -> None:
    locks = MemoryUploadLocks(stall_s=60)
    order: list[str] = []

    async def old() -> None:
        async with locks.hold("u", HangingBody()) as body:
            order.append("old holds")
            try:
                await body.read()
            except UploadInterrupted:
                order.append("old cut off")
                await asyncio.sleep(0.01)  # writing what it received
                order.append("old lets go")
                raise

    holder = asyncio.create_task(old())
    await asyncio.sleep(0.01)
    assert locks.held("u")
    async with locks.hold("u", None):
        order.append("new holds")
    with pytest.raises(UploadInterrupted):
        await holder
    assert order == ["old holds", "old cut off", "old lets go", "new holds"]
    assert not locks.held("u")


async def test_of_two_waiting_requests_only_the_newest_goes_on() -> None:
    locks = MemoryUploadLocks(stall_s=60)
    release = asyncio.Event()

    async def busy() -> None:  # holds without a body to cut: e.g. checking a whole file
        async with locks.hold("u", None):
            await release.wait()

    async def request() -> str:
        async with locks.hold("u", None):
            return "went on"

    first = asyncio.create_task(busy())
    await asyncio.sleep(0.01)
    middle = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    newest = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    release.set()
    await first
    with pytest.raises(UploadInterrupted):
        await middle
    assert await newest == "went on"


async def test_a_holder_that_never_lets_go_makes_the_newer_one_give_up() -> None:
    locks = MemoryUploadLocks(stall_s=60, release_wait_s=0.05)
    stuck = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("u", None):
            await stuck.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    with pytest.raises(UploadLocked):
        async with locks.hold("u", None):
            pass
    stuck.set()
    await task


async def test_a_stalled_body_is_cut_off_and_its_idle_time_shows() -> None:
    locks = MemoryUploadLocks(stall_s=0.1)
    assert locks.idle_s("u") is None
    with pytest.raises(UploadInterrupted, match="no data arrived"):
        async with locks.hold("u", HangingBody()) as body:
            await body.read()
    idle = locks.idle_s("u")
    assert idle is not None and idle >= 0.1
    locks.forget("u")
    assert locks.idle_s("u") is None

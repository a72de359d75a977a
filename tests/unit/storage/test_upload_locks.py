"""One request per upload, the newest winning: the older one is cut off, not waited for.

In one process, and across two nodes on one real Redis (the older request on one node,
the newer on the other)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from exams.shared.errors import UploadInterrupted, UploadLocked
from exams.uploads.ports import UploadLocks
from storage.redis_upload_locks import RedisUploadLocks
from storage.upload_locks import MemoryUploadLocks
from tests.support.clock import wait_until
from tests.support.redis import key_prefix, redis_client

Make = Callable[..., tuple[UploadLocks, UploadLocks]]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """``make(**options)``: the locks of two nodes (one and the same in one process)."""
    if request.param == "memory":

        def memory(**options: Any) -> tuple[UploadLocks, UploadLocks]:
            one = MemoryUploadLocks(**options)
            return one, one

        yield memory
        return
    async with redis_client() as client:
        prefix = key_prefix()

        def redis(**options: Any) -> tuple[UploadLocks, UploadLocks]:
            return (
                RedisUploadLocks(client, prefix, "node-a", lease_s=1, **options),
                RedisUploadLocks(client, prefix, "node-b", lease_s=1, **options),
            )

        yield redis


async def newest_request(locks: UploadLocks, upload_id: str) -> object:
    """The mark of the newest request for an upload: a look inside each implementation (the
    port does not say which requests wait, and nothing else shows it)."""
    if isinstance(locks, MemoryUploadLocks):
        slot = locks._slots.get(upload_id)
        return None if slot is None else slot.newest
    assert isinstance(locks, RedisUploadLocks)
    return await locks._redis.get(locks._newest + upload_id)


async def asked_after(locks: UploadLocks, upload_id: str, before: object) -> object:
    """Wait (bounded) until a request newer than ``before`` has asked for the upload (it now
    waits for it); its mark."""
    marks: list[object] = [before]

    async def asked() -> bool:
        marks.append(await newest_request(locks, upload_id))
        return marks[-1] != before

    await wait_until(asked, 5, "a newer request asks for the upload")
    return marks[-1]


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


async def test_a_newer_request_cuts_the_holder_off_and_takes_over(make: Make) -> None:
    locks, other = make(stall_s=60)
    order: list[str] = []

    async def old() -> None:
        async with locks.hold("u", HangingBody()) as body:
            order.append("old holds")
            try:
                await body.read()
            except UploadInterrupted:
                order.append("old cut off")
                # Writing what it received takes a while: the newer request must wait it
                # out (a real pause, the order below is what the test is about).
                await asyncio.sleep(0.01)
                order.append("old lets go")
                raise

    holder = asyncio.create_task(old())
    await wait_until(lambda: order == ["old holds"], 5, "the old request holds the upload")
    assert await other.held("u")
    async with other.hold("u", None):
        order.append("new holds")
    with pytest.raises(UploadInterrupted):
        await holder
    assert order == ["old holds", "old cut off", "old lets go", "new holds"]
    assert not await locks.held("u") and not await other.held("u")


async def test_of_two_waiting_requests_only_the_newest_goes_on(make: Make) -> None:
    locks, other = make(stall_s=60)
    release = asyncio.Event()
    holding = asyncio.Event()

    async def busy() -> None:  # holds without a body to cut: e.g. checking a whole file
        async with locks.hold("u", None):
            holding.set()
            await release.wait()

    async def request(on: UploadLocks) -> str:
        async with on.hold("u", None):
            return "went on"

    first = asyncio.create_task(busy())
    await holding.wait()
    mark = await newest_request(locks, "u")
    middle = asyncio.create_task(request(other))
    mark = await asked_after(locks, "u", mark)  # the middle one is waiting
    newest = asyncio.create_task(request(locks))
    await asked_after(locks, "u", mark)  # and the newest one after it
    release.set()
    await first
    with pytest.raises(UploadInterrupted):
        await middle
    assert await newest == "went on"


async def test_a_holder_that_never_lets_go_makes_the_newer_one_give_up(make: Make) -> None:
    locks, other = make(stall_s=60, release_wait_s=0.3)
    stuck = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("u", None):
            holding.set()
            await stuck.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    with pytest.raises(UploadLocked):
        async with other.hold("u", None):
            pass
    stuck.set()
    await task


async def test_a_stalled_body_is_cut_off_and_its_idle_time_shows(make: Make) -> None:
    locks, other = make(stall_s=0.3)
    assert await locks.idle_s("u") is None
    with pytest.raises(UploadInterrupted, match="no data arrived"):
        async with locks.hold("u", HangingBody()) as body:
            await body.read()
    idle = await other.idle_s("u")  # seen from the other node too
    assert idle is not None and idle >= 0.3
    await other.forget("u")
    assert await locks.idle_s("u") is None

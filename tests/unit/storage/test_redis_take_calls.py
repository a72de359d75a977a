"""Calls between nodes about the takes they record, on a real Redis
(storage/redis_take_calls.py): a stop asked of a node reaches that node alone; a node that
closes stops reading in the middle of its BLPOP, even when the cancellation is lost, and
lets a stop already asked of it finish first. (Two real nodes: tests/integration/
test_take_calls.py.)"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from storage.redis_take_calls import RedisTakeCalls
from tests.support.clock import wait_until
from tests.support.redis import key_prefix, need_redis, redis_client, write_watching_client

# "It ends": far longer than one BLPOP turn (1 s) and a stop; a close that never returns
# fails here, saying so, instead of at the suite's 300 s timeout.
ENDS_S = 20.0


class Stops:
    """A node's stop handler: what it was asked; each stop held until ``go`` if ``hold``."""

    def __init__(self, *, hold: bool = False) -> None:
        self.asked: list[tuple[str, str]] = []
        self.done: list[str] = []
        self.go = asyncio.Event()
        if not hold:
            self.go.set()

    async def __call__(self, take_id: str, reason: str) -> None:
        self.asked.append((take_id, reason))
        await self.go.wait()
        self.done.append(take_id)


@asynccontextmanager
async def named_client() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """A client whose connections Redis lists under a name of their own."""
    name = f"takecalls-{secrets.token_hex(4)}"
    client = aioredis.Redis.from_url(need_redis(), decode_responses=True, client_name=name)
    try:
        yield client, name
    finally:
        await client.aclose()


async def connections(redis: aioredis.Redis, name: str) -> list[dict[str, str]]:
    return [c for c in await redis.client_list() if c.get("name") == name]


async def ended(task: asyncio.Future[None]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=ENDS_S)
    return bool(done)


async def test_a_stop_asked_of_a_node_is_done_by_that_node_alone() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a, b = RedisTakeCalls(client, prefix, "a"), RedisTakeCalls(client, prefix, "b")
        on_a, on_b = Stops(), Stops()
        a.serve(on_a)
        b.serve(on_b)
        try:
            await b.ask_stop("a", "t1", "ended_by_proctor")
            await wait_until(lambda: on_a.done == ["t1"], ENDS_S, "node a stops t1")
            assert on_a.asked == [("t1", "ended_by_proctor")]
            assert on_b.asked == []
        finally:
            await a.close()
            await b.close()


async def test_closing_ends_the_reader_in_the_middle_of_its_blpop() -> None:
    async with named_client() as (client, name):
        calls = RedisTakeCalls(client, key_prefix(), "a")
        calls.serve(Stops())

        async def blocked() -> bool:
            return any("b" in c.get("flags", "") for c in await connections(client, name))

        await wait_until(blocked, ENDS_S, "the reader waits in BLPOP")
        assert await ended(asyncio.ensure_future(calls.close())), "close() did not return"


async def test_a_close_whose_cancellation_is_lost_still_ends_the_reader() -> None:
    # close() comes just as the BLPOP's write completes: on Python 3.11 redis-py's
    # asyncio.wait_for around that write drops the cancellation and the BLPOP goes on. The
    # reader used to loop on for ever then, and the node's shutdown with it (a CI teardown
    # of tests/integration/test_take_calls.py waited out the 300 s timeout).
    closing: list[asyncio.Future[None]] = []
    calls: RedisTakeCalls | None = None

    def on_write(command: bytes) -> None:
        if calls is not None and b"BLPOP" in command and not closing:
            closing.append(asyncio.ensure_future(calls.close()))

    async with write_watching_client(on_write) as client:
        calls = RedisTakeCalls(client, key_prefix(), "a")
        calls.serve(Stops())
        await wait_until(lambda: bool(closing), ENDS_S, "the reader's BLPOP written")
        assert await ended(closing[0]), "close() never returned: the reader went on reading"


async def test_a_stop_under_way_ends_before_close_returns() -> None:
    async with redis_client() as other, named_client() as (client, name):
        prefix = key_prefix()
        a, b = RedisTakeCalls(client, prefix, "a"), RedisTakeCalls(other, prefix, "b")
        on_a = Stops(hold=True)
        a.serve(on_a)
        await b.ask_stop("a", "t1", "stopped")
        await wait_until(lambda: on_a.asked == [("t1", "stopped")], ENDS_S, "a is stopping t1")
        closing = asyncio.ensure_future(a.close())

        async def not_reading() -> bool:  # no longer waiting in BLPOP
            return not any("b" in c.get("flags", "") for c in await connections(other, name))

        await wait_until(not_reading, ENDS_S, "node a stops reading")
        assert not closing.done()  # the stop asked of it is still under way
        on_a.go.set()
        assert await ended(closing)
        assert on_a.done == ["t1"]  # finished, not cancelled: the asking node gets its take

"""Deadline ownership on a real Redis, two nodes: the last node to set a deadline owns it,
the other one's timer does nothing, and a node that stops beating hands its deadlines to
exactly one survivor."""

from __future__ import annotations

import asyncio
import math

from storage.redis_deadlines import RedisDeadlines
from tests.support.clock import wait_until
from tests.support.redis import key_prefix, redis_client, write_watching_client


async def test_the_last_node_to_set_a_deadline_owns_it() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a = RedisDeadlines(client, prefix, "a", lease_s=5)
        b = RedisDeadlines(client, prefix, "b", lease_s=5)
        await a.start()
        await b.start()
        try:
            await a.claim("att-1", 100.0)
            assert await a.owns("att-1") and not await b.owns("att-1")
            await b.claim("att-1", 120.0)
            assert await b.owns("att-1") and not await a.owns("att-1")
            await a.release("att-1")  # not a's to release
            assert await b.owner("att-1") == "b"
            assert await a.orphans(math.inf) == []  # its owner is alive
            await b.release("att-1")
            assert await b.owner("att-1") is None
            assert await client.zcard(prefix + "deadlines:due") == 0
        finally:
            await a.stop()
            await b.stop()


async def test_a_dead_nodes_deadlines_go_to_exactly_one_survivor() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        dead = RedisDeadlines(client, prefix, "dead", lease_s=0.5)
        b = RedisDeadlines(client, prefix, "b", lease_s=5)
        c = RedisDeadlines(client, prefix, "c", lease_s=5)
        for node in (dead, b, c):
            await node.start()
        try:
            for i in range(20):
                await dead.claim(f"att-{i}", 100.0 + i)
            await dead.stop(hand_over=False)  # as a kill -9: the heartbeat just stops
            assert await b.orphans(math.inf) == []  # its lease has not run out yet

            async def gone() -> bool:
                return not await client.exists(prefix + "node:dead")

            await wait_until(gone, 5, "the dead node's lease runs out")
            taken = await asyncio.gather(b.orphans(math.inf), c.orphans(math.inf))
            assert sorted(taken[0] + taken[1]) == sorted(f"att-{i}" for i in range(20))
            assert not set(taken[0]) & set(taken[1])  # each taken once
            for key in taken[0]:
                assert await b.owns(key)
        finally:
            await b.stop()
            await c.stop()


async def test_a_node_stopping_cleanly_hands_over_at_once() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a = RedisDeadlines(client, prefix, "a", lease_s=60)
        b = RedisDeadlines(client, prefix, "b", lease_s=60)
        await a.start()
        await b.start()
        await a.claim("att-1", 100.0)
        await a.stop()  # drained: its heartbeat removed
        assert await b.orphans(math.inf) == ["att-1"]
        await b.stop()


async def test_deadlines_forgotten_by_a_restarted_redis_are_claimed_again() -> None:
    """Redis restarted empty: the node's next heartbeat finds its key gone and claims again
    the deadlines it holds timers for (released ones and those another node set since, not)."""
    async with redis_client() as client:
        prefix = key_prefix()
        a = RedisDeadlines(client, prefix, "a", lease_s=0.3)
        b = RedisDeadlines(client, prefix, "b", lease_s=60)
        await a.start()
        try:
            await a.claim("att-1", 100.0)
            await a.claim("att-2", 110.0)
            await a.claim("att-3", 120.0)
            await a.release("att-2")
            await b.claim("att-3", 130.0)  # set on b since: b's now
            assert not await a.owns("att-3")
            keys = await client.keys(prefix + "*")
            await client.delete(*keys)  # as a restart without persistence

            async def back() -> bool:
                return await a.owner("att-1") == "a"

            await wait_until(back, 5, "a claimed att-1 again")
            assert await client.zscore(prefix + "deadlines:due", "att-1") == 100.0
            assert await a.owner("att-2") is None and await a.owner("att-3") is None
        finally:
            await a.stop()
            await b.stop()


async def test_a_deadline_stays_with_its_live_home() -> None:
    """The node holding a deadline's media (its home, decision 0026) keeps it when another
    node sets it: only its time moves; once the home is gone, the other node takes it."""
    async with redis_client() as client:
        prefix = key_prefix()
        home = RedisDeadlines(client, prefix, "home", lease_s=0.5)
        other = RedisDeadlines(client, prefix, "other", lease_s=5)
        await home.start()
        await other.start()
        try:
            await other.claim("att-1", 100.0)
            await home.home("att-1")
            await home.claim("att-1", 100.0)
            assert await home.owner("att-1") == "home"
            await other.claim("att-1", 220.0)  # a proctor's extra time, through "other"
            assert await home.owns("att-1") and not await other.owns("att-1")
            assert await client.zscore(prefix + "deadlines:due", "att-1") == 220.0
            await home.stop(hand_over=False)  # the home dies

            async def gone() -> bool:
                return not await client.exists(prefix + "node:home")

            await wait_until(gone, 5, "the home's lease runs out")
            await other.claim("att-1", 230.0)
            assert await other.owns("att-1")
            await other.release("att-1")
            assert not await client.hexists(prefix + "deadlines:home", "att-1")
        finally:
            await other.stop()


async def test_a_stop_whose_cancellation_is_lost_still_ends_the_heartbeat() -> None:
    """Stopped just as a beat's SET is written: on Python 3.11 redis-py's asyncio.wait_for
    around that write drops the cancellation. The beat used to go on for ever then, and
    the node's shutdown with it; it ends at its next turn, and the heartbeat is removed."""
    stopping: list[asyncio.Future[None]] = []
    node: RedisDeadlines | None = None

    def on_write(command: bytes) -> None:
        if node is not None and armed and b"\r\nSET\r\n" in command and not stopping:
            stopping.append(asyncio.ensure_future(node.stop()))

    armed = False
    async with write_watching_client(on_write) as client:
        prefix = key_prefix()
        node = RedisDeadlines(client, prefix, "a", lease_s=0.3)
        await node.start()
        armed = True  # the next beat's SET
        await wait_until(lambda: bool(stopping), 10, "a beat written")
        done, _ = await asyncio.wait(stopping, timeout=10)
        assert done, "stop() never returned: the heartbeat went on beating"
        assert not await client.exists(prefix + "node:a")

"""Which nodes are alive, from the heartbeats in a real Redis (``storage.redis_nodes``): a node
is alive while its heartbeat's lease holds; a crash ends it once the lease runs out, a clean
stop at once; a node is always alive to itself, and Redis out of reach makes no node dead.
The nodes gone (beat lately, not within the lease) are listed for the survivors' sweep."""

from __future__ import annotations

import redis.asyncio as aioredis

from bench.spawn import free_port
from storage.redis_deadlines import RedisDeadlines
from storage.redis_nodes import RedisNodes
from tests.support.clock import wait_until
from tests.support.redis import key_prefix, redis_client


async def test_a_node_is_alive_while_its_heartbeat_holds() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        crashed = RedisDeadlines(client, prefix, "crashed", lease_s=0.5)
        stopped = RedisDeadlines(client, prefix, "stopped", lease_s=60)
        b = RedisNodes(client, prefix, "b", lease_s=0.5)
        assert b.node == "b"
        assert await b.alive("b")  # itself, heartbeat or not
        assert not await b.alive("crashed")  # never started
        await crashed.start()
        await stopped.start()
        assert await b.alive("crashed") and await b.alive("stopped")
        await crashed.stop(hand_over=False)  # as a kill -9: the heartbeat just stops
        await stopped.stop()  # drained: its heartbeat removed
        assert not await b.alive("stopped")

        async def gone() -> bool:
            return not await b.alive("crashed")

        await wait_until(gone, 5, "the crashed node's lease runs out")

        async def listed() -> bool:  # the survivors' sweep looks at these nodes' takes only
            return set(await b.gone() or ()) == {"crashed", "stopped"}

        await wait_until(listed, 5, "both nodes listed as gone")
        await crashed.start()  # back: beats again
        assert "crashed" not in (await b.gone() or ())
        await crashed.stop()


async def test_redis_out_of_reach_makes_no_node_dead() -> None:
    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", decode_responses=True, socket_connect_timeout=1
    )
    try:
        nodes = RedisNodes(client, key_prefix(), "b")
        assert await nodes.alive("a")  # unknown: never taken from a node that may be recording
        assert await nodes.gone() is None  # unknown: the sweep looks at every take
    finally:
        await client.aclose()

"""Playback windows in a real Redis: opened through one node, seen through the other."""

from __future__ import annotations

from storage.redis_windows import RedisWindows
from tests.support.redis import key_prefix, redis_client


async def test_a_playback_window_opened_on_one_node_holds_on_the_other() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a, b = RedisWindows(client, prefix), RedisWindows(client, prefix)
        await a.open("t1", 130.0, 100.0)
        assert await b.until("t1", 120.0) == 130.0
        assert await b.until("t1", 130.0) is None  # over at its end (the domain's clock)
        await b.close("t1")
        assert await a.until("t1", 110.0) is None

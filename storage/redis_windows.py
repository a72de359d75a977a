"""Playback windows in Redis: implements ``exams.answering.windows.PlaybackWindows`` across
nodes.

One key per take holding the end of its window (the domain's clock), expiring a
little after that end in real time (Redis only collects the garbage: the end
read back decides). Losing a window only ends a playback early.
"""

from __future__ import annotations

import redis.asyncio as aioredis

SLACK_S = 60.0  # the key outlives the window's end by this much (clocks of nodes differ)


class RedisWindows:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix + "playback:"

    async def open(self, take_id: str, until: float, now: float) -> None:
        ttl_ms = round((max(0.0, until - now) + SLACK_S) * 1000)
        await self._redis.set(self._prefix + take_id, repr(float(until)), px=ttl_ms)

    async def until(self, take_id: str, now: float) -> float | None:
        raw = await self._redis.get(self._prefix + take_id)
        if raw is None or now >= float(raw):
            return None
        return float(raw)

    async def close(self, take_id: str) -> None:
        await self._redis.delete(self._prefix + take_id)

"""Rate-limit state in Redis: implements ``exams.throttle.RateLimiter`` across processes.

A sliding window is a sorted set of event times; a streak is a hash of count
and last time. Each operation is one Lua script, so concurrent servers cannot
both take the last slot. Times come from the caller (the domain clock); Redis
expiry only collects garbage. Redis is never the system of record: losing this
state only forgets recent failures.
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from exams.throttle import Streak

_TAKE = """
local key, limit, window, now, record = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), ARGV[4] == '1'
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  if record then
    redis.call('ZADD', key, now, ARGV[5])
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
  end
  return '0'
end
local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""

_BUMP = """
local key, now, ttl = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local expires = tonumber(redis.call('HGET', key, 'expires') or '0')
local count = 0
if expires > now then count = tonumber(redis.call('HGET', key, 'count') or '0') end
count = count + 1
redis.call('HSET', key, 'count', count, 'last', ARGV[1], 'expires', tostring(now + ttl))
redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
return count
"""


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str = "examcast:limits:") -> None:
        self._redis = client
        self._prefix = prefix
        self._take = client.register_script(_TAKE)
        self._bump = client.register_script(_BUMP)

    @classmethod
    def from_url(cls, url: str, prefix: str = "examcast:limits:") -> RedisRateLimiter:
        return cls(aioredis.Redis.from_url(url, decode_responses=True), prefix)

    async def _window(
        self, key: str, limit: int, window_s: float, now: float, record: bool
    ) -> float:
        member = f"{now!r}:{secrets.token_hex(4)}"
        args: list[str | int] = [
            limit,
            repr(float(window_s)),
            repr(float(now)),
            "1" if record else "0",
            member,
        ]
        result = await self._take(keys=[self._prefix + key], args=args)
        return max(0.0, float(result))

    async def take(self, key: str, limit: int, window_s: float, now: float) -> float:
        return await self._window(key, limit, window_s, now, True)

    async def peek(self, key: str, limit: int, window_s: float, now: float) -> float:
        return await self._window(key, limit, window_s, now, False)

    async def streak(self, key: str, now: float) -> Streak:
        values = await self._redis.hgetall(self._prefix + key)
        if not values or float(values.get("expires", 0)) <= now:
            return Streak(0, 0.0)
        return Streak(int(values["count"]), float(values["last"]))

    async def bump(self, key: str, now: float, ttl_s: float) -> Streak:
        count = await self._bump(keys=[self._prefix + key], args=[repr(float(now)), repr(ttl_s)])
        return Streak(int(count), now)

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()

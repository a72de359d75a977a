"""Rate-limit state in Redis: implements ``exams.shared.throttle.RateLimiter`` across processes.

A sliding window is a sorted set of event times; a streak is a hash of count,
last time and expiry. Each operation is one Lua script over all its keys, so
concurrent servers cannot both take the last slot, and a guess is counted in
the same step that allows it. Times come from the caller (the domain clock);
Redis expiry only collects garbage. Redis is never the system of record: losing
this state only forgets recent failures. (The keys of one call go to one
script: on a Redis Cluster they would need one hash slot.)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import redis.asyncio as aioredis

from exams.shared.telemetry import NO_TELEMETRY, CallTimer, Telemetry
from exams.shared.throttle import Backoff, Streak, Window

# KEYS: the windows. ARGV: now, a unique member, then (limit, seconds) per key.
_TAKE_MANY = """
local now, member = tonumber(ARGV[1]), ARGV[2]
local wait = 0
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
end
return '0'
"""

# KEYS: the streaks. ARGV: now, then (free, base, cap, forget) per key.
_RESERVE = """
local now = tonumber(ARGV[1])
local wait = 0
local counts = {}
for i, key in ipairs(KEYS) do
  local o = 4 * (i - 1) + 1
  local free, base, cap = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  local state = redis.call('HMGET', key, 'count', 'last', 'expires')
  local count = 0
  if state[3] and tonumber(state[3]) > now then count = tonumber(state[1]) end
  counts[i] = count
  if count > 0 and count >= free then
    local delay = math.min(cap, base * 2 ^ math.min(count - free, 64))
    wait = math.max(wait, tonumber(state[2]) + delay - now)
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local forget = tonumber(ARGV[4 * (i - 1) + 5])
  redis.call('HSET', key, 'count', counts[i] + 1, 'last', ARGV[1], 'expires',
    tostring(now + forget))
  redis.call('PEXPIRE', key, math.ceil(forget * 1000))
end
return '0'
"""

_REFUND = """
local key, now = KEYS[1], tonumber(ARGV[1])
local state = redis.call('HMGET', key, 'count', 'expires')
if not state[2] or tonumber(state[2]) <= now or tonumber(state[1]) <= 1 then
  redis.call('DEL', key)
else
  redis.call('HINCRBY', key, 'count', -1)
end
return 1
"""


def _number(value: float) -> str:
    return repr(float(value))


class RedisRateLimiter:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "examcast:limits:",
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._telemetry = telemetry  # every call: observe_call("redis", <method>, ...)
        self._take_many = client.register_script(_TAKE_MANY)
        self._reserve = client.register_script(_RESERVE)
        self._refund = client.register_script(_REFUND)

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "examcast:limits:", telemetry: Telemetry = NO_TELEMETRY
    ) -> RedisRateLimiter:
        return cls(aioredis.Redis.from_url(url, decode_responses=True), prefix, telemetry)

    def _timed(self, op: str) -> CallTimer:
        return CallTimer(self._telemetry, "redis", op)

    async def ping(self) -> None:
        """One round trip (the readiness check); raises when Redis cannot be reached."""
        with self._timed("ping"):
            await self._redis.ping()

    async def take_many(self, limits: Sequence[tuple[str, Window]], now: float) -> float:
        args: list[str | int] = [_number(now), f"{now!r}:{secrets.token_hex(6)}"]
        for _, window in limits:
            args += [window.limit, _number(window.seconds)]
        keys = [self._prefix + key for key, _ in limits]
        with self._timed("take_many"):
            return max(0.0, float(await self._take_many(keys=keys, args=args)))

    async def reserve(self, streaks: Sequence[tuple[str, Backoff]], now: float) -> float:
        args: list[str | int] = [_number(now)]
        for _, b in streaks:
            args += [b.free, _number(b.base_s), _number(b.cap_s), _number(b.forget_s)]
        keys = [self._prefix + key for key, _ in streaks]
        with self._timed("reserve"):
            return max(0.0, float(await self._reserve(keys=keys, args=args)))

    async def refund(self, key: str, now: float) -> None:
        with self._timed("refund"):
            await self._refund(keys=[self._prefix + key], args=[_number(now)])

    async def streak(self, key: str, now: float) -> Streak:
        with self._timed("streak"):
            values = await self._redis.hgetall(self._prefix + key)
        if not values or float(values.get("expires", 0)) <= now:
            return Streak(0, 0.0)
        return Streak(int(values["count"]), float(values["last"]))

    async def clear(self, key: str) -> None:
        with self._timed("clear"):
            await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()

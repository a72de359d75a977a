"""Both rate-limit stores keep the same contract; the Redis one against a real Redis.

The Redis cases need ``EXAMCAST_TEST_REDIS_URL`` (``scripts/test`` starts a
Redis and sets it) and are skipped without it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest

from exams.errors import TooManyRequests
from exams.throttle import LoginThrottle, RateLimiter
from storage.limits import MemoryRateLimiter
from storage.redis_limits import RedisRateLimiter

REDIS_URL = os.environ.get("EXAMCAST_TEST_REDIS_URL")


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    if not REDIS_URL:
        pytest.skip("EXAMCAST_TEST_REDIS_URL is not set")
    redis_limiter = RedisRateLimiter.from_url(REDIS_URL, f"examcast-test:{secrets.token_hex(4)}:")
    try:
        yield redis_limiter
    finally:
        await redis_limiter.close()


async def test_sliding_window(limiter: RateLimiter) -> None:
    assert await limiter.take("k", 2, 60, now=0) == 0
    assert await limiter.take("k", 2, 60, now=10) == 0
    assert await limiter.peek("k", 2, 60, now=20) == pytest.approx(40)
    assert await limiter.take("k", 2, 60, now=20) == pytest.approx(40)
    assert await limiter.take("k", 2, 60, now=60) == 0
    assert await limiter.take("k", 2, 60, now=61) == pytest.approx(9)


async def test_streaks(limiter: RateLimiter) -> None:
    assert (await limiter.streak("s", now=0)).count == 0
    await limiter.bump("s", now=0, ttl_s=100)
    streak = await limiter.bump("s", now=50, ttl_s=100)
    assert (streak.count, streak.last_at) == (2, 50)
    assert (await limiter.streak("s", now=149)).count == 2
    assert (await limiter.streak("s", now=150)).count == 0
    assert (await limiter.bump("s", now=150, ttl_s=100)).count == 1  # a new streak
    await limiter.clear("s")
    assert (await limiter.streak("s", now=151)).count == 0


async def test_concurrent_takes_never_exceed_the_limit(limiter: RateLimiter) -> None:
    results = await asyncio.gather(*(limiter.take("c", 5, 60, now=1) for _ in range(20)))
    assert sum(1 for r in results if r == 0) == 5


async def test_login_throttle_on_this_store(limiter: RateLimiter) -> None:
    throttle = LoginThrottle(limiter)
    for _ in range(5):
        await throttle.failed("13800138000", "a", 100)
    with pytest.raises(TooManyRequests):
        await throttle.check("13800138000", "a", 100)
    await throttle.check("13800138000", "b", 100)

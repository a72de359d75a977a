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

from exams.shared.errors import TooManyRequests
from exams.shared.throttle import (
    Backoff,
    LoginThrottle,
    RateLimiter,
    Streak,
    Window,
    reserve_guess,
    take_all,
)
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
    k = [("k", Window(2, 60))]
    assert await limiter.take_many(k, now=0) == 0
    assert await limiter.take_many(k, now=10) == 0
    assert await limiter.take_many(k, now=20) == pytest.approx(40)
    assert await limiter.take_many(k, now=60) == 0
    assert await limiter.take_many(k, now=61) == pytest.approx(9)


async def test_several_windows_are_taken_all_or_none(limiter: RateLimiter) -> None:
    await limiter.take_many([("b", Window(1, 60))], now=0)
    both = [("a", Window(5, 60)), ("b", Window(1, 60))]
    assert await limiter.take_many(both, now=1) == pytest.approx(59)
    assert await limiter.take_many([("a", Window(1, 60))], now=1) == 0  # "a" was not spent


async def test_streaks_reserve_back_off_refund_and_clear(limiter: RateLimiter) -> None:
    s = [("s", Backoff(free=2, base_s=10, cap_s=100, forget_s=100))]
    assert (await limiter.streak("s", now=0)).count == 0
    assert await limiter.reserve(s, now=0) == 0
    assert await limiter.reserve(s, now=50) == 0
    assert (await limiter.streak("s", now=50)) == Streak(2, 50)
    assert await limiter.reserve(s, now=51) == pytest.approx(9)  # refused: nothing counted
    await limiter.refund("s", now=51)
    assert await limiter.reserve(s, now=51) == 0
    assert await limiter.reserve(s, now=61) == 0
    assert await limiter.reserve(s, now=62) == pytest.approx(19)
    assert (await limiter.streak("s", now=160)).count == 3
    assert (await limiter.streak("s", now=161)).count == 0  # forgotten 100 s after the last
    assert await limiter.reserve(s, now=161) == 0  # a new streak
    await limiter.clear("s")
    assert (await limiter.streak("s", now=162)).count == 0


async def test_a_reservation_is_all_or_nothing_across_keys(limiter: RateLimiter) -> None:
    tight, loose = Backoff(1, 10, 100, 1000), Backoff(100, 1, 100, 1000)
    assert await limiter.reserve([("pair", tight), ("addr", loose)], now=0) == 0
    assert await limiter.reserve([("pair", tight), ("addr", loose)], now=1) == pytest.approx(9)
    assert (await limiter.streak("addr", now=1)).count == 1  # the refused one cost nothing


async def test_concurrent_takes_never_exceed_the_limit(limiter: RateLimiter) -> None:
    limits = [("c", Window(5, 60)), ("d", Window(100, 60))]
    results = await asyncio.gather(
        *(take_all(limiter, limits, 1, "wait") for _ in range(40)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 5
    assert all(isinstance(r, TooManyRequests) for r in results if r is not None)
    assert await limiter.take_many([("d", Window(6, 60))], now=1) == 0  # "d" holds 5 + 1
    assert await limiter.take_many([("d", Window(6, 60))], now=1) > 0


async def test_concurrent_guesses_are_counted_before_any_is_checked(limiter: RateLimiter) -> None:
    streaks = [("pair", Backoff(5, 1, 60, 3600)), ("addr", Backoff(1000, 1, 60, 3600))]
    results = await asyncio.gather(
        *(reserve_guess(limiter, streaks, 1, "wait") for _ in range(40)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 5
    assert (await limiter.streak("pair", now=1)).count == 5
    assert (await limiter.streak("addr", now=1)).count == 5


async def test_login_throttle_on_this_store(limiter: RateLimiter) -> None:
    throttle = LoginThrottle(limiter)
    results = await asyncio.gather(
        *(throttle.reserve("13800138000", "a", 100) for _ in range(40)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 5
    with pytest.raises(TooManyRequests):
        await throttle.reserve("13800138000", "a", 100)
    await throttle.reserve("13800138000", "b", 100)  # the owner elsewhere
    await throttle.reserve("13900139000", "a", 100)  # another account from the same address
    await throttle.succeeded("13900139000", "a", 100)
    assert (await limiter.streak("login-address:a", 100)).count == 5

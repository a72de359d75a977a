from __future__ import annotations

import pytest

from exams.errors import TooManyRequests
from exams.throttle import Backoff, LoginThrottle, Window, take_all
from storage.limits import MemoryRateLimiter


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    b = Backoff(free=3, base_s=1, cap_s=10, forget_s=60)
    assert [b.delay(n) for n in range(8)] == [0, 0, 0, 1, 2, 4, 8, 10]


async def test_sliding_window() -> None:
    limiter = MemoryRateLimiter()
    assert await limiter.take("k", 2, 60, now=0) == 0
    assert await limiter.take("k", 2, 60, now=10) == 0
    assert await limiter.take("k", 2, 60, now=20) == pytest.approx(40)
    assert await limiter.peek("k", 2, 60, now=60) == 0  # the first has left the window
    assert await limiter.take("k", 2, 60, now=60) == 0
    assert await limiter.take("k", 2, 60, now=61) == pytest.approx(9)


async def test_streaks_are_forgotten_after_their_ttl() -> None:
    limiter = MemoryRateLimiter()
    await limiter.bump("s", now=0, ttl_s=100)
    assert (await limiter.bump("s", now=50, ttl_s=100)).count == 2
    assert (await limiter.streak("s", now=149)).count == 2
    assert (await limiter.streak("s", now=150)).count == 0
    await limiter.bump("s", now=150, ttl_s=100)
    await limiter.clear("s")
    assert (await limiter.streak("s", now=151)).count == 0


async def test_memory_store_is_bounded() -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    for i in range(100):
        await limiter.bump(f"k{i}", now=0, ttl_s=100)
    assert (await limiter.streak("k0", now=1)).count == 0
    assert (await limiter.streak("k99", now=1)).count == 1


async def test_take_all_records_nothing_when_one_limit_is_reached() -> None:
    limiter = MemoryRateLimiter()
    await limiter.take("b", 1, 60, now=0)
    with pytest.raises(TooManyRequests) as refused:
        await take_all(limiter, [("a", Window(5, 60)), ("b", Window(1, 60))], 1, "slow down")
    assert refused.value.details == {"retry_after": 59}
    assert await limiter.peek("a", 1, 60, now=1) == 0  # "a" was not spent


async def test_login_throttle_slows_one_address_and_never_the_owner_elsewhere() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    now = 1000.0
    for _ in range(5):  # the free failures
        await throttle.check("13800138000", "attacker", now)
        await throttle.failed("13800138000", "attacker", now)
    with pytest.raises(TooManyRequests) as slowed:
        await throttle.check("13800138000", "attacker", now)
    assert slowed.value.details == {"retry_after": 1}
    await throttle.check("13800138000", "attacker", now + 1)  # the wait is over
    await throttle.failed("13800138000", "attacker", now + 1)
    with pytest.raises(TooManyRequests) as longer:
        await throttle.check("13800138000", "attacker", now + 2)
    assert longer.value.details == {"retry_after": 1}  # 2 s after the sixth failure
    await throttle.check("13800138000", "owner-home", now + 2)  # never a lockout


async def test_success_clears_only_the_account_and_address_pair() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    for i in range(5):
        await throttle.failed("13800138000", "a", float(i))
    await throttle.succeeded("13800138000", "a")
    await throttle.failed("13800138000", "a", 10)
    await throttle.check("13800138000", "a", 10)  # one failure after the success: free


async def test_an_address_guessing_across_accounts_is_slowed() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    for i in range(30):
        await throttle.failed(f"1380013{i:04d}", "spray", 100)
    with pytest.raises(TooManyRequests):
        await throttle.check("13999999999", "spray", 100)
    await throttle.check("13999999999", "elsewhere", 100)

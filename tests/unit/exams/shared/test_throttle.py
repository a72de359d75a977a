from __future__ import annotations

import asyncio

import pytest

from exams.shared.errors import TooManyRequests
from exams.shared.throttle import (
    Backoff,
    LoginPolicy,
    LoginThrottle,
    Window,
    address_key,
    reserve_guess,
    take_all,
)
from storage.limits import MemoryRateLimiter

PHONE = "13800138000"


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    b = Backoff(free=3, base_s=1, cap_s=10, forget_s=60)
    assert [b.delay(n) for n in range(8)] == [0, 0, 0, 1, 2, 4, 8, 10]
    assert b.delay(10_000) == 10  # no overflow for a very long streak


def test_log_in_back_off_is_short_and_the_address_bound_fits_an_exam_hall() -> None:
    policy = LoginPolicy()
    assert policy.per_account_address.free <= 10
    assert policy.per_account_address.cap_s <= 5 * 60 and policy.per_address.cap_s <= 5 * 60
    assert policy.per_address.free >= 500  # hundreds of candidates behind one NAT address


async def test_sliding_window() -> None:
    limiter = MemoryRateLimiter()
    k = [("k", Window(2, 60))]
    assert await limiter.take_many(k, now=0) == 0
    assert await limiter.take_many(k, now=10) == 0
    assert await limiter.take_many(k, now=20) == pytest.approx(40)
    assert await limiter.take_many(k, now=60) == 0  # the first has left the window
    assert await limiter.take_many(k, now=61) == pytest.approx(9)


async def test_reserve_counts_free_guesses_then_backs_off_and_refund_gives_one_back() -> None:
    limiter = MemoryRateLimiter()
    b = [("s", Backoff(free=2, base_s=10, cap_s=100, forget_s=1000))]
    assert await limiter.reserve(b, now=0) == 0
    assert await limiter.reserve(b, now=1) == 0
    assert await limiter.reserve(b, now=2) == pytest.approx(9)  # refused: counts nothing
    assert (await limiter.streak("s", now=2)).count == 2
    await limiter.refund("s", now=2)
    assert await limiter.reserve(b, now=2) == 0
    assert await limiter.reserve(b, now=12) == 0  # the wait after the second is over
    assert await limiter.reserve(b, now=13) == pytest.approx(19)  # then twice as long
    assert (await limiter.streak("s", now=1011)).count == 3
    assert (await limiter.streak("s", now=1012)).count == 0  # forgotten
    await limiter.clear("s")
    assert (await limiter.streak("s", now=13)).count == 0


async def test_memory_store_is_bounded() -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    for i in range(100):
        await limiter.reserve([(f"k{i}", Backoff(5, 1, 10, 100))], now=0)
    assert (await limiter.streak("k0", now=1)).count == 0
    assert (await limiter.streak("k99", now=1)).count == 1


async def test_take_all_records_nothing_when_one_limit_is_reached() -> None:
    limiter = MemoryRateLimiter()
    await limiter.take_many([("b", Window(1, 60))], now=0)
    with pytest.raises(TooManyRequests) as refused:
        await take_all(limiter, [("a", Window(5, 60)), ("b", Window(1, 60))], 1, "slow down")
    assert refused.value.details == {"retry_after": 59}
    assert await limiter.take_many([("a", Window(1, 60))], now=1) == 0  # "a" was not spent


async def test_parallel_take_all_records_exactly_the_limit() -> None:
    limiter = MemoryRateLimiter()
    limits = [("a", Window(5, 60)), ("b", Window(50, 60))]
    results = await asyncio.gather(
        *(take_all(limiter, limits, 1, "slow down") for _ in range(40)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 5
    assert all(isinstance(r, TooManyRequests) for r in results if r is not None)
    # "b" was spent only by the five that passed: a sixth fits under 6, a seventh does not.
    assert await limiter.take_many([("b", Window(6, 60))], now=1) == 0
    assert await limiter.take_many([("b", Window(6, 60))], now=1) > 0


async def test_parallel_guesses_are_reserved_before_they_are_checked() -> None:
    limiter = MemoryRateLimiter()
    streaks = [("pair", Backoff(5, 1, 60, 3600)), ("addr", Backoff(100, 1, 60, 3600))]
    results = await asyncio.gather(
        *(reserve_guess(limiter, streaks, 1, "wait") for _ in range(40)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 5
    assert (await limiter.streak("addr", now=1)).count == 5  # the refused cost nothing


async def test_login_throttle_slows_one_address_and_never_the_owner_elsewhere() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    now = 1000.0
    for _ in range(5):  # the free failures
        await throttle.reserve(PHONE, "attacker", now)
    with pytest.raises(TooManyRequests) as slowed:
        await throttle.reserve(PHONE, "attacker", now)
    assert slowed.value.details == {"retry_after": 1}
    await throttle.reserve(PHONE, "attacker", now + 1)  # the wait is over
    with pytest.raises(TooManyRequests) as longer:
        await throttle.reserve(PHONE, "attacker", now + 2)
    assert longer.value.details == {"retry_after": 1}  # 2 s after the sixth failure
    await throttle.reserve(PHONE, "owner-home", now + 2)  # never a lockout
    await throttle.reserve("13900139000", "attacker", now + 2)  # nor for the address


async def test_one_ipv6_64_is_one_address_for_the_throttle() -> None:
    """A single host usually holds a whole IPv6 /64: 2^64 addresses must not mean 2^64 x 5
    free guesses (before, 240 guesses from 40 addresses of one /64 were all checked)."""
    throttle = LoginThrottle(MemoryRateLimiter())
    for i in range(1, 6):
        await throttle.reserve(PHONE, f"2001:db8::{i:x}", 0)
    with pytest.raises(TooManyRequests):
        await throttle.reserve(PHONE, "2001:db8::ffff:1234", 0)
    await throttle.reserve(PHONE, "2001:db8:0:1::1", 0)  # the next /64: someone else
    await throttle.reserve(PHONE, "192.0.2.7", 0)


def test_address_keys() -> None:
    assert address_key("2001:db8::1") == address_key("2001:DB8:0:0:ffff::9") == "2001:db8::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"  # an IPv4 client on a v6 socket
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("fe80::1%lo") == "fe80::/64"
    assert address_key("unknown") == "unknown"


async def test_the_back_off_is_capped_at_a_few_minutes() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    now = 0.0
    waits = []
    for _ in range(30):
        try:
            await throttle.reserve(PHONE, "a", now)
        except TooManyRequests as slowed:
            waits.append(slowed.details["retry_after"])
            now += slowed.details["retry_after"]
    assert max(waits) == 300


async def test_success_clears_the_pair_and_gives_the_address_its_guess_back() -> None:
    limiter = MemoryRateLimiter()
    throttle = LoginThrottle(limiter)
    for i in range(5):
        await throttle.reserve(PHONE, "a", float(i))
    await throttle.reserve("13900139000", "a", 5)
    await throttle.succeeded("13900139000", "a", 5)  # a success on another account...
    assert (await limiter.streak(f"login:{PHONE}@a", 5)).count == 5  # ...clears only its pair
    assert (await limiter.streak("login-address:a", 5)).count == 5
    await throttle.reserve(PHONE, "a", 6)
    await throttle.succeeded(PHONE, "a", 6)
    assert (await limiter.streak(f"login:{PHONE}@a", 6)).count == 0
    assert (await limiter.streak("login-address:a", 6)).count == 5


async def test_an_exam_hall_behind_one_address_logs_in_at_once() -> None:
    throttle = LoginThrottle(MemoryRateLimiter())
    phones = [f"1390000{i:04d}" for i in range(600)]
    # Everyone's guess is in flight at once; a tenth mistype first.
    await asyncio.gather(*(throttle.reserve(p, "hall", 100) for p in phones[:60]))
    await asyncio.gather(*(throttle.reserve(p, "hall", 100) for p in phones))
    await asyncio.gather(*(throttle.succeeded(p, "hall", 101) for p in phones))


async def test_an_address_spraying_across_accounts_is_slowed() -> None:
    policy = LoginPolicy()
    throttle = LoginThrottle(MemoryRateLimiter(), policy)
    for i in range(policy.per_address.free):
        await throttle.reserve(f"1{i:010d}", "spray", 100)
    with pytest.raises(TooManyRequests):
        await throttle.reserve("13999999999", "spray", 100)
    await throttle.reserve("13999999999", "elsewhere", 100)

"""Rate limits and log-in throttling, on a small storage port.

Two primitives cover every limit: a sliding-window counter (``take``/``peek``:
at most N events in the last W seconds) and a failure streak (``bump``/
``streak``/``clear``: failures in a row, forgotten some time after the last).
``storage.limits`` keeps them in memory, ``storage.redis_limits`` in Redis, so
several server processes share them. The caller passes the time, so the rules
run on the domain's injected clock.

Log-in throttling never locks an account: it slows down guessing *per client
address*, both for one account (a streak per account and address, cleared by a
successful log-in) and across accounts (a streak per address), with a delay that
doubles with each failure past a free allowance. The real owner logging in from
another address is never slowed by an attacker's failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from exams.errors import TooManyRequests


@dataclass(frozen=True)
class Streak:
    count: int
    last_at: float


class RateLimiter(Protocol):
    async def take(self, key: str, limit: int, window_s: float, now: float) -> float:
        """Record one event if fewer than ``limit`` happened in the last ``window_s``.

        Returns 0.0 when recorded, otherwise the seconds until one more is allowed
        (and records nothing).
        """
        ...

    async def peek(self, key: str, limit: int, window_s: float, now: float) -> float:
        """Like :meth:`take` without recording."""
        ...

    async def streak(self, key: str, now: float) -> Streak:
        """The failures in a row under ``key`` (count 0 when none or forgotten)."""
        ...

    async def bump(self, key: str, now: float, ttl_s: float) -> Streak:
        """One more failure; the streak is forgotten ``ttl_s`` after this one."""
        ...

    async def clear(self, key: str) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """``free`` failures cost nothing; then each waits twice the one before, up to ``cap_s``."""

    free: int
    base_s: float
    cap_s: float
    forget_s: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2 ** (failures - self.free))


@dataclass(frozen=True)
class LoginPolicy:
    per_account_address: Backoff = Backoff(free=5, base_s=1, cap_s=15 * 60, forget_s=24 * 3600)
    # An exam hall behind one NAT address shares this one: generous on purpose.
    per_address: Backoff = Backoff(free=30, base_s=1, cap_s=15 * 60, forget_s=3600)


def retry_message(what: str, wait: float) -> TooManyRequests:
    seconds = max(1, math.ceil(wait))
    return TooManyRequests(
        f"{what}; try again in {seconds} second{'s' if seconds != 1 else ''}",
        {"retry_after": seconds},
    )


class LoginThrottle:
    def __init__(self, limiter: RateLimiter, policy: LoginPolicy | None = None) -> None:
        self._limiter = limiter
        self._policy = policy or LoginPolicy()

    @staticmethod
    def _keys(login: str, address: str) -> tuple[str, str]:
        return f"login:{login}@{address}", f"login-address:{address}"

    async def check(self, login: str, address: str, now: float) -> None:
        """Refuse (429) while this account-and-address or this address must wait."""
        pair, addr = self._keys(login, address)
        wait = 0.0
        for key, backoff in (
            (pair, self._policy.per_account_address),
            (addr, self._policy.per_address),
        ):
            streak = await self._limiter.streak(key, now)
            if streak.count:
                wait = max(wait, streak.last_at + backoff.delay(streak.count) - now)
        if wait > 0:
            raise retry_message("too many failed log-ins from this network", wait)

    async def failed(self, login: str, address: str, now: float) -> None:
        pair, addr = self._keys(login, address)
        await self._limiter.bump(pair, now, self._policy.per_account_address.forget_s)
        await self._limiter.bump(addr, now, self._policy.per_address.forget_s)

    async def succeeded(self, login: str, address: str) -> None:
        # Only this pair: a success on the attacker's own account must not clear the address.
        await self._limiter.clear(self._keys(login, address)[0])


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


async def take_all(
    limiter: RateLimiter, limits: list[tuple[str, Window]], now: float, what: str
) -> None:
    """Record one event under every key, or none when any of them is at its limit."""
    wait = 0.0
    for key, window in limits:
        wait = max(wait, await limiter.peek(key, window.limit, window.seconds, now))
    if wait > 0:
        raise retry_message(what, wait)
    for key, window in limits:
        await limiter.take(key, window.limit, window.seconds, now)

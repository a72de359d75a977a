"""Rate limits and log-in throttling, on a small storage port.

Two primitives cover every limit, and each is one atomic step in the store
(no ``await`` between looking and counting, one Lua script in Redis), so
parallel requests cannot all see the same "allowed" before any is counted:

- a sliding-window counter (:meth:`RateLimiter.take_many`: at most N events in
  the last W seconds, for several keys at once, all or none);
- a failure streak with back-off (:meth:`RateLimiter.reserve`: failures in a
  row, forgotten some time after the last). A guess is *reserved* — counted as
  a failure — before it is checked; a right guess then gives it back
  (:meth:`RateLimiter.refund`) or ends the streak (:meth:`RateLimiter.clear`).

``storage.limits`` keeps them in memory, ``storage.redis_limits`` in Redis, so
several server processes share them. The caller passes the time, so the rules
run on the domain's injected clock.

Log-in throttling never locks an account or an address: it slows down guessing
first *per account and client address* (a few free failures, then a short
doubling back-off, cleared by a successful log-in), and, as a backstop against
one address spraying many accounts, per address with an allowance large enough
for an exam hall behind one NAT address. The real owner logging in from another
address is never slowed by an attacker's failures.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from exams.shared.errors import TooManyRequests


@dataclass(frozen=True)
class Streak:
    count: int
    last_at: float


@dataclass(frozen=True)
class Backoff:
    """``free`` failures cost nothing; then each waits twice the one before, up to ``cap_s``.

    A streak is forgotten ``forget_s`` after its last failure.
    """

    free: int
    base_s: float
    cap_s: float
    forget_s: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2 ** min(failures - self.free, 64))

    def wait(self, streak: Streak, now: float) -> float:
        """Seconds until one more failure may be counted on ``streak`` (0.0: now)."""
        if streak.count == 0:
            return 0.0
        return max(0.0, streak.last_at + self.delay(streak.count) - now)


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


class RateLimiter(Protocol):
    async def take_many(self, limits: Sequence[tuple[str, Window]], now: float) -> float:
        """Record one event under every key if each had fewer than its limit in its window.

        All or nothing, in one atomic step. Returns 0.0 when recorded, otherwise the
        seconds until every key allows one more (and records nothing).
        """
        ...

    async def reserve(self, streaks: Sequence[tuple[str, Backoff]], now: float) -> float:
        """Count one failure under every key unless one of them must still wait.

        All or nothing, in one atomic step: the check and the count cannot be
        separated by another caller. Returns 0.0 when counted, otherwise the
        longest wait in seconds (and counts nothing).
        """
        ...

    async def refund(self, key: str, now: float) -> None:
        """Give back one failure counted by :meth:`reserve` (the guess was right)."""
        ...

    async def streak(self, key: str, now: float) -> Streak:
        """The failures in a row under ``key`` (count 0 when none or forgotten)."""
        ...

    async def clear(self, key: str) -> None: ...


def address_key(address: str) -> str:
    """What a limit per client address counts: the IPv4 address, or an IPv6 address's /64.

    A single host is usually given a whole /64 (a home router's LAN, a cloud server), so
    counting each IPv6 address alone would give one attacker 2^64 fresh allowances.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone (%eth0)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4 client on a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def retry_message(what: str, wait: float) -> TooManyRequests:
    seconds = max(1, math.ceil(wait))
    return TooManyRequests(
        f"{what}; try again in {seconds} second{'s' if seconds != 1 else ''}",
        {"retry_after": seconds},
    )


async def take_all(
    limiter: RateLimiter, limits: list[tuple[str, Window]], now: float, what: str
) -> None:
    """Record one event under every key, or none (429) when any of them is at its limit."""
    wait = await limiter.take_many(limits, now)
    if wait > 0:
        raise retry_message(what, wait)


async def reserve_guess(
    limiter: RateLimiter, streaks: list[tuple[str, Backoff]], now: float, what: str
) -> None:
    """Count one guess under every key before it is checked, or refuse (429) while one waits."""
    wait = await limiter.reserve(streaks, now)
    if wait > 0:
        raise retry_message(what, wait)


@dataclass(frozen=True)
class LoginPolicy:
    # The rule that matters: one account from one address. Short, doubling, capped.
    per_account_address: Backoff = Backoff(free=5, base_s=1, cap_s=5 * 60, forget_s=24 * 3600)
    # A backstop against one address spraying many accounts. An exam hall of hundreds of
    # candidates behind one NAT address logs in at once (every log-in in flight holds one
    # reservation until its password is checked) and some mistype: far above that.
    per_address: Backoff = Backoff(free=1000, base_s=1, cap_s=5 * 60, forget_s=3600)


class LoginThrottle:
    """Reserve a log-in guess before the password is checked; a success gives it back."""

    def __init__(self, limiter: RateLimiter, policy: LoginPolicy | None = None) -> None:
        self._limiter = limiter
        self._policy = policy or LoginPolicy()

    @staticmethod
    def _keys(login: str, address: str) -> tuple[str, str]:
        address = address_key(address)
        return f"login:{login}@{address}", f"login-address:{address}"

    async def reserve(self, login: str, address: str, now: float) -> None:
        """Count this attempt as a failure up front, or refuse (429) while it must wait."""
        pair, addr = self._keys(login, address)
        await reserve_guess(
            self._limiter,
            [(pair, self._policy.per_account_address), (addr, self._policy.per_address)],
            now,
            "too many failed log-ins from this network",
        )

    async def succeeded(self, login: str, address: str, now: float) -> None:
        """The reserved attempt was right: end this pair's streak, give the address its one back.

        Only the pair is cleared: a success on an attacker's own account must not
        clear what the address has spent on other accounts.
        """
        pair, addr = self._keys(login, address)
        await self._limiter.clear(pair)
        await self._limiter.refund(addr, now)

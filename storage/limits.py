"""Rate-limit state in memory: implements ``exams.shared.throttle.RateLimiter`` for one process.

Every operation runs without an ``await`` between reading and writing, so on
one event loop it is atomic: parallel requests cannot both pass a check before
either is counted.

Bounded: expired entries are swept as the store is used, and past
``max_keys`` the least recently used key is dropped (an attacker spraying
addresses costs memory only up to that bound).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

from exams.shared.throttle import Backoff, Streak, Window

_SWEEP_EVERY = 1024


class MemoryRateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._windows: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()
        self._streaks: OrderedDict[str, tuple[Streak, float]] = OrderedDict()
        self._ops = 0

    async def take_many(self, limits: Sequence[tuple[str, Window]], now: float) -> float:
        self._sweep(now)
        wait = max((self._window_wait(key, w, now) for key, w in limits), default=0.0)
        if wait > 0:
            return wait
        for key, window in limits:
            events, _ = self._windows.get(key, (deque(), 0.0))
            events.append(now)
            self._windows[key] = (events, now + window.seconds)
            self._windows.move_to_end(key)
        self._bound(self._windows)
        return 0.0

    def _window_wait(self, key: str, window: Window, now: float) -> float:
        entry = self._windows.get(key)
        if entry is None:
            return 0.0
        events = entry[0]
        while events and events[0] <= now - window.seconds:
            events.popleft()
        if len(events) < window.limit:
            return 0.0
        return max(0.0, events[len(events) - window.limit] + window.seconds - now)

    async def reserve(self, streaks: Sequence[tuple[str, Backoff]], now: float) -> float:
        self._sweep(now)
        current = [(key, backoff, self._streak(key, now)) for key, backoff in streaks]
        wait = max((b.wait(s, now) for _, b, s in current), default=0.0)
        if wait > 0:
            return wait
        for key, backoff, streak in current:
            self._streaks[key] = (Streak(streak.count + 1, now), now + backoff.forget_s)
            self._streaks.move_to_end(key)
        self._bound(self._streaks)
        return 0.0

    async def refund(self, key: str, now: float) -> None:
        entry = self._streaks.get(key)
        if entry is None:
            return
        streak, expires = entry
        if streak.count <= 1 or expires <= now:
            del self._streaks[key]
        else:
            self._streaks[key] = (Streak(streak.count - 1, streak.last_at), expires)

    async def streak(self, key: str, now: float) -> Streak:
        return self._streak(key, now)

    def _streak(self, key: str, now: float) -> Streak:
        entry = self._streaks.get(key)
        if entry is None or entry[1] <= now:
            return Streak(0, 0.0)
        return entry[0]

    async def clear(self, key: str) -> None:
        self._streaks.pop(key, None)
        self._windows.pop(key, None)

    def _bound(self, table: OrderedDict[str, Any]) -> None:
        while len(table) > self._max_keys:
            table.popitem(last=False)

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % _SWEEP_EVERY:
            return
        for table in (self._windows, self._streaks):
            for key in [k for k, (_, expires) in table.items() if expires <= now]:
                del table[key]

"""Rate-limit state in memory: implements ``exams.throttle.RateLimiter`` for one process.

Bounded: expired entries are swept as the store is used, and past
``max_keys`` the least recently used key is dropped (an attacker spraying
addresses costs memory only up to that bound).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from exams.throttle import Streak

_SWEEP_EVERY = 1024


class MemoryRateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._windows: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()
        self._streaks: OrderedDict[str, tuple[Streak, float]] = OrderedDict()
        self._ops = 0

    async def take(self, key: str, limit: int, window_s: float, now: float) -> float:
        wait = await self.peek(key, limit, window_s, now)
        if wait == 0.0:
            events, _ = self._windows.get(key, (deque(), 0.0))
            events.append(now)
            self._windows[key] = (events, now + window_s)
            self._windows.move_to_end(key)
            self._bound(self._windows)
        return wait

    async def peek(self, key: str, limit: int, window_s: float, now: float) -> float:
        self._sweep(now)
        entry = self._windows.get(key)
        if entry is None:
            return 0.0
        events = entry[0]
        while events and events[0] <= now - window_s:
            events.popleft()
        if len(events) < limit:
            return 0.0
        return events[len(events) - limit] + window_s - now

    async def streak(self, key: str, now: float) -> Streak:
        entry = self._streaks.get(key)
        if entry is None or entry[1] <= now:
            return Streak(0, 0.0)
        return entry[0]

    async def bump(self, key: str, now: float, ttl_s: float) -> Streak:
        self._sweep(now)
        current = await self.streak(key, now)
        streak = Streak(current.count + 1, now)
        self._streaks[key] = (streak, now + ttl_s)
        self._streaks.move_to_end(key)
        self._bound(self._streaks)
        return streak

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

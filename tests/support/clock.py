"""Time a test moves: a clock and a scheduler for a real server, and bounded waits.

:class:`MovableTime` is the wall clock plus an offset that only grows: real media,
sockets and HTTP go on in real time, and a test jumps over a deadline with
:meth:`MovableTime.advance` instead of sleeping it out. Its timers (the server's
scheduler) fire when their time comes, whether real time or a jump brought it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from web.scheduling import LoopScheduler

T = TypeVar("T")


@dataclass
class _Timer:
    when: float
    callback: Callable[[], Any]
    handle: asyncio.TimerHandle | None = None
    done: bool = False


class MovableTime(LoopScheduler):
    """``exams.shared.ports.Clock`` and ``Scheduler`` on the wall clock plus a test's jumps."""

    def __init__(self) -> None:
        super().__init__(self)
        self.offset = 0.0
        self._timers: list[_Timer] = []

    def __call__(self) -> float:
        return time.time() + self.offset

    def call_at(self, when: float, callback: Callable[[], Any]) -> Callable[[], None]:
        timer = _Timer(when, callback)
        self._timers.append(timer)
        self._arm(timer)

        def cancel() -> None:
            timer.done = True
            if timer.handle is not None:
                timer.handle.cancel()

        return cancel

    def advance(self, seconds: float) -> float:
        """Move time forward (not back: a negative jump is none); timers now due fire at
        once, in time order. The new now."""
        self.offset += max(0.0, seconds)
        self._timers = [t for t in self._timers if not t.done]
        for timer in sorted(self._timers, key=lambda t: t.when):
            if timer.handle is not None:
                timer.handle.cancel()
            self._arm(timer)
        return self()

    def _arm(self, timer: _Timer) -> None:
        loop = asyncio.get_running_loop()
        timer.handle = loop.call_later(max(0.0, timer.when - self()), self._due, timer)

    def _due(self, timer: _Timer) -> None:
        if not timer.done:
            timer.done = True
            self._fire(timer.callback)


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10, what: str = ""
) -> None:
    """Poll ``predicate`` (plain or async) until it holds; fail after ``timeout`` seconds."""

    async def holds() -> bool:
        result = predicate()
        return result if isinstance(result, bool) else await result

    await wait_for(holds, bool, timeout, what or str(predicate))


async def wait_for(
    fetch: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    timeout: float = 10,
    what: str = "",
) -> T:
    """Poll ``fetch()`` until ``check`` holds for what it returns, and return that; fail after
    ``timeout`` seconds, showing the last thing fetched."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if check(value):
            return value
        assert time.monotonic() < deadline, (
            f"not within {timeout}s: {what or check}; last: {value!r}"
        )
        await asyncio.sleep(0.02)

"""The wall clock and a scheduler on the event loop: ``exams.catalog.takes`` ports."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from exams.shared.errors import Conflict

log = logging.getLogger(__name__)


def wall_clock() -> float:
    return time.time()


class LoopScheduler:
    """Runs a callback (plain or returning an awaitable) at a time of ``clock``."""

    def __init__(self, clock: Callable[[], float] = wall_clock) -> None:
        self._clock = clock
        self._running: set[asyncio.Future[Any]] = set()  # the loop holds tasks only weakly

    def call_at(self, when: float, callback: Callable[[], Any]) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(max(0.0, when - self._clock()), self._fire, callback)
        return handle.cancel

    def _fire(self, callback: Callable[[], Any]) -> None:
        result = callback()
        if isinstance(result, Awaitable):
            task = asyncio.ensure_future(result)
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            task.add_done_callback(_report)


def _report(task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Conflict):  # already stopped by hand: fine
        log.error("scheduled action failed", exc_info=exc)

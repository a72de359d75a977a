"""The wall clock and a scheduler on the event loop (``exams.shared.ports``), and
:class:`Every`, a background job run on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from exams.shared.errors import Conflict
from exams.shared.ports import Scheduler

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


class Every:
    """Runs ``action`` after ``first_s``, then ``every_s`` after each run ends, one run at a
    time, until :meth:`stop`. Its times are on ``clock`` and ``scheduler``: a test that moves
    time runs a job that fell due at once instead of waiting for it. A failed run is logged
    and the job goes on."""

    def __init__(
        self,
        clock: Callable[[], float],
        scheduler: Scheduler,
        every_s: float,
        action: Callable[[], Awaitable[None]],
        what: str,
        first_s: float = 0.0,
    ) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._every_s = every_s
        self._action = action
        self._what = what
        self._cancel: Callable[[], None] | None = None
        self._run_task: asyncio.Task[Any] | None = None
        self._stopped = False
        self._next(first_s)

    def _next(self, after_s: float) -> None:
        self._cancel = self._scheduler.call_at(self._clock() + after_s, self._run)

    async def _run(self) -> None:
        if self._stopped:
            return
        self._run_task = asyncio.current_task()
        try:
            await self._action()
        except Exception:
            log.exception("%s failed; trying again later", self._what)
        finally:
            self._run_task = None
        if not self._stopped:
            self._next(self._every_s)

    async def stop(self) -> None:
        """No more runs; a run under way is cancelled and waited for."""
        self._stopped = True
        if self._cancel is not None:
            self._cancel()
        task = self._run_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _report(task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Conflict):  # already stopped by hand: fine
        log.error("scheduled action failed", exc_info=exc)

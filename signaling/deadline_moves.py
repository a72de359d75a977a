"""An attempt's deadlines follow its candidate's camera to this node (decision 0026).

The attempt's one timer (reading time over: recording starts; a time limit: it stops) is
owned by the node that last armed it, which may be any node an HTTP call reached. It must
fire where the candidate's camera is: "recording starts" starts the recorder on the
primary camera session, and only its node holds that. So when a candidate's primary
camera session opens here (a new one, or one resumed here), and again once a take of
theirs that this node continues (:mod:`signaling.take_moves`) is settled, this node takes
over their attempts' deadlines (:meth:`AttemptRunner.follow_media`). One task per
candidate at a time; wired only in a cluster (one process owns every deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from exams.answering.attempt_runner import AttemptRunner

log = logging.getLogger(__name__)


class DeadlineFollower:
    def __init__(self, runner: AttemptRunner) -> None:
        self._runner = runner
        self._tasks: dict[str, asyncio.Task[None]] = {}  # candidate -> the task taking them
        self._again: set[str] = set()  # asked again while a task ran: it runs once more

    def opened(self, owner: str, after: asyncio.Future[Any] | None = None) -> None:
        """``owner``'s primary camera session opened here: take their deadlines now, and
        once more when ``after`` (the task continuing their take here, if any) is done."""
        running = self._tasks.get(owner)
        if running is not None and not running.done():
            self._again.add(owner)
            return
        task = self._tasks[owner] = asyncio.ensure_future(self._follow(owner, after))
        task.add_done_callback(lambda done: self._forget(owner, done))

    def following(self, owner: str) -> asyncio.Task[None] | None:
        """The task taking ``owner``'s deadlines, while it runs (for tests)."""
        return self._tasks.get(owner)

    def _forget(self, owner: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(owner) is task:
            del self._tasks[owner]

    async def _follow(self, owner: str, after: asyncio.Future[Any] | None) -> None:
        await self._take(owner)
        if after is not None:
            await asyncio.wait([after])  # its outcome, whatever it is: ask again
            await self._take(owner)
        while owner in self._again:
            self._again.discard(owner)
            await self._take(owner)

    async def _take(self, owner: str) -> None:
        try:
            taken = await self._runner.follow_media(owner)
        except Exception:
            log.exception("could not take the deadlines of %s's attempts", owner)
            return
        if taken:
            log.info("%d attempt deadline(s) of %s taken over by this node", taken, owner)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

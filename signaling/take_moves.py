"""Takes follow their candidate to this node (:mod:`exams.catalog.take_moves`).

When a camera session of an owner opens here (a new one: the page's old session was on a
node that died), a task per owner asks whether the owner's take recording on another node
continues here, and asks again every :data:`RETRY_S` while that node still holds its lease
(up to ``node_lease_s`` after it was killed). It ends once the answer is final (continued
here, taken by another node, nothing to continue) or the owner has no session here any
more. A task is not cancelled while it continues a take (only when the server stops):
a take claimed here is then either recording here or finished.
"""

from __future__ import annotations

import asyncio
import logging

from exams.catalog.take_moves import Outcome, TakeMoves
from media.hub import MediaHub

log = logging.getLogger(__name__)

RETRY_S = 1.0  # real seconds: node leases run out in Redis's time
STOP_S = 10.0  # a step under way as the server stops: its answer, or its client's timeout


class TakeFollower:
    def __init__(self, moves: TakeMoves, hub: MediaHub, retry_s: float = RETRY_S) -> None:
        self._moves = moves
        self._hub = hub
        self._retry_s = retry_s
        self._tasks: dict[str, asyncio.Task[Outcome]] = {}  # owner -> the task looking
        self._stopping = False  # read by the tasks too: a cancellation alone can be lost

    def opened(self, owner: str) -> None:
        """A new camera session of ``owner`` opened here: look for a take to continue."""
        running = self._tasks.get(owner)
        if running is not None and not running.done():
            return
        task = self._tasks[owner] = asyncio.ensure_future(self._follow(owner))
        task.add_done_callback(lambda done: self._forget(owner, done))

    def _forget(self, owner: str, task: asyncio.Task[Outcome]) -> None:
        if self._tasks.get(owner) is task:
            del self._tasks[owner]

    def following(self, owner: str) -> asyncio.Task[Outcome] | None:
        """The task looking for ``owner``'s take, while it runs."""
        return self._tasks.get(owner)

    def waiting_on(self, owner: str) -> str | None:
        """The live node ``owner``'s take records on, while this node waits for it to go."""
        return self._moves.waiting_on(owner)

    async def _follow(self, owner: str) -> Outcome:
        while True:
            if self._stopping or not self._hub.sessions_of(owner):
                return Outcome.NOTHING  # the sessions here closed: nothing to record from
            try:
                outcome = await self._moves.follow(owner)
            except Exception:
                log.exception("could not look for a take of %s to continue; trying again", owner)
                outcome = Outcome.WAIT
            if outcome is not Outcome.WAIT:
                return outcome
            await asyncio.sleep(self._retry_s)

    async def stop(self) -> None:
        """Cancel the tasks and wait for them, bounded: Python 3.11's ``asyncio.wait_for``
        (inside redis-py's and other clients' writes) drops a cancellation that arrives as its
        awaitable completes, so each task also ends at its next turn (``_stopping``)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            done, running = await asyncio.wait(tasks, timeout=self._retry_s + STOP_S)
            for task in done:
                if not task.cancelled():
                    task.exception()  # (logged where it happened)
            if running:
                log.error("%d take follower(s) did not stop; left behind", len(running))

"""Stopping a take that records on another node (issue #15, docs/deploy.md "Several nodes").

A take records on the node that holds its candidate's camera (``Take.node``); a stop can
be asked anywhere: the candidate's page over HTTP after the load balancer's ring changed
(a node came back), a proctor ending a question from a wall on another node, a deadline
that fires on another node. :class:`RemoteStops` asks the recording node to stop it
(:class:`TakeCalls`, a queue per node in Redis) and waits until the records say it is
stored, so the caller gets the same answer as a stop on that node. A node that does not
answer in time, or is gone (its take is moving to another node), is a clear 503: ask again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from exams.catalog.takes import Take, TakeRepository, TakeState
from exams.shared.errors import Busy
from exams.shared.ports import NodeLiveness

STOP_WAIT_S = 15.0  # a take's stop: its segments finished, its manifest written
POLL_S = 0.1
DONE = (TakeState.STORED, TakeState.FAILED, TakeState.DISCARDED)


class TakeCalls(Protocol):
    """Asks another node to act on a take it records (``storage.redis_take_calls``)."""

    async def ask_stop(self, node: str, take_id: str, reason: str) -> None: ...


class RemoteStops:
    def __init__(
        self,
        repo: TakeRepository,
        nodes: NodeLiveness,
        calls: TakeCalls,
        sleep: Callable[[float], Awaitable[None]],
        *,
        wait_s: float = STOP_WAIT_S,
        poll_s: float = POLL_S,
    ) -> None:
        self._repo = repo
        self._nodes = nodes
        self._calls = calls
        self._sleep = sleep  # real time: the other node works in it
        self._polls = max(1, round(wait_s / poll_s))
        self._poll_s = poll_s

    async def stop(self, take: Take, reason: str) -> Take:
        """Have ``take.node`` stop ``take`` (``reason``); the take once stored there."""
        assert take.node is not None
        if not await self._nodes.alive(take.node):
            raise Busy(
                "the server recording this take is gone; the take goes on on another server "
                "in a few seconds: ask again then"
            )
        await self._calls.ask_stop(take.node, take.id, reason)
        for _ in range(self._polls):
            await self._sleep(self._poll_s)
            now = await self._repo.get(take.id)
            if now is not None and now.state in DONE:
                return now
        raise Busy("the server recording this take did not answer in time; ask again")

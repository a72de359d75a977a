"""A take follows its candidate to another node (issue #15, docs/deploy.md "Losing a node").

A take records on the node that holds its candidate's camera (``Take.node``). When that
node dies, the load balancer sends the candidate's sockets to another node, where the
page opens a new camera session. :meth:`TakeMoves.follow` is asked then (and again every
second while the answer is :attr:`Outcome.WAIT`): the owner's take recording on another
node continues here once that node is gone (its heartbeat lease has run out), claimed in
one atomic step so that only one node continues it. A take is never taken from a node
that is alive: both would record it.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from exams.catalog.takes import Recorder, TakeRepository, TakeService, TakeState
from exams.shared.ports import NodeLiveness

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    NOTHING = "nothing"  # no take of the owner records on another node (or none can move)
    WAIT = "wait"  # its node still holds its lease: ask again
    CONTINUED = "continued"  # it records here now
    TAKEN = "taken"  # another node claimed it first


class TakeMoves:
    def __init__(
        self, takes: TakeService, repo: TakeRepository, nodes: NodeLiveness, recorder: Recorder
    ) -> None:
        self._takes = takes
        self._repo = repo
        self._nodes = nodes
        self._recorder = recorder
        self._waiting: dict[str, str] = {}  # owner -> the live node its take was on

    async def follow(self, owner: str) -> Outcome:
        """One look: the owner's newest take recording on another node continues here if
        that node is gone, from the owner's primary camera session here (one kept waiting
        for the page when only the phone is here yet). :attr:`Outcome.WAIT` while that node
        is alive; :attr:`Outcome.TAKEN` once another node claimed it meanwhile."""
        outcome = await self._look(owner)
        if outcome is not Outcome.WAIT:
            self._waiting.pop(owner, None)
        return outcome

    def waiting_on(self, owner: str) -> str | None:
        """The live node ``owner``'s take is on, while this node waits for it to go."""
        return self._waiting.get(owner)

    async def _look(self, owner: str) -> Outcome:
        me = self._nodes.node
        moving = [t for t in await self._repo.recording_of(owner) if t.node not in (None, me)]
        if not moving:
            return Outcome.NOTHING  # none, or written before nodes were kept (reconcile's)
        take = moving[-1]
        assert take.node is not None
        if await self._nodes.alive(take.node):
            waited_on = self._waiting.setdefault(owner, take.node)
            return Outcome.WAIT if waited_on == take.node else Outcome.TAKEN
        session_id = self._recorder.primary_session(owner)
        if self._takes.recording_in(session_id) is not None:
            log.warning("take %s: the camera here records another take; not continued", take.id)
            return Outcome.NOTHING
        if not await self._repo.claim(take.id, take.node, me):
            return Outcome.TAKEN
        log.warning("take %s: node %s is gone; continuing the take here", take.id, take.node)
        resumed = await self._takes.resume(take, session_id)
        return Outcome.CONTINUED if resumed.state is TakeState.RECORDING else Outcome.NOTHING

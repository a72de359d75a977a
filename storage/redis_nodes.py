"""Node liveness in Redis: implements ``exams.shared.ports.NodeLiveness``.

A node is alive while its heartbeat key (``<prefix>node:<id>``, kept by
``storage.redis_deadlines.RedisDeadlines`` with a lease of ``node_lease_s``) exists. This
node is always alive to itself. Redis unreachable: every node counts as alive (a take is
never taken from a node that may still be recording it; the next look decides).

:meth:`RedisNodes.gone` lists the nodes whose last heartbeat (the sorted set ``nodes`` the
heartbeat keeps) is older than the lease, seen within :data:`REMEMBER_S`: survivors look
for orphaned takes of those only, not through every unfinished take at every sweep.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from storage.redis_deadlines import KNOWN_NODES

log = logging.getLogger(__name__)

REMEMBER_S = 7 * 24 * 3600  # a node gone longer than this is forgotten (its takes: reconcile)


class RedisNodes:
    def __init__(
        self, client: aioredis.Redis, prefix: str, node: str, *, lease_s: float = 10.0
    ) -> None:
        self._redis = client
        self._node = node
        self._nodes = prefix + "node:"
        self._known = prefix + KNOWN_NODES
        self._lease_s = lease_s

    @property
    def node(self) -> str:
        return self._node

    async def alive(self, node: str) -> bool:
        if node == self._node:
            return True
        try:
            return bool(await self._redis.exists(self._nodes + node))
        except RedisError:
            log.warning("could not ask Redis whether node %s is alive; assuming it is", node)
            return True

    async def gone(self) -> list[str] | None:
        """The nodes that beat lately but not within the lease (``None``: Redis cannot be
        asked; the caller then treats no node as gone)."""
        now = time.time()
        try:
            await self._redis.zremrangebyscore(self._known, "-inf", now - REMEMBER_S)
            stale = await self._redis.zrangebyscore(self._known, "-inf", now - self._lease_s)
        except RedisError:
            log.warning("could not ask Redis which nodes are gone")
            return None
        return [str(n) for n in stale if n != self._node]

"""Which node fires each deadline, in Redis: implements ``exams.shared.ports.DeadlineOwners``.

Every node keeps a heartbeat key (``node:<id>``) alive with a lease it renews
every third of it. A deadline (an attempt's one timer) is owned by the node that
last set it: ``deadlines:owner`` (a hash, key -> node) and ``deadlines:due`` (a
sorted set, key -> when, on the domain's clock). The owner's timer fires only
if it still owns the deadline, so a stale timer on another node does nothing.
A deadline may have a home (``deadlines:home``): the node holding the media it acts on
(its candidate's camera, decision 0026). While the home lives and owns it, another node
setting it only moves its time (``deadlines:due``); the home's timer fires, settles the
attempt and sets itself again.
A node that dies stops renewing its heartbeat; once the lease has run out, the
other nodes' sweeps (:meth:`orphans`) find its deadlines and one of them (a Lua
script: the check and the claim in one step) takes each over.

Redis is never the system of record: the deadlines themselves are saved with
the attempts; this says only who acts on them. Lost, a node's start-up
reconcile claims them again; and a running node whose heartbeat finds its key
gone (Redis restarted empty, or the node stalled past its lease) claims again
the deadlines it holds timers for, so they still fire (exactly once: whoever
owns a deadline when it falls due fires it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KNOWN_NODES = "nodes"  # a sorted set: node id -> the time of its last heartbeat
STOP_S = 10.0  # a beat under way as the heartbeat stops: Redis's answer, or its timeout

# KEYS: owners hash, due zset. ARGV: me, node key prefix, then the deadline keys.
ADOPT = """
local taken = {}
for i = 3, #ARGV do
  local key = ARGV[i]
  local owner = redis.call('HGET', KEYS[1], key)
  if owner ~= ARGV[1] and (not owner or redis.call('EXISTS', ARGV[2] .. owner) == 0) then
    redis.call('HSET', KEYS[1], key, ARGV[1])
    taken[#taken + 1] = key
  end
end
return taken
"""
# KEYS: owners hash, due zset, homes hash. ARGV: me, the deadline key.
RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
return 0
"""
# KEYS: owners hash, due zset, homes hash. ARGV: me, node key prefix, the key, its due time.
# Taken from its owner unless that owner is its home and alive: then only the time changes
# (the home's timer fires, settles and sets itself again at the new time).
CLAIM = """
local home = redis.call('HGET', KEYS[3], ARGV[3])
if home and home ~= ARGV[1] and redis.call('HGET', KEYS[1], ARGV[3]) == home
    and redis.call('EXISTS', ARGV[2] .. home) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
"""


class RedisDeadlines:
    def __init__(
        self, client: aioredis.Redis, prefix: str, node: str, *, lease_s: float = 10.0
    ) -> None:
        self._redis = client
        self._node = node
        self._nodes = prefix + "node:"
        self._known = prefix + KNOWN_NODES
        self._owners = prefix + "deadlines:owner"
        self._due = prefix + "deadlines:due"
        self._homes = prefix + "deadlines:home"  # key -> the node holding its media
        self._lease_ms = max(1, round(lease_s * 1000))
        self._adopt = client.register_script(ADOPT)
        self._release = client.register_script(RELEASE)
        self._claim = client.register_script(CLAIM)
        self._beating: asyncio.Task[None] | None = None
        self._mine: dict[str, float] = {}  # the deadlines this node claimed: key -> due

    @property
    def node(self) -> str:
        return self._node

    @property
    def lease_s(self) -> float:
        return self._lease_ms / 1000

    # -- this node's heartbeat -------------------------------------------------------------

    async def start(self) -> None:
        """Say this node is alive (now, then every third of the lease)."""
        await self._beat()
        self._beating = asyncio.ensure_future(self._beat_forever())

    async def stop(self, *, hand_over: bool = True) -> None:
        """Stop the heartbeat; ``hand_over``: delete it, so other nodes take this node's
        deadlines at their next sweep (``False``: as a crash, once the lease runs out)."""
        beating, self._beating = self._beating, None
        if beating is not None:
            beating.cancel()
            # Bounded, and the loop sees it is stopped: a cancellation can be lost (Python
            # 3.11's asyncio.wait_for around redis-py's writes drops one that arrives as the
            # write completes) and the beat would go on, holding this stop for ever.
            _, running = await asyncio.wait({beating}, timeout=self._lease_ms / 3000 + STOP_S)
            if running:
                log.error("node %s: its heartbeat did not stop; left behind", self._node)
        if hand_over:
            try:
                await self._redis.delete(self._nodes + self._node)
            except RedisError:
                log.warning("node %s: could not remove its heartbeat", self._node)

    async def _beat(self) -> None:
        was = await self._redis.set(self._nodes + self._node, "1", px=self._lease_ms, get=True)
        # the nodes seen lately, by their last beat (storage.redis_nodes finds the gone ones)
        await self._redis.zadd(self._known, {self._node: time.time()})
        if was is None and self._mine:  # Redis forgot us (restarted empty, or we stalled)
            mine = dict(self._mine)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._owners, mapping=dict.fromkeys(mine, self._node))
                pipe.zadd(self._due, mine)
                await pipe.execute()
            log.warning(
                "node %s: heartbeat was gone; %d deadlines claimed again", self._node, len(mine)
            )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            if self._beating is None:  # stopped, its cancellation lost (see stop)
                return
            try:
                await self._beat()
            except RedisError:
                log.warning("node %s: heartbeat not renewed", self._node, exc_info=True)

    # -- DeadlineOwners --------------------------------------------------------------------

    async def claim(self, key: str, due_at: float) -> None:
        taken = await self._claim(
            keys=[self._owners, self._due, self._homes],
            args=[self._node, self._nodes, key, repr(float(due_at))],
        )
        if taken:
            self._mine[key] = due_at
        else:
            self._mine.pop(key, None)  # left with its home, the node of its media

    async def home(self, key: str) -> None:
        await self._redis.hset(self._homes, key, self._node)

    async def owns(self, key: str) -> bool:
        mine = bool(await self._redis.hget(self._owners, key) == self._node)
        if not mine:
            self._mine.pop(key, None)  # another node set it since: its timer fires it
        return mine

    async def release(self, key: str) -> None:
        self._mine.pop(key, None)
        await self._release(keys=[self._owners, self._due, self._homes], args=[self._node, key])

    async def orphans(self, due_before: float) -> list[str]:
        top = "+inf" if math.isinf(due_before) else repr(float(due_before))
        keys = await self._redis.zrangebyscore(self._due, "-inf", top)
        if not keys:
            return []
        taken = await self._adopt(
            keys=[self._owners, self._due], args=[self._node, self._nodes, *keys]
        )
        return [str(k) for k in taken]

    async def owner(self, key: str) -> str | None:
        """The node that fires ``key`` (for tests and operators)."""
        found = await self._redis.hget(self._owners, key)
        return None if found is None else str(found)

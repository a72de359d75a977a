"""What the nodes of one deployment share, chosen by the settings: in this process
(the default: one node, no Redis) or in Redis (``redis_url``). Built by
``web.bootstrap``; :meth:`Shared.lifecycle` starts and ends its parts.

Redis is never the system of record (docs/decisions/0008): it holds locks, who fires
which deadline, pairings and links, playback windows, upload locks and Socket.IO's
messages between nodes (docs/decisions/0024).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import socketio

from exams.answering.windows import MemoryWindows, PlaybackWindows
from exams.shared.locks import LocalDeadlines, MemoryLocks
from exams.shared.nodes import SingleNode
from exams.shared.ports import Clock, DeadlineOwners, Locks, NodeLiveness, Scheduler
from exams.uploads.ports import UploadLocks
from pairing.redis_store import RedisLinkStore, RedisPairingStore
from pairing.store import LinkStore, MemoryLinkStore, MemoryPairingStore, PairingStore
from storage.redis_deadlines import RedisDeadlines
from storage.redis_locks import RedisLocks
from storage.redis_nodes import RedisNodes
from storage.redis_take_calls import RedisTakeCalls
from storage.redis_upload_locks import RedisUploadLocks
from storage.redis_windows import RedisWindows
from storage.upload_locks import MemoryUploadLocks
from web.scheduling import Every
from web.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    node: str
    locks: Locks
    deadlines: DeadlineOwners
    windows: PlaybackWindows
    pairings: PairingStore
    links: LinkStore
    upload_locks: UploadLocks
    nodes: NodeLiveness  # which nodes are alive (this one only, or the heartbeats in Redis)
    redis: aioredis.Redis | None = None
    heartbeat: RedisDeadlines | None = None
    take_calls: RedisTakeCalls | None = None  # asking the node recording a take to stop it

    @property
    def sweep_s(self) -> float:
        """How often a node looks for deadlines whose node is gone."""
        return 1.0 if self.heartbeat is None else max(1.0, self.heartbeat.lease_s / 3)

    def lifecycle(
        self, clock: Clock, scheduler: Scheduler, adopt: Callable[[], Awaitable[Any]]
    ) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
        """The ``cleanup_ctx`` step: the heartbeat, and the sweep that runs ``adopt``."""

        @contextlib.asynccontextmanager
        async def shared_state(app: Any) -> AsyncIterator[None]:
            if self.heartbeat is None:
                yield
                return
            await self.heartbeat.start()
            log.info("node %s: shared state in Redis", self.node)

            async def sweep() -> None:
                taken = await adopt()
                if taken:
                    log.warning("node %s: took over %d deadline(s) of gone nodes", self.node, taken)

            sweeper = Every(clock, scheduler, self.sweep_s, sweep, "deadline sweep", self.sweep_s)
            yield
            await sweeper.stop()
            await self.heartbeat.stop(hand_over=True)
            if self.redis is not None:
                await self.redis.aclose()

        return shared_state


def shared_state(settings: Settings) -> Shared:
    node = settings.node_name
    if not settings.redis_url:
        return Shared(
            node,
            MemoryLocks(),
            LocalDeadlines(),
            MemoryWindows(),
            MemoryPairingStore(),
            MemoryLinkStore(),
            MemoryUploadLocks(settings.upload_idle_s),
            SingleNode(node),
        )
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix, lease = settings.redis_prefix, float(settings.node_lease_s)
    heartbeat = RedisDeadlines(client, prefix, node, lease_s=lease)
    return Shared(
        node,
        RedisLocks(client, prefix, node, lease_s=lease),
        heartbeat,
        RedisWindows(client, prefix),
        RedisPairingStore(client, prefix),
        RedisLinkStore(client, prefix),
        RedisUploadLocks(client, prefix, node, settings.upload_idle_s, lease_s=lease),
        RedisNodes(client, prefix, node, lease_s=lease),
        client,
        heartbeat,
        RedisTakeCalls(client, prefix, node),
    )


def socket_manager(settings: Settings) -> socketio.AsyncRedisManager | None:
    """Socket.IO events between nodes through Redis pub/sub (at most once: pages ask for
    their whole state again when they reconnect)."""
    if not settings.redis_url:
        return None
    return socketio.AsyncRedisManager(
        settings.redis_url, channel=settings.redis_prefix + "socketio"
    )


@contextlib.asynccontextmanager
async def socket_bus(sio: socketio.AsyncServer) -> AsyncIterator[None]:
    """Listen to the other nodes from the start (python-socketio would at the first
    connection), and stop listening at the end."""
    manager = sio.manager
    if not isinstance(manager, socketio.AsyncRedisManager):
        yield
        return
    if not sio.manager_initialized:
        sio.manager_initialized = True
        manager.initialize()
    yield
    thread = getattr(manager, "thread", None)
    if isinstance(thread, asyncio.Future):
        thread.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await thread
    for part in (getattr(manager, "pubsub", None), getattr(manager, "redis", None)):
        if part is not None:
            with contextlib.suppress(Exception):
                await part.aclose()

"""Calls from one node to another about the takes it records, in Redis: implements
``exams.catalog.take_calls.TakeCalls``.

Each node reads a list of its own (``<prefix>takecalls:<node>``) with ``BLPOP``; a call
is one JSON item pushed to the recording node's list. A list keeps a call while its node
reconnects to Redis (pub/sub would drop it); it expires (:data:`KEEP_S`) if its node never
reads it (a node that died: the caller has given up by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEEP_S = 60
READ_TIMEOUT_S = 1
RETRY_S = 1.0

StopHandler = Callable[[str, str], Awaitable[object]]  # (take id, reason)


class RedisTakeCalls:
    def __init__(self, client: aioredis.Redis, prefix: str, node: str) -> None:
        self._redis = client
        self._prefix = prefix + "takecalls:"
        self._node = node
        self._task: asyncio.Task[None] | None = None

    async def ask_stop(self, node: str, take_id: str, reason: str) -> None:
        key = self._prefix + node
        item = json.dumps({"op": "stop", "take_id": take_id, "reason": reason, "from": self._node})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, item)
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    def serve(self, on_stop: StopHandler) -> None:
        """Read this node's calls until :meth:`close`, each handled in a task of its own."""
        self._task = asyncio.ensure_future(self._read(on_stop))

    async def _read(self, on_stop: StopHandler) -> None:
        key = self._prefix + self._node
        running: set[asyncio.Task[None]] = set()
        while True:
            try:
                popped = await self._redis.blpop([key], timeout=READ_TIMEOUT_S)
            except RedisError as exc:
                log.warning("node %s: could not read its take calls (%s); again", self._node, exc)
                await asyncio.sleep(RETRY_S)
                continue
            if popped is None:
                continue
            task = asyncio.ensure_future(self._handle(str(popped[1]), on_stop))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _handle(self, raw: str, on_stop: StopHandler) -> None:
        try:
            call = json.loads(raw)
            take_id, reason = str(call["take_id"]), str(call["reason"])
        except (ValueError, KeyError, TypeError):
            log.warning("node %s: a take call it cannot read: %.200r", self._node, raw)
            return
        log.info("take %s: stop (%s) asked by node %s", take_id, reason, call.get("from"))
        try:
            await on_stop(take_id, reason)
        except Exception as exc:  # the caller's wait times out and says so
            log.warning("take %s: the stop asked by another node failed: %r", take_id, exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

"""Calls from one node to another about the takes it records, in Redis: implements
``exams.catalog.take_calls.TakeCalls``.

Each node reads a list of its own (``<prefix>takecalls:<node>``) with ``BLPOP``; a call
is one JSON item pushed to the recording node's list. A list keeps a call while its node
reconnects to Redis (pub/sub would drop it); it expires (:data:`KEEP_S`) if its node never
reads it (a node that died: the caller has given up by then).

Closing stops the reading and lets the stops already asked finish (the asking node waits
for them), each wait bounded: a node that never stops is as bad as a lost take. The reader
ends at its next turn even when its cancellation is lost: Python 3.11's
``asyncio.wait_for``, which redis-py wraps around each socket write, drops a cancellation
that arrives just as the write completes, and the ``BLPOP`` then goes on as if none came.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from exams.catalog.take_calls import STOP_WAIT_S

log = logging.getLogger(__name__)

KEEP_S = 60
READ_TIMEOUT_S = 1
RETRY_S = 1.0
# How long close() waits for the reader: its BLPOP's own wait, and a dead Redis's answer
# (redis-py's socket timeout, 5 s) with room to spare.
READER_END_S = READ_TIMEOUT_S + 9.0
# and for the stops under way: as long as the asking node waits for their answer
HANDLING_END_S = STOP_WAIT_S

StopHandler = Callable[[str, str], Awaitable[object]]  # (take id, reason)


class RedisTakeCalls:
    def __init__(self, client: aioredis.Redis, prefix: str, node: str) -> None:
        self._redis = client
        self._prefix = prefix + "takecalls:"
        self._node = node
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._handling: dict[asyncio.Task[None], str] = {}  # a stop under way -> its call

    async def ask_stop(self, node: str, take_id: str, reason: str) -> None:
        key = self._prefix + node
        item = json.dumps({"op": "stop", "take_id": take_id, "reason": reason, "from": self._node})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, item)
            pipe.expire(key, KEEP_S)
            await pipe.execute()

    def serve(self, on_stop: StopHandler) -> None:
        """Read this node's calls until :meth:`close`, each handled in a task of its own."""
        self._closing = False
        self._task = asyncio.ensure_future(self._read(on_stop))

    async def _read(self, on_stop: StopHandler) -> None:
        key = self._prefix + self._node
        while not self._closing:  # not the cancellation alone: it may be lost (module doc)
            try:
                popped = await self._redis.blpop([key], timeout=READ_TIMEOUT_S)
            except RedisError as exc:
                if self._closing:
                    return
                log.warning("node %s: could not read its take calls (%s); again", self._node, exc)
                await asyncio.sleep(RETRY_S)
                continue
            if popped is None:
                continue
            raw = str(popped[1])
            task = asyncio.ensure_future(self._handle(raw, on_stop))
            self._handling[task] = raw
            task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling.pop(task, None)

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
        """Stop reading calls, then wait for the stops already asked (at most
        :data:`HANDLING_END_S`; one still running then is cancelled: its take, left
        finalising, is recovered as after a crash)."""
        self._closing = True
        reader, self._task = self._task, None
        if reader is not None:
            reader.cancel()
            _, running = await asyncio.wait({reader}, timeout=READER_END_S)
            if running:
                log.error(
                    "node %s: its take-call reader did not end within %.0f s; left behind",
                    self._node,
                    READER_END_S,
                )
        if self._handling:
            _, running = await asyncio.wait(set(self._handling), timeout=HANDLING_END_S)
            for task in running:
                log.error(
                    "node %s: a stop asked by another node did not end within %.0f s "
                    "(call %.200r); cancelled",
                    self._node,
                    HANDLING_END_S,
                    self._handling.get(task),
                )
                task.cancel()

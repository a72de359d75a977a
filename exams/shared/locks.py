"""Locks and deadline ownership in one process: the defaults of ``exams.shared.ports``.

:class:`MemoryLocks` is an :class:`asyncio.Lock` per key, made on first use and
dropped when nobody holds or waits for it. :class:`LocalDeadlines` is the one
node owning every deadline. ``storage.redis_locks`` and ``storage.redis_deadlines``
do the same across nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from exams.shared.errors import LockTimeout

WAIT_MESSAGE = "another request for this is still running; try again in a moment"


class MemoryLocks:
    """One holder per key in this process; ``wait_s`` (None: as long as it takes) bounds a
    waiter."""

    def __init__(self, wait_s: float | None = None) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        try:
            async with asyncio.timeout(self._wait_s):
                await lock.acquire()
        except TimeoutError:
            raise LockTimeout(WAIT_MESSAGE) from None
        try:
            yield
        finally:
            lock.release()


class LocalDeadlines:
    """This process fires every deadline: nothing to claim or hand over."""

    async def claim(self, key: str, due_at: float) -> None:
        pass

    async def home(self, key: str) -> None:
        pass

    async def owns(self, key: str) -> bool:
        return True

    async def release(self, key: str) -> None:
        pass

    async def orphans(self, due_before: float) -> list[str]:
        return []

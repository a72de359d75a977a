"""Locks across nodes in Redis: implements ``exams.shared.ports.Locks``.

A lock is one key holding its owner's token (``node:random``), set with
``SET NX PX``: a lease that the holder renews every third of it while it
holds the lock, so a node that dies lets go by itself once the lease runs out.
Only the owner releases it or renews it (a Lua compare-and-delete, a
compare-and-expire): a holder whose lease ran out (a long pause) cannot delete
the next holder's lock. A waiter polls, with a growing pause, for at most
``wait_s``, then gets :class:`exams.shared.errors.LockTimeout`.

Waiters in one process queue on an :class:`asyncio.Lock` per key first, so only
one of them at a time polls Redis. Redis is never the system of record: a lock
only keeps two steps apart; what they change is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from exams.shared.errors import LockTimeout, Unavailable
from exams.shared.locks import WAIT_MESSAGE

log = logging.getLogger(__name__)

WAIT_S = 30.0  # a step holds its lock for a few database writes (and a media start)
FIRST_PAUSE_S = 0.005
MAX_PAUSE_S = 0.2
STOP_S = 10.0  # a renewal under way as the lock is released: Redis's answer, or its timeout

# KEYS[1]: the lock. ARGV[1]: the owner's token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1]: the lock. ARGV: the owner's token, the lease in ms.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

UNREACHABLE = "the shared state (Redis) cannot be reached; try again in a moment"


class RedisLocks:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        node: str,
        *,
        lease_s: float = 10.0,
        wait_s: float = WAIT_S,
    ) -> None:
        self._redis = client
        self._prefix = prefix + "lock:"
        self._node = node
        self._lease_ms = max(1, round(lease_s * 1000))
        self._wait_s = wait_s
        self._release = client.register_script(RELEASE)
        self._renew = client.register_script(RENEW)
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        local = self._local.get(key)
        if local is None:
            local = self._local[key] = asyncio.Lock()
        name = self._prefix + key
        token = f"{self._node}:{secrets.token_hex(8)}"
        try:
            async with asyncio.timeout(self._wait_s):
                await local.acquire()
                try:
                    await self._acquire(name, token)
                except BaseException:
                    with contextlib.suppress(Exception):  # a SET that landed as time ran out
                        await self._release(keys=[name], args=[token])
                    local.release()
                    raise
        except TimeoutError:
            raise LockTimeout(WAIT_MESSAGE, {"lock": key}) from None
        held = [True]  # what the renewal reads: its cancellation alone may be lost (_keep)
        renewing = asyncio.ensure_future(self._keep(name, token, held))
        try:
            yield
        finally:
            held[0] = False
            renewing.cancel()
            _, running = await asyncio.wait({renewing}, timeout=self._lease_ms / 3000 + STOP_S)
            if running:
                log.error("lock %s: its lease renewal did not stop; released all the same", key)
            try:
                await self._release(keys=[name], args=[token])
            except RedisError:  # its lease runs out by itself
                log.warning("lock %s: could not be released in Redis", key, exc_info=True)
            finally:
                local.release()

    async def _acquire(self, name: str, token: str) -> None:
        pause = FIRST_PAUSE_S
        while True:
            try:
                if await self._redis.set(name, token, nx=True, px=self._lease_ms):
                    return
            except RedisError as exc:
                raise Unavailable(UNREACHABLE) from exc
            await asyncio.sleep(pause)
            pause = min(MAX_PAUSE_S, pause * 2)

    async def _keep(self, name: str, token: str, held: list[bool]) -> None:
        """Renew the lease every third of it while the lock is held (``held[0]``). The flag,
        not only the cancellation, ends it: Python 3.11's ``asyncio.wait_for``, which redis-py
        wraps around each socket write, drops a cancellation that arrives as the write
        completes, and the renewal would go on, and the release wait for it, for ever."""
        while held[0]:
            await asyncio.sleep(self._lease_ms / 3000)
            if not held[0]:
                return
            try:
                if not await self._renew(keys=[name], args=[token, self._lease_ms]):
                    log.error("lock %s: its lease ran out while held (a long pause?)", name)
                    return
            except RedisError:
                log.warning("lock %s: could not renew its lease", name, exc_info=True)

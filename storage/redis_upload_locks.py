"""One request at a time per upload across nodes, the newest one winning: implements
``exams.uploads.ports.UploadLocks`` in Redis (``storage.upload_locks`` is the one-process
version, and says why the newest wins).

- ``upload-newest:<id>``: the token of the newest request for the upload. Setting it is
  how a request on any node asks the one holding the upload to let go: the holder's
  watch reads it every :data:`WATCH_S` and cuts its body off when it is not its own
  (on this node the cut is at once).
- ``upload-lock:<id>``: the holder's token with a lease the holder renews, so a node
  that dies lets go by itself; released by its owner only (Lua compare-and-delete).
  A request that does not get it within ``release_wait_s`` gets
  :class:`~exams.shared.errors.UploadLocked` (HTTP 423).
- ``upload-seen:<id>``: when bytes last arrived (wall clock, written at most every
  :data:`WATCH_S`), for the list of unfinished uploads on any node.

Redis is never the system of record: the bytes and the upload's record are on disk and
in the database; these keys only keep requests apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from exams.shared.errors import Unavailable, UploadInterrupted, UploadLocked
from exams.uploads.ports import Body
from storage.redis_locks import RELEASE, RENEW, UNREACHABLE
from storage.upload_locks import RELEASE_WAIT_S, _NoBody, _Watched

WATCH_S = 0.2
SEEN_KEEP_S = 7 * 24 * 3600  # an upload lives at most its exam's upload window
MAX_PAUSE_S = 0.2


class RedisUploadLocks:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        node: str,
        stall_s: float,
        *,
        release_wait_s: float = RELEASE_WAIT_S,
        lease_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._lock = prefix + "upload-lock:"
        self._newest = prefix + "upload-newest:"
        self._seen = prefix + "upload-seen:"
        self._node = node
        self._stall_s = stall_s
        self._release_wait_s = release_wait_s
        self._lease_ms = max(1, round(lease_s * 1000))
        self._clock = clock
        self._release = client.register_script(RELEASE)
        self._renew = client.register_script(RENEW)
        self._holders: dict[str, tuple[str, Body]] = {}  # this node's: upload -> (token, body)

    @contextlib.asynccontextmanager
    async def hold(self, upload_id: str, body: Body | None) -> AsyncIterator[Body]:
        me = f"{self._node}:{secrets.token_hex(8)}"
        lock = self._lock + upload_id
        try:
            await self._redis.set(self._newest + upload_id, me, px=self._newest_ms())
        except RedisError as exc:
            raise Unavailable(UNREACHABLE) from exc
        holder = self._holders.get(upload_id)
        if holder is not None:  # on this node: cut it off now rather than at its next look
            holder[1].cut(_taken_over())
        await self._acquire(lock, me)
        try:
            if await self._redis.get(self._newest + upload_id) != me:
                raise UploadInterrupted("a newer request for this upload took over")
            last = [self._clock()]
            watched = _Watched(body or _NoBody(), lambda: last.__setitem__(0, self._clock()))
            self._holders[upload_id] = (me, watched)
            await self._redis.set(self._seen + upload_id, repr(last[0]), ex=SEEN_KEEP_S)
            watch = asyncio.ensure_future(self._watch(upload_id, me, watched, last))
            try:
                yield watched
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
                if self._holders.get(upload_id, (None,))[0] == me:
                    del self._holders[upload_id]
                with contextlib.suppress(RedisError):
                    await self._redis.set(self._seen + upload_id, repr(last[0]), ex=SEEN_KEEP_S)
        finally:
            with contextlib.suppress(RedisError):  # else its lease runs out by itself
                await self._release(keys=[lock], args=[me])

    def _newest_ms(self) -> int:
        return round((self._release_wait_s * 2) * 1000) + self._lease_ms

    async def _acquire(self, lock: str, me: str) -> None:
        pause = 0.005
        try:
            async with asyncio.timeout(self._release_wait_s):
                while not await self._redis.set(lock, me, nx=True, px=self._lease_ms):
                    await asyncio.sleep(pause)
                    pause = min(MAX_PAUSE_S, pause * 2)
        except TimeoutError:
            with contextlib.suppress(Exception):
                await self._release(keys=[lock], args=[me])
            raise UploadLocked(
                "this upload is busy with another request; try again in a moment"
            ) from None
        except RedisError as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def _watch(self, upload_id: str, me: str, body: Body, last: list[float]) -> None:
        """Renew the lease, let a newer request (any node) take over, end a stalled body,
        and publish when bytes last arrived."""
        renewed = written = self._clock()
        while True:
            await asyncio.sleep(WATCH_S)
            now = self._clock()
            if now - last[0] >= self._stall_s:
                body.cut(
                    UploadInterrupted(
                        f"no data arrived for {self._stall_s:.0f} s; resume the upload from HEAD"
                    )
                )
                return
            try:
                newest = await self._redis.get(self._newest + upload_id)
                if newest is not None and newest != me:
                    body.cut(_taken_over())
                    return
                if now - renewed >= self._lease_ms / 3000:
                    await self._renew(keys=[self._lock + upload_id], args=[me, self._lease_ms])
                    await self._redis.pexpire(self._newest + upload_id, self._newest_ms())
                    renewed = now
                if last[0] > written:
                    await self._redis.set(self._seen + upload_id, repr(last[0]), ex=SEEN_KEEP_S)
                    written = last[0]
            except RedisError:
                continue  # tried again at the next look

    async def held(self, upload_id: str) -> bool:
        return upload_id in self._holders or bool(await self._redis.exists(self._lock + upload_id))

    async def idle_s(self, upload_id: str) -> float | None:
        seen = await self._redis.get(self._seen + upload_id)
        return None if seen is None else max(0.0, self._clock() - float(seen))

    async def forget(self, upload_id: str) -> None:
        await self._redis.delete(self._seen + upload_id)


def _taken_over() -> UploadInterrupted:
    return UploadInterrupted("a newer request for this upload took over; resume from HEAD")

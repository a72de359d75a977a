"""One request at a time per upload, the newest one winning (implements
``exams.uploads.ports.UploadLocks``).

A client whose connection died leaves its PATCH hanging on the server until
the server notices; when it comes back (HEAD, then PATCH) it must not wait for
that. So, as in tusd, a new request for an upload cuts the request holding it
off (its body's next read raises :class:`UploadInterrupted`; it keeps what it
received, fsyncs and lets go) and takes the lock. A body from which nothing
arrives for ``stall_s`` is cut off the same way, and the time bytes last
arrived tells the list of unfinished uploads which are still moving.

The locks live in this process: one server process per data directory
(``storage.redis_upload_locks`` keeps them in Redis for several nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from exams.shared.errors import UploadInterrupted, UploadLocked
from exams.uploads.ports import Body

RELEASE_WAIT_S = 15.0  # how long a newer request waits for the older one to let go


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holder: Body | None = None
    newest: object | None = None
    users: int = 0


class _Watched:
    """A body whose reads are timed: activity for the listing, a stall cuts it off."""

    def __init__(self, body: Body, touch: Callable[[], None]) -> None:
        self._body = body
        self._touch = touch

    async def read(self) -> bytes:
        data = await self._body.read()
        self._touch()
        return data

    def cut(self, exc: Exception) -> None:
        self._body.cut(exc)


class _NoBody:
    async def read(self) -> bytes:
        return b""

    def cut(self, exc: Exception) -> None:
        pass


class MemoryUploadLocks:
    def __init__(
        self,
        stall_s: float,
        release_wait_s: float = RELEASE_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots: dict[str, _Slot] = {}
        self._last: dict[str, float] = {}
        self._stall_s = stall_s
        self._release_wait_s = release_wait_s
        self._clock = clock

    @contextlib.asynccontextmanager
    async def hold(self, upload_id: str, body: Body | None) -> AsyncIterator[Body]:
        slot = self._slots.setdefault(upload_id, _Slot())
        me = object()
        slot.newest = me
        slot.users += 1
        try:
            if slot.holder is not None:
                slot.holder.cut(
                    UploadInterrupted("a newer request for this upload took over; resume from HEAD")
                )
            try:
                async with asyncio.timeout(self._release_wait_s):
                    await slot.lock.acquire()
            except TimeoutError:
                raise UploadLocked(
                    "this upload is busy with another request; try again in a moment"
                ) from None
            try:
                if slot.newest is not me:  # an even newer request arrived while this one waited
                    raise UploadInterrupted("a newer request for this upload took over")
                watched = _Watched(body or _NoBody(), lambda: self._touch(upload_id))
                slot.holder = watched
                self._touch(upload_id)
                stall = asyncio.get_running_loop().create_task(self._watch(upload_id, watched))
                try:
                    yield watched
                finally:
                    stall.cancel()
                    slot.holder = None
            finally:
                slot.lock.release()
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[upload_id]

    async def _watch(self, upload_id: str, body: Body) -> None:
        """Cut the body off once nothing arrived for ``stall_s``."""
        while True:
            idle = self._clock() - self._last.get(upload_id, self._clock())
            if idle >= self._stall_s:
                body.cut(
                    UploadInterrupted(
                        f"no data arrived for {self._stall_s:.0f} s; resume the upload from HEAD"
                    )
                )
                return
            await asyncio.sleep(self._stall_s - idle + 0.05)

    def _touch(self, upload_id: str) -> None:
        self._last[upload_id] = self._clock()

    async def held(self, upload_id: str) -> bool:
        return upload_id in self._slots

    async def idle_s(self, upload_id: str) -> float | None:
        last = self._last.get(upload_id)
        return None if last is None else self._clock() - last

    async def forget(self, upload_id: str) -> None:
        self._last.pop(upload_id, None)

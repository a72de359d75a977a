"""Playback windows: until when a take may still be playing (``exams.answering.playback``,
``exams.answering.device_checks``).

A video element fetches a take in several Range requests, perhaps through several
nodes, so a window opened by one request must be seen by the next wherever it
lands: :class:`MemoryWindows` in one process, ``storage.redis_windows`` across
nodes. Times are on the domain's clock; a window that ended reads as none.
"""

from __future__ import annotations

from typing import Protocol


class PlaybackWindows(Protocol):
    async def open(self, take_id: str, until: float, now: float) -> None:
        """``take_id`` may play until ``until`` (a later call moves the end)."""
        ...

    async def until(self, take_id: str, now: float) -> float | None:
        """The end of the take's window, if it is still open at ``now``."""
        ...

    async def close(self, take_id: str) -> None: ...


class MemoryWindows:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def open(self, take_id: str, until: float, now: float) -> None:
        self._until[take_id] = until

    async def until(self, take_id: str, now: float) -> float | None:
        until = self._until.get(take_id)
        if until is not None and now >= until:
            del self._until[take_id]
            return None
        return until

    async def close(self, take_id: str) -> None:
        self._until.pop(take_id, None)

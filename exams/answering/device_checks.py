"""Device-check takes (设备调试): only the latest one is kept.

A candidate may record the device check as often as they like, one at a time
(:meth:`exams.catalog.takes.TakeService.start` refuses a second while one records).
When a new one is stored, the older ones of the same account are deleted,
files and records, so the check costs one take of disk per account. A take
being played back is never deleted under the player: playing opens a window
(the recording's length plus :data:`PLAYBACK_GRACE_S`) during which it stays;
it goes with the next check stored after the window.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from exams.answering.playback import PLAYBACK_GRACE_S, recorded_s
from exams.answering.windows import MemoryWindows, PlaybackWindows
from exams.catalog.takes import PlaybackPolicy, Take, TakeState
from exams.shared.errors import ExamcastError
from exams.shared.ports import Clock

log = logging.getLogger(__name__)

PURPOSE = "device_check"


class DeviceCheckRecords(Protocol):
    async def of_owner(self, owner: str, purpose: str) -> list[Take]:
        """The owner's takes of ``purpose``, oldest first."""
        ...

    async def delete(self, take_id: str) -> None: ...


Discard = Callable[[str], Awaitable[Take]]  # delete a stopped take's files


class DeviceChecks:
    def __init__(
        self,
        records: DeviceCheckRecords,
        discard: Discard,
        clock: Clock,
        grace_s: float = PLAYBACK_GRACE_S,
        windows: PlaybackWindows | None = None,
    ) -> None:
        self._records = records
        self._discard = discard
        self._clock = clock
        self._grace = grace_s
        self._windows = windows if windows is not None else MemoryWindows()

    async def played(self, take: Take) -> None:
        """A segment of ``take`` is being served: keep it while it may still be playing."""
        if take.purpose == PURPOSE:
            now = self._clock()
            await self._windows.open(take.id, now + recorded_s(take) + self._grace, now)

    def policy(self, others: PlaybackPolicy) -> PlaybackPolicy:
        """The take service's playback policy: a device check plays back (and is kept while
        it plays); any other take as ``others`` decides."""

        async def decide(take: Take, viewer: str) -> None:
            if take.purpose != PURPOSE:
                await others(take, viewer)
            else:
                await self.played(take)

        return decide

    async def playing(self, take_id: str) -> bool:
        return await self._windows.until(take_id, self._clock()) is not None

    async def on_take_event(self, event: str, take: Take) -> None:
        """``TakeService`` listener: a stored device check replaces the older ones."""
        if event == "take_stored" and take.purpose == PURPOSE:
            await self.prune(take)

    async def prune(self, newest: Take) -> list[str]:
        """Delete the owner's device checks older than ``newest`` that nothing uses now;
        the ids deleted."""
        deleted = []
        for take in await self._records.of_owner(newest.owner, PURPOSE):
            if take.id == newest.id or take.started_at > newest.started_at:
                continue
            if take.state in (TakeState.RECORDING, TakeState.FINALIZING):
                continue  # still in the recorder's hands: its own take_stored comes later
            if await self.playing(take.id):
                continue
            try:
                if take.state is not TakeState.DISCARDED:
                    await self._discard(take.id)
                await self._records.delete(take.id)
            except ExamcastError:
                log.exception("device check %s could not be deleted", take.id)
                continue
            await self._windows.close(take.id)
            deleted.append(take.id)
        return deleted

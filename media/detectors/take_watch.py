"""Which recording take of each candidate a picture detector watches.

The picture detectors (:mod:`.vision`, :mod:`.face_match`) look at a candidate's camera
pictures while a take of a question records. :class:`TakeWatcher` is the part they share:
on ``take_started`` it reads the take's attempt and exam, asks the detector whether (and with
what state) to watch, and holds a ``watch`` claim on the candidate's pictures
(:class:`media.pictures.WallPictures`: pictures are made even when no proctor looks); on the
take's end it gives the claim back and lets the detector end what it raised.

One take per candidate (one question at a time): a take that never said it stopped is
replaced by the candidate's next one, never by an older one whose start is told late (it was
read while the newer one started). The take service tells a take's events in order, one at a
time (:mod:`exams.catalog.take_events`): its end never comes while its start is handled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from exams.catalog.attempts import Attempt
from exams.catalog.exam_ports import ExamSource
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import MOVED, Take
from media.pictures import WatchHandle

ENDS = ("take_stopped", "take_stored", "take_failed", MOVED)

W = TypeVar("W")


class Pictures(Protocol):
    """Implemented by :class:`media.pictures.WallPictures`."""

    def watch(self, owners: list[str]) -> WatchHandle: ...

    def release(self, handle: WatchHandle) -> None: ...


class AttemptSource(Protocol):
    async def get(self, attempt_id: str) -> Attempt | None: ...


@dataclass(eq=False)
class _Entry(Generic[W]):
    owner: str
    started_at: float
    handle: WatchHandle
    state: W


class TakeWatcher(Generic[W]):
    """The takes a picture detector watches, each with the detector's state ``W``.

    ``start(take, exam)`` makes the state of a take to watch (None: the exam does not ask
    for this detector); ``stop(state)`` ends what the detector raised for a take that ended.
    """

    def __init__(
        self,
        pictures: Pictures,
        attempts: AttemptSource,
        exams: ExamSource,
        start: Callable[[Take, Exam], W | None],
        stop: Callable[[W], Awaitable[None]],
    ) -> None:
        self._pictures = pictures
        self._attempts = attempts
        self._exams = exams
        self._start = start
        self._stop = stop
        self._by_take: dict[str, _Entry[W]] = {}
        self._by_owner: dict[str, str] = {}  # owner -> their take's id
        self._closed = False

    async def on_take_event(self, event: str, take: Take) -> None:
        """``exams.catalog.takes`` listener: watch a question's take while it records."""
        if event == "take_started" and take.attempt_id is not None:
            await self.watch(take, take.attempt_id)
        elif event in ENDS:
            await self.unwatch(take.id)

    async def watch(self, take: Take, attempt_id: str) -> None:
        attempt = await self._attempts.get(attempt_id)
        exam = None if attempt is None else await self._exams.get(attempt.exam_id)
        if attempt is None or exam is None or take.id in self._by_take or self._closed:
            return
        old = self._by_owner.get(take.owner)
        if old is not None and self._by_take[old].started_at > take.started_at:
            return  # the candidate's newer take is watched: this one is over
        state = self._start(take, exam)
        if state is None:
            return
        if old is not None:  # a take that never said it stopped: this one replaces it
            await self.unwatch(old)
        handle = self._pictures.watch([take.owner])
        self._by_take[take.id] = _Entry(take.owner, take.started_at, handle, state)
        self._by_owner[take.owner] = take.id

    async def unwatch(self, take_id: str) -> None:
        """Stop watching a take: its claim given back, the detector's ``stop`` awaited."""
        entry = self._by_take.pop(take_id, None)
        if entry is None:
            return
        if self._by_owner.get(entry.owner) == take_id:
            del self._by_owner[entry.owner]
        self._pictures.release(entry.handle)
        await self._stop(entry.state)

    def of_take(self, take_id: str) -> W | None:
        """The detector's state for a take watched now."""
        entry = self._by_take.get(take_id)
        return None if entry is None else entry.state

    def of_owner(self, owner: str) -> W | None:
        """The detector's state for the candidate's take watched now."""
        take_id = self._by_owner.get(owner)
        return None if take_id is None else self.of_take(take_id)

    def for_picture(self, owner: str, taken_at: float) -> W | None:
        """The detector's state for the candidate's take watched now, if a picture taken at
        ``taken_at`` belongs to it: one whose keyframe came before the take began (its
        decode ended after) does not, and would date a condition from before the take."""
        take_id = self._by_owner.get(owner)
        entry = None if take_id is None else self._by_take.get(take_id)
        return None if entry is None or taken_at < entry.started_at else entry.state

    def watching(self, owner: str) -> str | None:
        """The take of ``owner`` being watched, if any."""
        return self._by_owner.get(owner)

    def __len__(self) -> int:
        return len(self._by_take)

    def close(self) -> None:
        """Watch no more takes; every claim given back (nothing is ended)."""
        self._closed = True
        for entry in self._by_take.values():
            self._pictures.release(entry.handle)
        self._by_take.clear()
        self._by_owner.clear()

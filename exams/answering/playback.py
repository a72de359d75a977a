"""Who may play an exam take back, and deleting rehearsals nobody may play again.

:meth:`Playback.policy` is a playback policy of the take service (registered with
:meth:`exams.catalog.takes.TakeService.add_playback_policy`): the playback endpoint asks it
before serving a segment of a take.

- A formal take plays back only if its question allows it (M3.2), and only to
  the candidate who recorded it, while they still reach the exam
  (:mod:`exams.admission.exam_access`: not after a re-import removed them).
- A rehearsal plays back once, right after it ends (M3.3). A video element
  asks for a file in several HTTP Range requests, and a take may have several
  segments, so "once" is a *playback window*: the first request uses the
  rehearsal's single playback and opens a window as long as the recording
  plus :data:`PLAYBACK_GRACE_S`; requests inside it are served. When the
  window closes, or the candidate moves on (leaves, begins another rehearsal,
  enters the formal answer), the rehearsal's files are deleted
  (``TakeService.discard``); so are those of a rehearsal the candidate left
  without playing. The window is kept by a :class:`~exams.answering.windows.PlaybackWindows`
  (in memory, or in Redis so that every node sees it): after a restart a used playback
  stays used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from exams.answering.attempt_runner import AttemptRunner
from exams.answering.recording import (
    check_formal_playback,
    discardable_rehearsals,
    rehearsal_playback,
)
from exams.answering.windows import MemoryWindows, PlaybackWindows
from exams.catalog.attempts import Attempt, TakeKind
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take, TakeState
from exams.shared.errors import Conflict, ExamcastError, Forbidden, NotFound

log = logging.getLogger(__name__)

PLAYBACK_GRACE_S = 120.0


class ExamReach(Protocol):
    async def exam_of(self, candidate_id: str, exam_id: str) -> Exam:
        """The exam if the candidate reaches it now
        (:class:`exams.admission.exam_access.ExamAccess`)."""
        ...


class Playback:
    def __init__(
        self,
        runner: AttemptRunner,
        access: ExamReach,
        grace_s: float = PLAYBACK_GRACE_S,
        windows: PlaybackWindows | None = None,
    ) -> None:
        self._runner = runner
        self._access = access
        self._grace = grace_s
        self._windows = windows if windows is not None else MemoryWindows()  # rehearsals'
        self._discarded: set[str] = set()
        self._timers: dict[str, Callable[[], None]] = {}  # take id -> cancel its window's end

    async def playing(self, take_id: str, now: float) -> bool:
        return await self._windows.until(take_id, now) is not None

    async def policy(self, take: Take, viewer: str) -> None:
        """Raise :class:`Forbidden` unless ``viewer`` may play ``take`` now."""
        if take.attempt_id is None:
            return  # a device-check take: its owner plays it as often as they like
        if viewer != take.owner:
            raise Forbidden("only the candidate who recorded this take may play it back")
        if await self.playing(take.id, self._runner.clock()):
            return
        a = await self._runner.attempts.get(take.attempt_id)
        if a is None:
            raise Forbidden("this take belongs to no exam question of yours")
        exam = await self._access.exam_of(a.candidate_id, a.exam_id)  # still on the list?
        try:
            mine = a.take(take.id)
            if mine.kind is TakeKind.FORMAL:
                check_formal_playback(a, exam, take.id)
                return
        except (Conflict, NotFound) as exc:
            raise Forbidden(exc.message) from exc
        opened: list[float] = []

        async def use(a: Attempt, now: float) -> Attempt:
            if await self.playing(take.id, now):
                return a  # a request racing the first one
            try:
                a = rehearsal_playback(a, take.id)
            except (Conflict, NotFound) as exc:
                raise Forbidden(exc.message) from exc
            until = now + recorded_s(take) + self._grace
            await self._windows.open(take.id, until, now)
            opened.append(until)
            return a

        await self._runner.run(exam, a.question_id, a.candidate_id, use)
        if opened:
            attempt_id = a.id
            self._timers[take.id] = self._runner.scheduler.call_at(
                opened[0], lambda: self._window_closed(take.id, attempt_id)
            )

    def close(self) -> None:
        """Cancel the windows' timers (server shutdown); used playbacks stay used."""
        for cancel in self._timers.values():
            cancel()
        self._timers.clear()

    async def _window_closed(self, take_id: str, attempt_id: str) -> None:
        self._timers.pop(take_id, None)
        await self._windows.close(take_id)
        a = await self._runner.attempts.get(attempt_id)
        if a is not None:
            await self.discard_unplayable(a)

    async def left(self, a: Attempt) -> None:
        """The candidate left the rehearsal page (返回): its playback window closes."""
        for t in a.takes:
            await self._windows.close(t.id)
        await self.discard_unplayable(a)

    async def discard_unplayable(self, a: Attempt) -> None:
        """Delete the files of this attempt's rehearsals that can never be played again.

        The runner's ``after_run`` listener (``web.bootstrap`` registers it)."""
        now = self._runner.clock()
        # A window protects the last rehearsal until the candidate moves on.
        last = a.takes[-1].id if a.takes else None
        moved_on = a.reading is not None or a.entered_at is not None
        for take_id in discardable_rehearsals(a):
            if take_id in self._discarded:
                continue
            if take_id == last and not moved_on and await self.playing(take_id, now):
                continue
            await self._windows.close(take_id)
            media = await self._runner.records.get(take_id)
            if media is not None and media.state in (TakeState.RECORDING, TakeState.FINALIZING):
                continue  # take_stored brings us back here
            if media is not None and media.state is not TakeState.DISCARDED:
                try:
                    await self._runner.takes.discard(take_id)
                except ExamcastError:
                    log.exception("rehearsal %s could not be discarded", take_id)
                    continue
            self._discarded.add(take_id)


def recorded_s(take: Take) -> float:
    """How long a stored take plays, from its manifest."""
    manifest: dict[str, Any] = take.manifest or {}
    recorded = manifest.get("recorded_s")
    if isinstance(recorded, int | float):
        return float(recorded)
    return float(sum(s.get("duration_s") or 0 for s in manifest.get("segments", [])))

"""The exam service's engine: attempts changed one step at a time, on the server's clock.

Every change to an attempt goes through :meth:`AttemptRunner.run`, under a lock
per candidate x question, so two requests (or a request and a timer) never
race a step. A run reads the clock once, applies whatever is already due
(:func:`exams.answering.deadlines.due_actions`), then the step, then what became due,
saving after each, and sets the attempt's ONE timer at the next moment the
server must act. Media work that would call back into this class (stopping a
take, discarding a rehearsal) happens after the lock is released.

Actions the timer applies: a reading time that ran out starts the recorder
(:meth:`TakeControl.start` on the candidate's primary camera session) and the
take; a recording limit stops both; an auto-submit question submits itself
once its take is *stored* (held while it is finalising, and the submission
time does not close the attempt meanwhile); an expired submission time closes
the attempt. Take events (whoever caused them: the candidate's socket, the
media layer's own limit, a lost connection) are folded into the attempt by
:meth:`on_take_event`. :meth:`reconcile` does the same for every unsettled
attempt at start-up, after the media layer has recovered its takes.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable

from exams.answering.deadlines import (
    Action,
    AutoSubmit,
    CloseAttempt,
    StartRecording,
    StopRecording,
    close_expired,
    due_actions,
    due_on_restart,
    scheduled,
)
from exams.answering.recording import mark_take_failed, start_take, stop_take
from exams.answering.retakes import Retakes
from exams.answering.submissions import auto_submit
from exams.catalog.attempts import Attempt, TakeKind, holds_camera, new_attempt
from exams.catalog.exam_ports import AttemptRepository, ExamSource, TakeControl, TakeRecords
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take, TakeState
from exams.shared.errors import Conflict, NotFound
from exams.shared.locks import LocalDeadlines, MemoryLocks
from exams.shared.ports import Clock, DeadlineOwners, Locks, Scheduler
from exams.shared.telemetry import NO_TELEMETRY, Count, Telemetry

log = logging.getLogger(__name__)

RETRY_S = 2.0  # a held or failed action is looked at again this much later
MAX_ACTIONS = 20
Step = Callable[[Attempt, float], Awaitable[Attempt]]
_ACTION_LABELS: dict[type, str] = {
    StartRecording: "start_recording",
    StopRecording: "stop_recording",
    AutoSubmit: "auto_submit",
    CloseAttempt: "close_attempt",
}


class AttemptRunner:
    def __init__(
        self,
        attempts: AttemptRepository,
        exams: ExamSource,
        takes: TakeControl,
        records: TakeRecords,
        clock: Clock,
        scheduler: Scheduler,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
        locks: Locks | None = None,
        owners: DeadlineOwners | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        retakes: Retakes | None = None,
    ) -> None:
        """``locks``: one step at a time per attempt (across nodes when shared); ``owners``:
        which node fires each attempt's timer (this one alone by default); ``retakes``:
        grants an extra formal take for a damaged one (issue #18; none: never)."""
        self.attempts = attempts
        self._exams = exams
        self.takes = takes
        self.records = records
        self.clock = clock
        self.scheduler = scheduler
        self._new_id = new_id
        self._telemetry = telemetry  # deadlines fired, by action
        self.locks = locks if locks is not None else MemoryLocks()
        self._owners = owners if owners is not None else LocalDeadlines()
        self.fired = 0  # deadlines this node acted on (its timers, and those it took over)
        self._timers: dict[str, tuple[object, Callable[[], None]]] = {}
        self.after_run: list[Callable[[Attempt], Awaitable[None]]] = []
        # Has the attempt's second camera (需二机位) tapped Ready? (``pairing`` answers.)
        self._readiness: list[Callable[[str], bool]] = []
        # Does the attempt's candidate still reach its exam (the admitted list)? (``answering``)
        self._admission: list[Callable[[Attempt], Awaitable[bool]]] = []
        self._closed = False
        self._retakes = retakes

    def add_secondary_check(self, ready_for: Callable[[str], bool]) -> None:
        """``ready_for(attempt_id)``: has that attempt's second camera tapped Ready?"""
        self._readiness.append(ready_for)

    def add_admission_check(self, admitted: Callable[[Attempt], Awaitable[bool]]) -> None:
        """``admitted(attempt)``: does its candidate still reach the exam? The server starts
        no recording for one a re-import removed; it looks again every :data:`RETRY_S`, so a
        candidate put back on the list is where they were."""
        self._admission.append(admitted)

    async def _admitted(self, a: Attempt) -> bool:
        for admitted in self._admission:
            if not await admitted(a):
                return False
        return True

    # -- running steps ---------------------------------------------------------------------

    async def run(
        self,
        exam: Exam,
        question_id: str,
        candidate_id: str,
        step: Step | None = None,
        *,
        create: bool = False,
        settle_first: bool = True,
    ) -> Attempt:
        """Apply ``step`` to the candidate's attempt at this question (made if ``create``)."""
        exam.question(question_id)
        key = f"attempt:{candidate_id}:{exam.id}:{question_id}"
        stops: list[StopRecording] = []
        a: Attempt | None = None
        try:
            async with self.locks.hold(key):
                now = self.clock()
                a = await self.attempts.find(exam.id, question_id, candidate_id)
                fresh = a is None
                if a is None:
                    if not create:
                        raise NotFound("you have not started this question yet")
                    a = new_attempt(self._new_id(), exam, question_id, candidate_id)
                try:
                    if settle_first and not fresh:
                        a = await self._settle(a, exam, now, stops)
                    if step is not None:
                        changed = await step(a, now)
                        if changed != a or fresh:
                            await self.attempts.save(changed, now)
                        a = changed
                        a = await self._settle(a, exam, now, stops)
                finally:
                    await self._arm(a, exam, now)
        finally:
            for stop in stops:
                await self.stop_media(stop.take_id, stop.reason)
            if a is not None:
                for hook in self.after_run:
                    await hook(a)
        return a

    async def stop_media(self, take_id: str, reason: str, owner: str | None = None) -> Take | None:
        """Stop the media take (it may have stopped already: then nothing happens)."""
        try:
            return await self.takes.stop(take_id, reason, owner)
        except (Conflict, NotFound):
            return None

    async def start_media(
        self, a: Attempt, exam: Exam, kind: TakeKind, now: float, *, by_server: bool
    ) -> Attempt:
        """Start the recorder, then the take, with the same limit on both. A second camera
        that is ready is recorded too (the take service asks the pairing for it)."""
        ready = any(ready_for(a.id) for ready_for in self._readiness)
        probe = start_take(
            a,
            exam,
            kind,
            f"pending-{self._new_id()}",
            now,
            secondary_ready=ready,
            by_server=by_server,
        )
        claimed = not holds_camera(a)
        if claimed:  # claim the camera before the recorder starts: a refused claim starts none
            await self.attempts.save(probe, now)
        deadline = probe.takes[-1].deadline
        try:
            take = await self.takes.start(  # one start and deadline for the attempt and take
                a.candidate_id,
                None,
                kind.value,
                limit_s=deadline - now,
                attempt_id=a.id,
                started_at=now,
            )
        except BaseException:
            if claimed:
                await self.attempts.save(a, now)
            raise
        return start_take(a, exam, kind, take.id, now, secondary_ready=ready, by_server=by_server)

    # -- what the server does by itself ----------------------------------------------------

    async def _settle(
        self, a: Attempt, exam: Exam, now: float, stops: list[StopRecording]
    ) -> Attempt:
        """Apply the due actions one at a time, asking again after each."""
        failed: set[Action] = set()
        for _ in range(MAX_ACTIONS):
            due = [x for x in due_actions(a, exam, now) if x not in failed]
            auto = next((x for x in due if isinstance(x, AutoSubmit)), None)
            if auto is not None:
                state = await self._media_state(auto.take_id)
                if state in (TakeState.FAILED, TakeState.DISCARDED, None):
                    a = await self._save(mark_take_failed(a, auto.take_id), now)
                    continue
                if state is not TakeState.STORED:  # finalising: take_stored comes back here
                    due = [x for x in due if not isinstance(x, AutoSubmit | CloseAttempt)]
            if not due:
                return a
            if isinstance(due[0], StartRecording) and not await self._admitted(a):
                failed.add(due[0])  # removed from the admitted list: the timer looks again
                continue
            try:
                a = await self._save(await self._act(a, exam, due[0], now, stops), now)
            except Exception:  # the next ones may still apply; the timer retries this one
                log.exception("attempt %s: %s could not be applied", a.id, due[0])
                failed.add(due[0])
        log.error("attempt %s: still actions due after %d steps", a.id, MAX_ACTIONS)
        return a

    async def _act(
        self, a: Attempt, exam: Exam, action: Action, now: float, stops: list[StopRecording]
    ) -> Attempt:
        self._telemetry.count(Count.DEADLINES_FIRED, _ACTION_LABELS[type(action)])
        if isinstance(action, StopRecording):
            stops.append(action)
            return stop_take(a, action.take_id, now, action.reason)
        if isinstance(action, AutoSubmit):
            return auto_submit(a, exam, now)
        if isinstance(action, StartRecording):
            return await self.start_media(a, exam, action.kind, now, by_server=True)
        return close_expired(a, exam, now)

    async def _save(self, a: Attempt, now: float) -> Attempt:
        await self.attempts.save(a, now)
        return a

    async def _media_state(self, take_id: str) -> TakeState | None:
        take = await self.records.get(take_id)
        return None if take is None else take.state

    async def _arm(self, a: Attempt, exam: Exam, now: float) -> None:
        """Set the attempt's one timer at the next moment the server must act; this node
        owns it now (a timer another node set for it will do nothing)."""
        pending = [x.due_at for x in scheduled(a, exam)]
        when = min(pending) if pending else None
        if when is not None and when <= now:  # held (finalising) or failed: look again soon
            when = now + RETRY_S
        old = self._timers.pop(a.id, None)
        if old is not None:
            old[1]()
        if self._closed:
            return
        try:
            if when is None:
                await self._owners.release(a.id)
            else:
                await self._owners.claim(a.id, when)
        except Exception:  # the timer is set all the same; another node may fire it too
            log.exception("attempt %s: its deadline's owner could not be recorded", a.id)
        if when is not None:
            token = object()
            cancel = self.scheduler.call_at(when, lambda: self._wake(a.id, token))
            self._timers[a.id] = (token, cancel)

    async def _wake(self, attempt_id: str, token: object) -> None:
        current = self._timers.get(attempt_id)
        if current is not None and current[0] is token:
            del self._timers[attempt_id]
        try:
            if not await self._owners.owns(attempt_id):
                log.debug("attempt %s: its deadline belongs to another node now", attempt_id)
                return
        except Exception:  # no shared state: fire; the attempt's lock keeps the steps apart
            log.exception("attempt %s: could not ask who owns its deadline", attempt_id)
        self.fired += 1
        await self._wake_up(attempt_id)

    async def adopt_orphans(self) -> int:
        """Take over the deadlines of nodes that are gone (the sweep, every few seconds):
        each is settled now (what fell due is applied) and timed on this node."""
        taken = await self._owners.orphans(math.inf)
        for attempt_id in taken:
            log.warning("attempt %s: its deadline's node is gone; taken over", attempt_id)
            self.fired += 1
            await self._wake_up(attempt_id)
        return len(taken)

    async def follow_media(self, candidate_id: str) -> int:
        """The candidate's camera is on this node now (their primary camera session opened
        here, or their take continued here): this node takes over the deadlines of their
        unsettled attempts that another node owns (decision 0026), so that "recording starts
        when the reading time ends" and the time limits fire where the camera is. Each is
        settled and armed here (claimed with its due time, as :meth:`adopt_orphans` does for
        an orphan); the old owner's timer then does nothing. Returns how many it took; one
        process owns every deadline already (nothing to take)."""
        taken = 0
        for a in await self.attempts.of_candidate(candidate_id):
            exam = await self._exams.get(a.exam_id)
            if exam is None or not scheduled(a, exam):
                continue
            try:  # its home: another node arming it (a proctor's step) leaves it here
                await self._owners.home(a.id)
            except Exception:
                log.exception("attempt %s: could not make this node its deadline's home", a.id)
            if await self._owned_here(a.id):
                continue
            log.info("attempt %s: its deadlines follow its camera to this node", a.id)
            taken += 1
            await self._wake_up(a.id)
        return taken

    async def _owned_here(self, attempt_id: str) -> bool:
        try:
            return attempt_id in self._timers and await self._owners.owns(attempt_id)
        except Exception:  # no shared state to ask: take it (the lock keeps steps apart)
            log.exception("attempt %s: could not ask who owns its deadline", attempt_id)
            return False

    async def _wake_up(self, attempt_id: str) -> None:
        try:
            a = await self.attempts.get(attempt_id)
            exam = None if a is None else await self._exams.get(a.exam_id)
            if a is not None and exam is not None:
                await self.run(exam, a.question_id, a.candidate_id)
        except Exception:
            log.exception("attempt %s: its timer failed", attempt_id)

    def close(self) -> None:
        """Cancel every timer (server shutdown); the deadlines stay saved for the next run."""
        self._closed = True
        for _, cancel in self._timers.values():
            cancel()
        self._timers.clear()

    # -- take events and restart -----------------------------------------------------------

    async def on_take_event(self, event: str, take: Take) -> None:
        """A take of an attempt stopped, was stored or failed: the attempt learns it."""
        if take.attempt_id is None or event == "take_started":
            return
        a = await self.attempts.get(take.attempt_id)
        exam = None if a is None else await self._exams.get(a.exam_id)
        if a is None or exam is None:
            return
        found: Exam = exam

        async def absorb(a: Attempt, now: float) -> Attempt:
            a = absorb_take(a, take, event == "take_failed", now)
            if event == "take_stored":
                a = await self._retake(a, found, take, now)
            return a

        await self.run(exam, a.question_id, a.candidate_id, absorb)

    async def reconcile(self) -> int:
        """At start-up: fold in what the media layer recovered, act on what fell due while
        the server was down, and set every unsettled attempt's timer. Returns how many
        actions were due."""
        loaded = await self.attempts.unsettled()
        exams: dict[str, Exam] = {}
        for a in loaded:
            if a.exam_id not in exams:
                exam = await self._exams.get(a.exam_id)
                if exam is not None:
                    exams[a.exam_id] = exam
        loaded = [a for a in loaded if a.exam_id in exams]
        due = due_on_restart(loaded, exams, self.clock())
        first = {x.attempt_id: i for i, x in reversed(list(enumerate(due)))}
        loaded.sort(key=lambda a: first.get(a.id, len(due)))
        for a in loaded:
            try:
                await self.run(
                    exams[a.exam_id],
                    a.question_id,
                    a.candidate_id,
                    self._catch_up,
                    settle_first=False,
                )
            except Exception:  # one bad attempt must not keep the server from starting
                log.exception("attempt %s could not be reconciled", a.id)
        if due:
            log.warning("%d exam action(s) fell due while the server was down", len(due))
        return len(due)

    async def _catch_up(self, a: Attempt, now: float) -> Attempt:
        """A take the domain thinks is recording but the media layer has finished."""
        for t in a.takes:
            if not t.recording:
                continue
            media = await self.records.get(t.id)
            if media is None:
                stand_in = Take(t.id, a.candidate_id, "", t.kind.value, TakeState.FAILED, now)
                a = absorb_take(a, stand_in, True, now)
            elif media.state is not TakeState.RECORDING:
                a = absorb_take(a, media, media.state is TakeState.FAILED, now)
                if media.state is TakeState.STORED:
                    exam = await self._exams.get(a.exam_id)
                    if exam is not None:
                        a = await self._retake(a, exam, media, now)
        return a

    async def _retake(self, a: Attempt, exam: Exam, take: Take, now: float) -> Attempt:
        """A stored formal take damaged by the system grants one more (issue #18)."""
        if self._retakes is None:
            return a
        return await self._retakes.apply(a, exam, take.id, take.quality, now)


def absorb_take(a: Attempt, take: Take, failed: bool, now: float) -> Attempt:
    """The attempt after the media layer stopped (and maybe failed) ``take``."""
    try:
        mine = a.take(take.id)
    except NotFound:
        return a
    if mine.recording:
        reason = take.stop_reason or "server_restart"
        a = stop_take(a, take.id, take.stopped_at or now, reason)
    if failed and not a.take(take.id).media_failed:
        a = mark_take_failed(a, take.id)
    return a

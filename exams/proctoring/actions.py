"""A proctor's actions on a candidate, and a candidate's raised hand.

A proctor assigned to the exam, or the admin of its unit, may (each refusal
audited by :meth:`exams.proctoring.watching.Watching.check`; a candidate may act
on nobody):

- :meth:`ProctorActions.send_message`: a message shown at once on the
  candidate's devices (the question page and the phone); the candidate's
  :meth:`~ProctorActions.read` is the receipt, pushed to the exam's wall. A
  proctor sends at most ``messages_per_window`` in ``window_s`` (counted and
  taken in one step with no ``await`` between, so parallel sends cannot all pass);
- :meth:`~ProctorActions.give_time`: the deadlines of the candidate's open
  question move later; the attempt's timer is set again from them and the
  candidate's devices are told (``deadline_changed``);
- :meth:`~ProctorActions.end_attempt`: the open question ends now with a
  reason; a take recording is stopped and stored, the candidate is told why.

A candidate raises a hand (:meth:`~ProctorActions.raise_hand`): one open hand
per candidate and exam; it shows on the wall (listeners: the wall's tile flag,
an incident) until a proctor answers with a message. Messages and hands are
stored with the answer open at the time; every action is audited.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from exams.catalog.attempts import Attempt, phase
from exams.catalog.exam_ports import CandidateAttempts, ExamSource
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take
from exams.identity.accounts import Account, Role
from exams.proctoring.attempt_steps import ENDED_BY_PROCTOR, OPEN_PHASES, end_now, give_time
from exams.proctoring.notes import (
    HAND,
    MAX_MESSAGE_CHARS,
    MAX_REASON_CHARS,
    MESSAGE,
    Note,
    NoteStore,
    clean_text,
)
from exams.shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from exams.shared.ports import AuditLog, Clock, Entry, Event

log = logging.getLogger(__name__)

MAX_MINUTES = 60  # one extension gives 1..60 minutes
HandListener = Callable[[str, str, bool, float], Awaitable[None]]  # exam, candidate, up?, at


class CandidateCheck(Protocol):
    """Implemented by ``exams.proctoring.watching.Watching`` (refusals audited)."""

    async def check(self, who: Account, exam_id: str, candidate_id: str, client: str) -> Exam: ...


class AttemptSteps(Protocol):
    """Implemented by ``exams.answering.attempt_runner.AttemptRunner``."""

    async def run(
        self,
        exam: Exam,
        question_id: str,
        candidate_id: str,
        step: Callable[[Attempt, float], Awaitable[Attempt]] | None = None,
        *,
        create: bool = False,
        settle_first: bool = True,
    ) -> Attempt: ...

    async def stop_media(
        self, take_id: str, reason: str, owner: str | None = None
    ) -> Take | None: ...


class AdmittedUnits(Protocol):
    async def admitted_units(self, account: Account) -> set[str]: ...


class ActionNotifier(Protocol):
    """Implemented by ``signaling.actions.ActionNotifier``."""

    async def to_candidate(self, candidate_id: str, event: str, body: dict[str, Any]) -> None:
        """To every device of the candidate (the question page, the phone)."""
        ...

    async def to_wall(self, exam_id: str, event: str, body: dict[str, Any]) -> None:
        """To everyone watching the exam's wall."""
        ...


class ProctorActions:
    def __init__(
        self,
        check: CandidateCheck,
        runner: AttemptSteps,
        attempts: CandidateAttempts,
        exams: ExamSource,
        units: AdmittedUnits,
        notes: NoteStore,
        notify: ActionNotifier,
        audit: AuditLog,
        clock: Clock,
        *,
        messages_per_window: int = 10,
        window_s: float = 60.0,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._check = check
        self._runner = runner
        self._attempts = attempts
        self._exams = exams
        self._units = units
        self._notes = notes
        self._notify = notify
        self._audit = audit
        self._clock = clock
        self._per_window = messages_per_window
        self._window_s = window_s
        self._new_id = new_id
        self._sent: dict[str, deque[float]] = {}  # proctor -> when their recent messages went
        self._hands: dict[tuple[str, str], Note] = {}  # (exam, candidate) -> the open hand
        self._hand_listeners: list[HandListener] = []

    def add_hand_listener(self, listener: HandListener) -> None:
        """``listener(exam_id, candidate_id, raised, at)`` when a hand goes up or is answered."""
        self._hand_listeners.append(listener)

    def now(self) -> float:
        return self._clock()

    def raised_at(self, exam_id: str, candidate_id: str) -> float | None:
        """When the candidate's open hand in the exam went up (None: no hand up)."""
        hand = self._hands.get((exam_id, candidate_id))
        return None if hand is None else hand.sent_at

    # -- proctors ---------------------------------------------------------------------------

    async def send_message(
        self, who: Account, exam_id: str, candidate_id: str, text: str, client: str
    ) -> Note:
        text = clean_text(text, "the message", MAX_MESSAGE_CHARS)
        await self._check.check(who, exam_id, candidate_id, client)
        now = self._clock()
        sent = self._take_place(who.id, now)
        try:
            current = await self._current(exam_id, candidate_id)
            note = Note(
                self._new_id(),
                MESSAGE,
                exam_id,
                candidate_id,
                who.id,
                text,
                now,
                None if current is None else current.id,
                None if current is None else current.question_id,
            )
            await self._notes.add(note)
        except BaseException:
            sent.remove(now)  # not sent: its place is given back
            raise
        detail = {"exam_id": exam_id, "candidate_id": candidate_id, "message_id": note.id}
        await self._record(Event.PROCTOR_MESSAGE_SENT, who.id, client, detail | {"text": text})
        await self._notify.to_candidate(candidate_id, "proctor_message", note.for_candidate())
        await self._answer_hand(exam_id, candidate_id, now)
        return note

    async def give_time(
        self, who: Account, exam_id: str, candidate_id: str, minutes: int, client: str
    ) -> dict[str, Any]:
        if not 1 <= minutes <= MAX_MINUTES:
            raise InvalidInput(f"give between 1 and {MAX_MINUTES} minutes")
        exam = await self._check.check(who, exam_id, candidate_id, client)
        current = await self._open(exam_id, candidate_id)

        async def step(a: Attempt, now: float) -> Attempt:
            return give_time(a, exam, minutes * 60.0, now)

        before = current.submission_deadline
        a = await self._runner.run(exam, current.question_id, candidate_id, step)
        body = deadlines(a, self._clock())
        detail = {"exam_id": exam_id, "candidate_id": candidate_id, "minutes": minutes}
        detail |= {"attempt_id": a.id, "question_id": a.question_id, "deadline_was": before}
        await self._record(Event.TIME_EXTENDED, who.id, client, detail | body)
        await self._notify.to_candidate(candidate_id, "deadline_changed", body)
        return body

    async def end_attempt(
        self, who: Account, exam_id: str, candidate_id: str, reason: str, client: str
    ) -> dict[str, Any]:
        reason = clean_text(reason, "the reason", MAX_REASON_CHARS)
        exam = await self._check.check(who, exam_id, candidate_id, client)
        current = await self._open(exam_id, candidate_id)
        stopped: list[str] = []

        async def step(a: Attempt, now: float) -> Attempt:
            take = a.recording_take
            ended = end_now(a, now, who.id, reason)
            if take is not None:
                stopped.append(take.id)
            return ended

        a = await self._runner.run(exam, current.question_id, candidate_id, step)
        for take_id in stopped:  # outside the attempt's lock: the media stop comes back to it
            await self._runner.stop_media(take_id, ENDED_BY_PROCTOR)
        body = ended(a)
        detail = {"exam_id": exam_id, "candidate_id": candidate_id, "takes_stopped": stopped}
        await self._record(Event.ATTEMPT_ENDED, who.id, client, detail | body)
        await self._notify.to_candidate(candidate_id, "attempt_ended", body)
        return body

    async def notes_for_proctor(
        self, who: Account, exam_id: str, candidate_id: str, client: str
    ) -> list[Note]:
        await self._check.check(who, exam_id, candidate_id, client)
        return await self._notes.of_candidate(exam_id, candidate_id)

    # -- candidates -------------------------------------------------------------------------

    async def read(self, candidate: Account, message_id: str, client: str) -> Note:
        """The candidate read a message: the receipt, once (again: the same answer)."""
        note = await self._notes.mark_read(message_id, candidate.id, self._clock())
        if note is None:
            found = await self._notes.get(message_id)
            if found is None or found.candidate_id != candidate.id or found.kind != MESSAGE:
                raise NotFound("no such message for you")
            return found
        detail = {"exam_id": note.exam_id, "message_id": note.id}
        await self._record(Event.PROCTOR_MESSAGE_READ, candidate.id, client, detail)
        receipt = {"exam_id": note.exam_id, "candidate_id": candidate.id, "message_id": note.id}
        await self._notify.to_wall(
            note.exam_id, "message_read", receipt | {"read_at": note.read_at}
        )
        await self._notify.to_candidate(candidate.id, "proctor_message", note.for_candidate())
        return note

    async def raise_hand(self, candidate: Account, exam_id: str, client: str) -> Note:
        """The candidate asks for help in the exam; a hand up already is the answer again."""
        if candidate.role is not Role.CANDIDATE:
            raise Forbidden("only candidates raise a hand")
        key = (exam_id, candidate.id)
        hand = self._hands.get(key)
        if hand is not None:
            return hand
        exam = await self._exams.get(exam_id)
        if exam is None:
            raise NotFound("no such exam")
        current = await self._current(exam_id, candidate.id)
        if current is None and exam.unit_id not in await self._units.admitted_units(candidate):
            raise Forbidden("you are not a candidate of this exam")
        hand = self._hands.get(key)
        if hand is not None:  # raised by a parallel request meanwhile
            return hand
        now = self._clock()
        hand = Note(
            self._new_id(),
            HAND,
            exam_id,
            candidate.id,
            candidate.id,
            "",
            now,
            None if current is None else current.id,
            None if current is None else current.question_id,
        )
        self._hands[key] = hand  # from the look-up to here: no await, one hand per candidate
        try:
            await self._notes.add(hand)
        except BaseException:
            del self._hands[key]
            raise
        await self._record(Event.HAND_RAISED, candidate.id, client, {"exam_id": exam_id})
        await self._hand_changed(exam_id, candidate.id, True, now)
        return hand

    async def notes_for_candidate(self, candidate: Account, exam_id: str) -> dict[str, Any]:
        """What the candidate's page shows after a reload: the messages, the hand."""
        notes = await self._notes.of_candidate(exam_id, candidate.id)
        return {
            "exam_id": exam_id,
            "now": self._clock(),
            "messages": [n.for_candidate() for n in notes if n.kind == MESSAGE],
            "hand_raised_at": self.raised_at(exam_id, candidate.id),
        }

    # -- inside -----------------------------------------------------------------------------

    def _take_place(self, proctor_id: str, now: float) -> deque[float]:
        """Count and take a place in the proctor's window (no await: parallel sends count)."""
        sent = self._sent.setdefault(proctor_id, deque())
        while sent and sent[0] <= now - self._window_s:
            sent.popleft()
        if len(sent) >= self._per_window:
            wait = max(1, round(sent[0] + self._window_s - now))
            raise TooManyRequests(
                f"you sent {self._per_window} messages in the last "
                f"{round(self._window_s)} seconds; wait {wait} seconds",
                details={"retry_after_s": wait},
            )
        sent.append(now)
        return sent

    async def _current(self, exam_id: str, candidate_id: str) -> Attempt | None:
        now = self._clock()
        found = await self._attempts.of_candidate(candidate_id, exam_id)
        return next((a for a in found if phase(a, now) in OPEN_PHASES), None)

    async def _open(self, exam_id: str, candidate_id: str) -> Attempt:
        current = await self._current(exam_id, candidate_id)
        if current is None:
            raise Conflict("the candidate has no question open now; nothing to act on")
        return current

    async def _answer_hand(self, exam_id: str, candidate_id: str, now: float) -> None:
        if self._hands.pop((exam_id, candidate_id), None) is None:
            return
        await self._notes.answer_hands(exam_id, candidate_id, now)
        await self._hand_changed(exam_id, candidate_id, False, now)

    async def _hand_changed(self, exam_id: str, candidate_id: str, up: bool, at: float) -> None:
        body = {"exam_id": exam_id, "hand_raised_at": at if up else None}
        await self._notify.to_candidate(candidate_id, "hand_state", body)
        for listener in self._hand_listeners:
            try:
                await listener(exam_id, candidate_id, up, at)
            except Exception:  # the wall or the incidents failing must not lose the hand
                log.exception("hand of %s in exam %s: a listener failed", candidate_id, exam_id)

    async def _record(self, event: Event, who: str, client: str, detail: dict[str, Any]) -> None:
        await self._audit.record(Entry(event, who, client, detail, self._clock()))


def deadlines(a: Attempt, now: float) -> dict[str, Any]:
    """The ``deadline_changed`` body: the open answer's deadlines as they are now."""
    take = a.recording_take
    return {
        "exam_id": a.exam_id,
        "question_id": a.question_id,
        "attempt_id": a.id,
        "now": now,
        "submission_deadline": a.submission_deadline,
        "reading_deadline": None if a.reading is None else a.reading.deadline,
        "take_deadline": None if take is None else take.deadline,
        "extra_s": a.extra_s,
    }


def ended(a: Attempt) -> dict[str, Any]:
    """The ``attempt_ended`` body."""
    return {
        "exam_id": a.exam_id,
        "question_id": a.question_id,
        "attempt_id": a.id,
        "ended_at": a.closed_at,
        "reason": a.end_reason,
    }

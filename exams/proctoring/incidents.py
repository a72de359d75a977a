"""Incidents: what the machine noticed about a candidate, each waiting for a person's decision.

A detector (or the candidate's raised hand) calls :meth:`Incidents.raise_alert`
when a condition has lasted its exam's ``after_s``
(:mod:`exams.proctoring.monitoring`), and :meth:`Incidents.end_alert` when it
stops. The incident is put on the timeline of the candidate's current answer:
the exam, the attempt and question, the take being recorded and the position
in it (``take_offset_s``, seconds on the take's clock, which both cameras'
segments share as ``start_s``), and the server times it was raised, began and
ended. A proctor of the exam, or the admin of the exam's unit, disposes of it
(``confirmed`` or ``dismissed``, with a note); nothing is decided by the
machine alone. Every raise and every decision is in the audit log. A
candidate never disposes of an incident nor reads a note.

Rules:

- One *active* incident (not ended) per (candidate, kind, camera): the check and
  the claim happen with no ``await`` between them, so parallel raises make one;
  a repeat while one is active returns ``None``. A decision does not end it.
- A ``page_reloaded`` is a moment: it ends as it is raised.
- Where the candidate is: their answer in a live phase (reading, recording,
  answering; one question at a time). Not in a question (between questions, on
  the question list), the alert still counts against the exam of their latest
  answer if that exam is open now, with no attempt, question or take. Otherwise
  (no answer in an open exam) it is dropped: there is no exam to put it on.
- A kind the exam's monitoring switched off is dropped.
- After a restart no detector remembers its conditions: :meth:`Incidents.reconcile`
  ends the incidents still active (``end_reason: server_restart``).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

from exams.catalog import exam_ports
from exams.catalog.attempts import Attempt, AttemptTake, phase
from exams.catalog.exam_ports import ExamSource
from exams.catalog.exam_rules import Exam
from exams.catalog.monitoring import AlertKind
from exams.identity.accounts import Account, Role
from exams.shared.errors import Forbidden, InvalidInput, NotFound
from exams.shared.ports import AuditLog, Clock, Entry, Event

__all__ = [
    "STATUSES",
    "AlertKind",
    "Decision",
    "Incident",
    "IncidentListener",
    "IncidentStore",
    "Incidents",
]

log = logging.getLogger(__name__)

Decision = Literal["confirmed", "dismissed"]
STATUSES = ("open", "confirmed", "dismissed")
DECISIONS: tuple[str, ...] = ("confirmed", "dismissed")
LIVE_PHASES = ("reading", "recording", "answering")
MOMENTS = frozenset({AlertKind.PAGE_RELOADED})  # end as they are raised
MAX_NOTE = 2000
MAX_DETAIL_BYTES = 2048
LATEST = 3  # incidents per tile on the wall


@dataclass(frozen=True)
class Incident:
    """One alert on a candidate's timeline; times are the server clock (Unix seconds)."""

    id: str
    exam_id: str
    candidate_id: str
    kind: AlertKind
    camera: str | None
    raised_at: float  # when the server recorded it
    started_at: float  # when the condition began (the onset; <= raised_at)
    attempt_id: str | None = None
    question_id: str | None = None
    take_id: str | None = None
    take_offset_s: float | None = None  # the onset on the take's clock (segments' start_s)
    ended_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False)
    status: str = "open"  # open | confirmed | dismissed
    disposed_by: str | None = None
    disposed_at: float | None = None
    note: str = ""

    @property
    def active(self) -> bool:
        """The condition still holds (no ``ended_at``); decided or not."""
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        """The full incident (staff only: it holds the note)."""
        out = asdict(self)
        out["kind"] = self.kind.value
        return out

    def brief(self) -> dict[str, Any]:
        """What a wall tile shows of it: no detail, no note."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "camera": self.camera,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """Load what :meth:`to_dict` saved (trusted storage, not user input)."""
        return cls(**{**data, "kind": AlertKind(data["kind"])})


# -- ports -----------------------------------------------------------------------------------


class IncidentStore(Protocol):
    """Implemented by ``storage.incidents.SqliteIncidents``."""

    async def add(self, incident: Incident) -> None: ...

    async def get(self, incident_id: str) -> Incident | None: ...

    async def end(self, incident_id: str, ended_at: float, reason: str) -> Incident | None:
        """Set ``ended_at`` unless already set; the incident as it is now (None: no such)."""
        ...

    async def dispose(
        self, incident_id: str, status: str, by: str, at: float, note: str
    ) -> Incident | None: ...

    async def of_attempt(self, attempt_id: str) -> list[Incident]: ...

    async def of_candidate(self, exam_id: str, candidate_id: str) -> list[Incident]: ...

    async def of_exam(self, exam_id: str) -> list[Incident]: ...

    async def undecided(self, exam_id: str, candidate_id: str | None = None) -> list[Incident]:
        """Incidents of the exam still ``open`` (awaiting a decision), oldest first."""
        ...

    async def end_active(self, ended_at: float, reason: str) -> int:
        """End every incident still active; how many."""
        ...


class CandidateAttempts(exam_ports.CandidateAttempts, Protocol):
    async def get(self, attempt_id: str) -> Attempt | None: ...


class People(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


class ExamAccess(Protocol):
    """Implemented by ``exams.catalog.catalog.ExamCatalog`` (refusals audited there)."""

    async def admin_exam(self, admin: Account, exam_id: str, client: str) -> Exam: ...

    async def proctor_exam(self, proctor: Account, exam_id: str, client: str) -> Exam: ...


# event: "raised" | "ended" | "disposed"
IncidentListener = Callable[[str, Incident], Awaitable[None]]
Key = tuple[str, AlertKind, str | None]


@dataclass(eq=False)
class _Slot:
    """A key's active incident; ``incident`` None while its raise is being stored."""

    id: str
    incident: Incident | None = None
    ended: tuple[float, str] | None = None  # an end that came while it was being stored


@dataclass(frozen=True)
class _Place:
    exam: Exam
    attempt: Attempt | None
    take: AttemptTake | None
    offset: float | None


class Incidents:
    def __init__(
        self,
        store: IncidentStore,
        attempts: CandidateAttempts,
        exams: ExamSource,
        access: ExamAccess,
        people: People,
        audit: AuditLog,
        clock: Clock,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._store = store
        self._attempts = attempts
        self._exams = exams
        self._access = access
        self._people = people
        self._audit = audit
        self._clock = clock
        self.clock = clock
        self._new_id = new_id
        self._active: dict[Key, _Slot] = {}
        self._listeners: list[IncidentListener] = []

    def add_listener(self, listener: IncidentListener) -> None:
        """``listener(event, incident)`` after each ``raised``, ``ended`` and ``disposed``."""
        self._listeners.append(listener)

    def is_active(self, candidate_id: str, kind: AlertKind, camera: str | None = None) -> bool:
        """An incident of this key is active (no I/O)."""
        return (candidate_id, AlertKind(kind), camera) in self._active

    # -- raised by the detectors -------------------------------------------------------------

    async def raise_alert(
        self,
        candidate_id: str,
        kind: AlertKind,
        *,
        camera: str | None = None,
        started_at: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Incident | None:
        """Put an alert on the candidate's timeline; None when one of the same (candidate,
        kind, camera) is active already, or when it is dropped (see the module's rules)."""
        kind = AlertKind(kind)
        now = self._clock()
        onset = now if started_at is None else min(started_at, now)
        key: Key = (candidate_id, kind, camera)
        if key in self._active:
            return None
        # Claimed before the first await: parallel raises of one key make one incident.
        slot = self._active[key] = _Slot(self._new_id())
        try:
            where = await self._where(candidate_id, kind, onset, now)
            if where is None:
                self._release(key, slot)
                return None
            incident = self._incident(slot.id, candidate_id, kind, camera, onset, now, where)
            incident = replace(incident, detail=_bounded(detail))
            if kind in MOMENTS:
                incident = replace(incident, ended_at=onset)
                self._release(key, slot)
            await self._store.add(incident)
        except BaseException:
            self._release(key, slot)
            raise
        slot.incident = incident
        await self._record(Event.INCIDENT_RAISED, candidate_id, None, incident, now)
        await self._tell("raised", incident)
        if slot.ended is not None:  # ended while it was being stored
            await self._finish(incident, *slot.ended)
            return replace(incident, ended_at=slot.ended[0])
        return incident

    async def end_alert(
        self,
        candidate_id: str,
        kind: AlertKind,
        *,
        camera: str | None = None,
        ended_at: float | None = None,
    ) -> None:
        """The condition stopped: the active incident of this key gains ``ended_at`` (its
        decision, if any, stays). Nothing active: nothing happens."""
        key: Key = (candidate_id, AlertKind(kind), camera)
        slot = self._active.pop(key, None)
        if slot is None:
            return
        now = self._clock()
        at = now if ended_at is None else min(ended_at, now)
        if slot.incident is None:
            slot.ended = (at, "ended")  # the raise finishes it once stored
            return
        await self._finish(slot.incident, at, "ended")

    async def reconcile(self) -> int:
        """At start: no detector remembers what it saw, so end what was left active."""
        return await self._store.end_active(self._clock(), "server_restart")

    # -- decided by people -------------------------------------------------------------------

    async def dispose(
        self, who: Account, incident_id: str, decision: str, note: str, client: str
    ) -> Incident:
        """Confirm or dismiss an incident with a note: a proctor of its exam or the admin of
        the exam's unit only; audited. Deciding again replaces the decision (audited too)."""
        incident = await self._store.get(incident_id)
        if incident is None:
            raise NotFound("no such incident; reload the timeline")
        await self.check(who, incident.exam_id, client, "dispose_incident")
        if decision not in DECISIONS:
            raise InvalidInput(
                "the decision must be confirmed or dismissed",
                [{"field": "decision", "message": "must be one of confirmed, dismissed"}],
            )
        if not isinstance(note, str) or len(note.strip()) > MAX_NOTE:
            raise InvalidInput(
                f"the note must be text of at most {MAX_NOTE} characters",
                [{"field": "note", "message": f"must be text of at most {MAX_NOTE} characters"}],
            )
        now = self._clock()
        done = await self._store.dispose(incident_id, decision, who.id, now, note.strip())
        if done is None:
            raise NotFound("no such incident; reload the timeline")
        extra = {"decision": decision, "previous": incident.status}
        await self._record(Event.INCIDENT_DISPOSED, who.id, client, done, now, extra)
        await self._tell("disposed", done)
        return done

    async def timeline(
        self,
        who: Account,
        attempt_id: str | None = None,
        *,
        exam_id: str | None = None,
        candidate_id: str | None = None,
        client: str = "",
    ) -> list[Incident]:
        """An attempt's incidents (``attempt_id``), or a candidate's in an exam (``exam_id``
        and ``candidate_id``), or a whole exam's (``exam_id`` alone), by onset: for a proctor
        of the exam or the admin of its unit only."""
        if attempt_id is not None:
            attempt = await self._attempts.get(attempt_id)
            if attempt is None:
                await self.check(who, None, client, "incident_timeline")
                raise NotFound("no such answer")
            await self.check(who, attempt.exam_id, client, "incident_timeline")
            return await self._store.of_attempt(attempt_id)
        if exam_id is None:
            raise InvalidInput("say which answer, or which exam (and candidate)")
        await self.check(who, exam_id, client, "incident_timeline")
        if candidate_id is None:
            return await self._store.of_exam(exam_id)
        return await self._store.of_candidate(exam_id, candidate_id)

    async def described(self, incidents: list[Incident]) -> list[dict[str, Any]]:
        """Incidents as staff see them: :meth:`Incident.to_dict` with the candidate's name and
        the name and role of whoever decided (``None`` when unknown or undecided)."""
        names: dict[str, Account | None] = {}
        out = []
        for incident in incidents:
            body = incident.to_dict()
            for who, prefix in (
                (incident.candidate_id, "candidate"),
                (incident.disposed_by, "disposed_by"),
            ):
                found = None
                if who is not None:
                    if who not in names:
                        names[who] = await self._people.get(who)
                    found = names[who]
                body[f"{prefix}_name"] = None if found is None else found.name
                if prefix == "disposed_by":
                    body["disposed_by_role"] = None if found is None else found.role.value
            out.append(body)
        return out

    async def undecided(self, exam_id: str) -> dict[str, list[Incident]]:
        """The wall's part: each candidate's incidents awaiting a decision, oldest first
        (the caller has checked the viewer)."""
        out: dict[str, list[Incident]] = {}
        for incident in await self._store.undecided(exam_id):
            out.setdefault(incident.candidate_id, []).append(incident)
        return out

    async def undecided_of(self, exam_id: str, candidate_id: str) -> list[Incident]:
        return await self._store.undecided(exam_id, candidate_id)

    # -- inside --------------------------------------------------------------------------------

    async def check(self, who: Account, exam_id: str | None, client: str, what: str) -> Exam:
        """The exam, if ``who`` is a proctor of it or the admin of its unit; else refused
        (``Forbidden``, audited)."""
        if who.role is Role.UNIT_ADMIN and exam_id is not None:
            return await self._access.admin_exam(who, exam_id, client)
        if who.role is Role.PROCTOR and exam_id is not None:
            return await self._access.proctor_exam(who, exam_id, client)
        if who.role in (Role.UNIT_ADMIN, Role.PROCTOR):
            raise NotFound("no such answer")
        detail = {"what": what, "role": who.role.value, "exam_id": exam_id}
        await self._audit.record(Entry(Event.ACCESS_DENIED, who.id, client, detail, self._clock()))
        raise Forbidden("incidents are for the exam's proctors and its unit's admin")

    async def _where(
        self, candidate_id: str, kind: AlertKind, onset: float, now: float
    ) -> _Place | None:
        place = await self._place(candidate_id, onset, now)
        if place is None or not place.exam.monitoring.rule(kind).enabled:
            return None
        return place

    async def _place(self, candidate_id: str, onset: float, now: float) -> _Place | None:
        attempts = await self._attempts.of_candidate(candidate_id)
        live = [a for a in attempts if phase(a, now) in LIVE_PHASES]
        if live:
            attempt = max(live, key=lambda a: (a.recording_take is not None, _last(a)))
            exam = await self._exams.get(attempt.exam_id)
            if exam is None:
                return None
            take, offset = _position(attempt, onset, now)
            return _Place(exam, attempt, take, offset)
        for a in sorted(attempts, key=_last, reverse=True):
            exam = await self._exams.get(a.exam_id)
            if exam is not None and exam.is_open(now):
                return _Place(exam, None, None, None)
        return None

    def _incident(
        self,
        incident_id: str,
        candidate_id: str,
        kind: AlertKind,
        camera: str | None,
        onset: float,
        now: float,
        where: _Place,
    ) -> Incident:
        a = where.attempt
        return Incident(
            id=incident_id,
            exam_id=where.exam.id,
            candidate_id=candidate_id,
            kind=kind,
            camera=camera,
            raised_at=now,
            started_at=onset,
            attempt_id=None if a is None else a.id,
            question_id=None if a is None else a.question_id,
            take_id=None if where.take is None else where.take.id,
            take_offset_s=where.offset,
        )

    async def _finish(self, incident: Incident, at: float, reason: str) -> None:
        done = await self._store.end(incident.id, max(at, incident.started_at), reason)
        if done is not None:
            await self._tell("ended", done)

    def _release(self, key: Key, slot: _Slot) -> None:
        if self._active.get(key) is slot:
            del self._active[key]

    async def _record(
        self,
        event: Event,
        account_id: str,
        client: str | None,
        incident: Incident,
        now: float,
        extra: dict[str, Any] | None = None,
    ) -> None:
        detail = {
            "incident_id": incident.id,
            "exam_id": incident.exam_id,
            "candidate_id": incident.candidate_id,
            "attempt_id": incident.attempt_id,
            "kind": incident.kind.value,
            "camera": incident.camera,
            **(extra or {}),
        }
        await self._audit.record(Entry(event, account_id, client, detail, now))

    async def _tell(self, event: str, incident: Incident) -> None:
        for listener in self._listeners:
            try:
                await listener(event, incident)
            except Exception:
                log.exception("incident listener failed on %s of %s", event, incident.id)


def tile_part(undecided: list[Incident]) -> dict[str, Any]:
    """A wall tile's incidents: how many await a decision, and the newest few of them."""
    newest = sorted(undecided, key=lambda i: (i.started_at, i.raised_at), reverse=True)
    return {"open": len(undecided), "latest": [i.brief() for i in newest[:LATEST]]}


def _last(a: Attempt) -> float:
    """When the attempt last moved (for choosing the current one)."""
    times = [a.opened_at, a.entered_at, a.submitted_at, a.closed_at]
    if a.reading is not None:
        times.append(a.reading.began_at)
    for t in a.takes:
        times += [t.started_at, t.stopped_at]
    return max((t for t in times if t is not None), default=0.0)


def _position(a: Attempt, onset: float, now: float) -> tuple[AttemptTake | None, float | None]:
    """The take recording at the onset and the onset's offset into it; a take begun after
    the onset but recording now: its start (offset 0)."""
    for t in a.takes:
        if t.started_at <= onset and (t.stopped_at is None or onset < t.stopped_at):
            return t, round(onset - t.started_at, 3)
    take = a.recording_take
    if take is not None and take.started_at <= now:
        return take, 0.0
    return None, None


def _bounded(detail: dict[str, Any] | None) -> dict[str, Any]:
    """The detector's detail if it is small JSON; else a note that it was left out."""
    if not detail:
        return {}
    try:
        text = json.dumps(detail, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return {"left_out": "not JSON"}
    if len(text.encode()) > MAX_DETAIL_BYTES:
        return {"left_out": f"more than {MAX_DETAIL_BYTES} bytes"}
    loaded: dict[str, Any] = json.loads(text)
    return loaded

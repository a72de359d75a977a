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

The record is :mod:`exams.proctoring.incident`, what this service needs from outside
:mod:`exams.proctoring.incident_ports`, where an alert lands
:mod:`exams.proctoring.incident_place`, and a timeline with its names
:mod:`exams.proctoring.incident_description`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from exams.catalog.exam_ports import ExamSource
from exams.catalog.exam_rules import Exam
from exams.catalog.monitoring import AlertKind
from exams.identity.accounts import Account, Role
from exams.proctoring.incident import DECISIONS, MAX_NOTE, Incident
from exams.proctoring.incident_description import described
from exams.proctoring.incident_place import Place, place_of
from exams.proctoring.incident_ports import (
    CandidateAttempts,
    ExamAccess,
    IncidentListener,
    IncidentStore,
    People,
)
from exams.shared.errors import Forbidden, InvalidInput, NotFound
from exams.shared.ports import AuditLog, Clock, Entry, Event

__all__ = ["AlertKind", "Incidents"]

log = logging.getLogger(__name__)

MOMENTS = frozenset({AlertKind.PAGE_RELOADED})  # end as they are raised
MAX_DETAIL_BYTES = 2048
Key = tuple[str, AlertKind, str | None]


@dataclass(eq=False)
class _Slot:
    """A key's active incident; ``incident`` None while its raise is being stored."""

    id: str
    incident: Incident | None = None
    ended: tuple[float, str] | None = None  # an end that came while it was being stored


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
        """Incidents as staff see them, with the names behind the ids
        (:func:`exams.proctoring.incident_description.described`)."""
        return await described(incidents, self._people)

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
    ) -> Place | None:
        place = await place_of(self._attempts, self._exams, candidate_id, onset, now)
        if place is None or not place.exam.monitoring.rule(kind).enabled:
            return None
        return place

    def _incident(
        self,
        incident_id: str,
        candidate_id: str,
        kind: AlertKind,
        camera: str | None,
        onset: float,
        now: float,
        where: Place,
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

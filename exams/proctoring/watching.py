"""Who may watch whom live, how many at once, and the audit of every live view.

A proctor assigned to an exam, or the admin of the exam's unit, may watch a
candidate of that exam: one on the unit's admitted list, or one who has an
answer (attempt) of the exam. Everyone else is refused (``forbidden``), and
each refusal is audited; a candidate never watches anyone. An account holds
at most ``max_per_account`` live views at once: the count and the taking of
a place happen in one step with no ``await`` between them, so parallel opens
cannot all pass. Opening writes ``viewer_opened`` (who, whom, which exam,
from where); closing writes ``viewer_closed`` (until when, how long).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account, Role
from exams.shared.errors import Conflict, Forbidden, NotFound
from exams.shared.ports import AuditLog, Clock, Entry, Event

WATCHERS = frozenset({Role.PROCTOR, Role.UNIT_ADMIN})


class WatchedExams(Protocol):
    """Implemented by ``storage.exams.SqliteExams``."""

    async def get(self, exam_id: str) -> Exam | None: ...

    async def is_proctor(self, exam_id: str, account_id: str) -> bool: ...


class Candidates(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


class AdmittedUnits(Protocol):
    """Implemented by ``exams.admission.units.Units``."""

    async def admitted_units(self, account: Account) -> set[str]: ...


class ExamAttempts(Protocol):
    async def of_candidate(
        self, candidate_id: str, exam_id: str | None = None
    ) -> list[Attempt]: ...


@dataclass(frozen=True)
class Watch:
    """One live view: ``watcher_id`` watches ``candidate_id`` of ``exam_id`` since ``opened_at``."""

    id: str
    watcher_id: str
    candidate_id: str
    exam_id: str
    client: str
    opened_at: float


class Watching:
    def __init__(
        self,
        exams: WatchedExams,
        candidates: Candidates,
        units: AdmittedUnits,
        attempts: ExamAttempts,
        audit: AuditLog,
        clock: Clock,
        *,
        max_per_account: int,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._exams = exams
        self._candidates = candidates
        self._units = units
        self._attempts = attempts
        self._audit = audit
        self._clock = clock
        self._max = max_per_account
        self._new_id = new_id
        self._open: dict[str, Watch] = {}

    def held(self, account_id: str) -> int:
        return sum(1 for w in self._open.values() if w.watcher_id == account_id)

    def get(self, watch_id: str) -> Watch | None:
        return self._open.get(watch_id)

    async def open(self, who: Account, exam_id: str, candidate_id: str, client: str) -> Watch:
        """A new live view of ``candidate_id`` in ``exam_id``, audited; refusals audited too."""
        await self.check(who, exam_id, candidate_id, client)
        # From the count to the insert: no await, so parallel opens cannot all pass.
        if self.held(who.id) >= self._max:
            raise Conflict(f"you are watching {self._max} candidates already; close one view first")
        watch = Watch(self._new_id(), who.id, candidate_id, exam_id, client, self._clock())
        self._open[watch.id] = watch
        try:
            await self._audit.record(
                Entry(
                    Event.VIEWER_OPENED,
                    who.id,
                    client,
                    {"candidate_id": candidate_id, "exam_id": exam_id, "watch_id": watch.id},
                    watch.opened_at,
                )
            )
        except BaseException:
            del self._open[watch.id]
            raise
        return watch

    async def close(self, watch_id: str, reason: str = "closed") -> Watch | None:
        """End a live view (once); audited with its end and length."""
        watch = self._open.pop(watch_id, None)
        if watch is None:
            return None
        now = self._clock()
        detail = {
            "candidate_id": watch.candidate_id,
            "exam_id": watch.exam_id,
            "watch_id": watch.id,
            "reason": reason,
            "opened_at": watch.opened_at,
            "duration_s": round(max(0.0, now - watch.opened_at), 3),
        }
        await self._audit.record(
            Entry(Event.VIEWER_CLOSED, watch.watcher_id, watch.client, detail, now)
        )
        return watch

    async def check(self, who: Account, exam_id: str, candidate_id: str, client: str) -> Exam:
        """The exam, if ``who`` may watch ``candidate_id`` in it now; else a refusal, audited."""
        if who.role not in WATCHERS:
            raise await self._denied(who, client, exam_id, candidate_id, "role")
        exam = await self._exams.get(exam_id)
        if exam is None:
            raise NotFound("no such exam")
        if who.role is Role.PROCTOR:
            allowed = await self._exams.is_proctor(exam.id, who.id)
        else:
            allowed = who.unit_id is not None and who.unit_id == exam.unit_id
        if not allowed:
            raise await self._denied(who, client, exam_id, candidate_id, "not_assigned")
        if not await self._of_exam(candidate_id, exam):
            raise await self._denied(who, client, exam_id, candidate_id, "not_a_candidate")
        return exam

    async def _of_exam(self, candidate_id: str, exam: Exam) -> bool:
        candidate = await self._candidates.get(candidate_id)
        if candidate is None or candidate.role is not Role.CANDIDATE:
            return False
        if await self._attempts.of_candidate(candidate_id, exam.id):
            return True
        return exam.unit_id in await self._units.admitted_units(candidate)

    async def _denied(
        self, who: Account, client: str, exam_id: str, candidate_id: str, why: str
    ) -> Forbidden:
        detail = {
            "what": "watch_candidate",
            "role": who.role.value,
            "exam_id": exam_id,
            "candidate_id": candidate_id,
            "why": why,
        }
        await self._audit.record(Entry(Event.ACCESS_DENIED, who.id, client, detail, self._clock()))
        if who.role is Role.CANDIDATE:
            return Forbidden("candidates cannot watch anyone; live views are for proctors")
        if why == "not_a_candidate":
            return Forbidden("this person is not a candidate of this exam")
        if who.role is Role.PROCTOR:
            return Forbidden("this exam is not assigned to you; ask its unit to assign you")
        return Forbidden("you can watch only the exams of your own admission unit")

"""What the incident service needs from outside: where incidents are kept, the candidates'
answers, people's names and the exams' access rules (each implemented elsewhere)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from exams.catalog import exam_ports
from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account
from exams.proctoring.incident import Incident


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

"""The ports of the exam service: what it needs of storage and of the media layer.

``storage.attempts.SqliteAttempts`` and ``storage.exams.SqliteExams`` implement
the repositories; ``exams.catalog.takes.TakeService`` is :class:`TakeControl` and
``storage.takes.SqliteTakes`` is :class:`TakeRecords`.
"""

from __future__ import annotations

from typing import Protocol

from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take, TakeListener


class AttemptRepository(Protocol):
    async def save(self, attempt: Attempt, now: float) -> None: ...

    async def get(self, attempt_id: str) -> Attempt | None: ...

    async def find(self, exam_id: str, question_id: str, candidate_id: str) -> Attempt | None: ...

    async def of_candidate(
        self, candidate_id: str, exam_id: str | None = None
    ) -> list[Attempt]: ...

    async def of_exam(self, exam_id: str) -> list[Attempt]: ...

    async def unsettled(self) -> list[Attempt]: ...

    async def any_for_exam(self, exam_id: str) -> bool: ...


class ExamSource(Protocol):
    async def get(self, exam_id: str) -> Exam | None: ...


class CandidateAttempts(Protocol):
    """A candidate's attempts (all, or in one exam): what the proctoring services read."""

    async def of_candidate(
        self, candidate_id: str, exam_id: str | None = None
    ) -> list[Attempt]: ...


class TakeControl(Protocol):
    """What the runner needs of :class:`exams.catalog.takes.TakeService`."""

    async def start(
        self,
        owner: str,
        session_id: str | None,
        purpose: str,
        *,
        limit_s: float | None = None,
        attempt_id: str | None = None,
        started_at: float | None = None,
    ) -> Take: ...

    async def stop(
        self, take_id: str, reason: str = "stopped", owner: str | None = None
    ) -> Take: ...

    async def discard(self, take_id: str) -> Take: ...

    def add_listener(self, listener: TakeListener) -> None: ...


class TakeRecords(Protocol):
    async def get(self, take_id: str) -> Take | None: ...

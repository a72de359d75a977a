"""Who reaches an exam: the one decision every exam route asks.

A candidate reaches an exam when they have done the whole admission journey
(``403 step_required``) and the exam belongs to the unit they chose (``404``).
The journey counts the chosen unit only while that unit's admitted list holds
the candidate *now* (:meth:`exams.admission.journey.Journey.progress`): a re-import that
removes them sends them back to choosing a unit, and every exam route, upload,
playback and second-camera scan is refused with ``step_required`` whose
``details.reason`` is ``removed_from_admitted_list``.

Real-person verification for the exam comes on top, where a route needs it
(:meth:`exams.answering.answering.Answering.exam_for`).
"""

from __future__ import annotations

from typing import Protocol

from exams.admission.journey import Progress, Step
from exams.catalog.exam_ports import ExamSource
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account
from exams.identity.verification import parse_scope
from exams.shared.errors import NotFound

LOGIN = "login"


class JourneyGate(Protocol):
    async def require(self, account: Account, step: Step) -> Progress: ...


class AccountSource(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


class ExamAccess:
    def __init__(self, journey: JourneyGate, exams: ExamSource, accounts: AccountSource) -> None:
        self._journey = journey
        self._exams = exams
        self._accounts = accounts

    async def unit_of(self, account: Account) -> str:
        """The unit whose exams the candidate reaches now."""
        progress = await self._journey.require(account, Step.EXAMS)
        if progress.unit_id is None:  # the journey cannot reach EXAMS without a unit
            raise NotFound("choose your admission unit first")
        return progress.unit_id

    async def exam(self, account: Account, exam_id: str) -> Exam:
        """The exam, if the candidate reaches it now."""
        unit_id = await self.unit_of(account)
        exam = await self._exams.get(exam_id)
        if exam is None or exam.unit_id != unit_id:
            raise NotFound("no such exam in your admission unit")
        return exam

    async def exam_of(self, candidate_id: str, exam_id: str) -> Exam:
        """The same decision for a candidate known by id (a take's or an attempt's owner)."""
        account = await self._accounts.get(candidate_id)
        if account is None:
            raise NotFound("no such candidate")
        return await self.exam(account, exam_id)

    async def verification_scope(self, account: Account, scope: str) -> str:
        """A scope real-person verification (and its manual review) may be asked for:
        ``login``, or ``exam:<id>`` of an exam the candidate reaches now. Anything else is
        refused, so nobody makes up scopes to multiply attempts or review photos."""
        scope = parse_scope(scope)
        if scope != LOGIN:
            await self.exam(account, scope.removeprefix("exam:"))
        return scope

"""A fair retake (issue #18, M5): a formal take damaged by the system grants one more.

"A recording interrupted by network or power loss may be recorded again" (M5). When a
formal take is stored with its quality report (``Take.quality``) and the exam's
:class:`~exams.catalog.take_quality.RetakeRule` finds damage in it (more than 2 s lost,
below 15 fps for more than 5 s, no audio: by default), the attempt gets one extra formal
take beyond the question's ``formal_count`` (:class:`~exams.catalog.attempts.Retake`),
the candidate is told why (the attempt's JSON lists it) and the audit log says so
(``retake_granted``, with the take and the reasons).

Decisions:

- One extra per damaged formal take, at most ``rule.max_extra`` per question (2 by
  default): the extra take may be damaged too and grant again, up to the cap.
- Rehearsals never grant (they are practice); nor does an auto-submit question (its one
  take is submitted as soon as it is stored; the report still tells the university).
- A take damaged once grants once, whatever happens: the step runs under the attempt's
  lock (:meth:`exams.answering.attempt_runner.AttemptRunner.run`), skips a take the attempt
  already holds a grant for, and claims the take in the ledger (a unique key per take:
  :class:`RetakeLedger`), so two stores of the same take, on two nodes, grant and audit
  once. A claim already made (a crash between the claim and the save) is applied without
  a second audit entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from exams.catalog.attempts import Attempt, Retake, TakeKind, online_settings
from exams.catalog.exam_rules import Exam
from exams.catalog.take_quality import Damage, damage
from exams.shared.errors import NotFound
from exams.shared.ports import AuditLog, Entry, Event


@dataclass(frozen=True)
class RetakeGrant:
    """What the ledger keeps of a grant: one row per damaged take."""

    take_id: str
    attempt_id: str
    candidate_id: str
    damage: tuple[Damage, ...]
    granted_at: float


class RetakeLedger(Protocol):
    async def claim(self, grant: RetakeGrant) -> bool:
        """Record ``grant`` unless its take has one already: True for the first claim."""
        ...


# Tells the candidate's pages: ``notice(candidate_id, body)``, once the grant is saved.
Notice = Callable[[str, dict[str, Any]], Awaitable[None]]


def retake_damage(a: Attempt, exam: Exam, take_id: str, quality: Any) -> list[Damage]:
    """The damage that grants an extra formal take for ``take_id`` now, or ``[]``: not a
    finished formal take of ``a``, already granted, the cap reached, an auto-submit
    question, or nothing the exam's rule counts."""
    try:
        take = a.take(take_id)
    except NotFound:
        return []
    s = online_settings(a, exam)
    rule = exam.retake
    if take.kind is not TakeKind.FORMAL or take.recording or s.auto_submit:
        return []
    if a.submitted or any(r.take_id == take_id for r in a.retakes):
        return []
    if len(a.retakes) >= rule.max_extra:
        return []
    return damage(quality, rule)


def grant(a: Attempt, take_id: str, found: list[Damage], now: float) -> Attempt:
    """The attempt with one more formal take, for ``take_id``'s ``found`` damage."""
    return replace(a, retakes=(*a.retakes, Retake(take_id, tuple(found), now)))


class Retakes:
    """Grants, records and audits the extra take; the runner calls :meth:`apply` inside a
    step (under the attempt's lock) once a take of the attempt is stored, and
    :meth:`announce` after every run."""

    def __init__(self, ledger: RetakeLedger, audit: AuditLog, notice: Notice | None = None) -> None:
        self._ledger = ledger
        self._audit = audit
        self._notice = notice
        self._unsaid: dict[str, list[Retake]] = {}  # attempt id -> grants not yet told

    async def announce(self, a: Attempt) -> None:
        """After a run (the attempt saved, its lock let go): tell the candidate's pages of
        the grants made in it (``retake_granted``), so a page that loaded the attempt
        before the grant learns of it."""
        told = self._unsaid.pop(a.id, [])
        if self._notice is None:
            return
        for r in told:
            if any(x.take_id == r.take_id for x in a.retakes):
                body = {
                    "attempt_id": a.id,
                    "take_id": r.take_id,
                    "damage": [d.to_dict() for d in r.damage],
                }
                await self._notice(a.candidate_id, body)

    async def apply(
        self, a: Attempt, exam: Exam, take_id: str, quality: Any, now: float
    ) -> Attempt:
        found = retake_damage(a, exam, take_id, quality)
        if not found:
            return a
        claim = RetakeGrant(take_id, a.id, a.candidate_id, tuple(found), now)
        if await self._ledger.claim(claim):
            detail = {
                "exam_id": a.exam_id,
                "question_id": a.question_id,
                "attempt_id": a.id,
                "take_id": take_id,
                "reasons": [d.text for d in found],
                "damage": [d.to_dict() for d in found],
                "extra": len(a.retakes) + 1,
                "max_extra": exam.retake.max_extra,
            }
            await self._audit.record(Entry(Event.RETAKE_GRANTED, a.candidate_id, None, detail, now))
        granted = grant(a, take_id, found, now)
        self._unsaid.setdefault(a.id, []).append(granted.retakes[-1])
        return granted

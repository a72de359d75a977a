"""Exams as a unit sets them up: create, edit, proctors; and who may read which exam.

A unit admin manages only the exams of their own unit (any other answers
``403``, and the refusal is audited). Settings are checked by the domain
(:meth:`Exam.from_dict`), which reports every bad field at once. Once a
candidate has started an exam, only its texts (title, instructions, time
requirements) may change: its times and questions are what the candidates'
attempts and timers were computed from. A proctor reads only the exams
assigned to them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from exams.catalog.exam_rules import Exam
from exams.catalog.filetypes import FORMATS
from exams.catalog.questions import OfflineSettings, Question
from exams.identity.accounts import Account, Role
from exams.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from exams.shared.fields import Problems
from exams.shared.personal import normalise_phone
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import RateLimiter, Window, take_all

# What may change once candidates started: the texts, and the monitoring thresholds (#13).
TEXT_FIELDS = ("title", "instructions", "time_requirements", "monitoring")
PROCTOR_LOOKUPS = Window(60, 3600)  # proctor assignments per unit admin an hour


class ExamRepository(Protocol):
    async def save(self, exam: Exam, now: float) -> None: ...

    async def get(self, exam_id: str) -> Exam | None: ...

    async def for_unit(self, unit_id: str) -> list[Exam]: ...

    async def for_proctor(self, account_id: str) -> list[Exam]: ...

    async def device_check_required(self, unit_id: str) -> bool: ...

    async def assign_proctor(self, exam_id: str, account_id: str, now: float) -> None: ...

    async def unassign_proctor(self, exam_id: str, account_id: str) -> bool: ...

    async def proctors(self, exam_id: str) -> list[tuple[str, float]]: ...

    async def is_proctor(self, exam_id: str, account_id: str) -> bool: ...


class AccountLookup(Protocol):
    async def get(self, account_id: str) -> Account | None: ...

    async def by_phone(self, phone: str) -> Account | None: ...


class StartedExams(Protocol):
    async def any_for_exam(self, exam_id: str) -> bool: ...


class ExamCatalog:
    def __init__(
        self,
        repo: ExamRepository,
        started: StartedExams,
        accounts: AccountLookup,
        audit: AuditLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
        *,
        limiter: RateLimiter,
    ) -> None:
        self._repo = repo
        self._limiter = limiter
        self._started = started
        self.accounts = accounts
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    async def get(self, exam_id: str) -> Exam | None:
        return await self._repo.get(exam_id)

    async def for_unit(self, unit_id: str) -> list[Exam]:
        return await self._repo.for_unit(unit_id)

    async def device_check_required(self, unit_id: str) -> bool:
        """The journey's hook (M2.5): skipped when every exam of the unit is offline-only."""
        return await self._repo.device_check_required(unit_id)

    # -- unit admins -----------------------------------------------------------------------

    async def of_unit(self, admin: Account, client: str) -> list[Exam]:
        if admin.role is not Role.UNIT_ADMIN or admin.unit_id is None:
            raise await self._denied(admin, client, "list_exams", None)
        return await self._repo.for_unit(admin.unit_id)

    async def admin_exam(self, admin: Account, exam_id: str, client: str) -> Exam:
        """The exam, if ``admin`` manages its unit."""
        exam = await self._repo.get(exam_id)
        if exam is None:
            raise NotFound("no such exam")
        if admin.role is not Role.UNIT_ADMIN or admin.unit_id != exam.unit_id:
            raise await self._denied(admin, client, "manage_exam", exam)
        return exam

    async def create(self, admin: Account, data: dict[str, Any], client: str) -> Exam:
        if admin.role is not Role.UNIT_ADMIN or admin.unit_id is None:
            raise await self._denied(admin, client, "create_exam", None)
        exam = Exam.from_dict({**data, "id": self._new_id(), "unit_id": admin.unit_id})
        check_formats(exam)
        await self._repo.save(exam, self._clock())
        return exam

    async def replace(
        self, admin: Account, exam_id: str, data: dict[str, Any], client: str
    ) -> Exam:
        old = await self.admin_exam(admin, exam_id, client)
        new = Exam.from_dict({**data, "id": old.id, "unit_id": old.unit_id})
        return await self._save_edit(old, new)

    async def put_question(
        self, admin: Account, exam_id: str, data: dict[str, Any], client: str
    ) -> Exam:
        """Add a question, or replace the one with the same id."""
        old = await self.admin_exam(admin, exam_id, client)
        question = Question.from_dict(data)
        kept = [q.to_dict() for q in old.questions if q.id != question.id]
        new = Exam.from_dict({**old.to_dict(), "questions": [*kept, question.to_dict()]})
        return await self._save_edit(old, new)

    async def remove_question(
        self, admin: Account, exam_id: str, question_id: str, client: str
    ) -> Exam:
        old = await self.admin_exam(admin, exam_id, client)
        old.question(question_id)
        new = replace(old, questions=tuple(q for q in old.questions if q.id != question_id))
        return await self._save_edit(old, new)

    async def _save_edit(self, old: Exam, new: Exam) -> Exam:
        check_formats(new)
        texts = {name: getattr(new, name) for name in TEXT_FIELDS}
        if replace(old, **texts) != new and await self._started.any_for_exam(old.id):
            changed = [
                name
                for name in ("opens_at", "closes_at", "upload_grace_s", "questions")
                if getattr(old, name) != getattr(new, name)
            ]
            raise Conflict(
                "candidates have started this exam: only its title, instructions, time "
                "requirements and monitoring thresholds can change now",
                {"changed": changed},
            )
        await self._repo.save(new, self._clock())
        return new

    async def proctors(self, admin: Account, exam_id: str, client: str) -> list[dict[str, Any]]:
        exam = await self.admin_exam(admin, exam_id, client)
        out = []
        for account_id, assigned_at in await self._repo.proctors(exam.id):
            who = await self.accounts.get(account_id)
            if who is not None:
                out.append({**person(who), "assigned_at": assigned_at})
        return out

    async def assign(
        self,
        admin: Account,
        exam_id: str,
        client: str,
        *,
        phone: str | None = None,
        account_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Assign a proctor to the exam, named by phone number or account id."""
        exam = await self.admin_exam(admin, exam_id, client)
        if (phone is None) == (account_id is None):
            raise InvalidInput(
                "name the proctor by phone or by account_id (one of them)",
                {"fields": {"phone": "give phone or account_id"}},
            )
        # Each look-up is counted before it is made (an admin may not probe phone numbers
        # for the accounts behind them), and every refusal reads the same: "no such account"
        # and "an account that is not a proctor" cannot be told apart.
        await take_all(
            self._limiter,
            [(f"proctor-lookup:{admin.id}", PROCTOR_LOOKUPS)],
            self._clock(),
            "too many proctor look-ups",
        )
        if phone is not None:
            who = await self.accounts.by_phone(normalise_phone(phone))
        else:
            who = await self.accounts.get(account_id or "")
        if who is None or who.role is not Role.PROCTOR:
            await self._audit.record(
                Entry(
                    Event.PROCTOR_LOOKUP_REFUSED,
                    admin.id,
                    client,
                    {"exam_id": exam.id, "by": "phone" if phone is not None else "account_id"},
                    self._clock(),
                )
            )
            raise NotFound(
                "no proctor account has this phone number or id: the proctor registers, and the "
                "operator gives the account the proctor role (examcast grant PHONE proctor)"
            )
        await self._repo.assign_proctor(exam.id, who.id, self._clock())
        return await self.proctors(admin, exam_id, client)

    async def unassign(
        self, admin: Account, exam_id: str, account_id: str, client: str
    ) -> list[dict[str, Any]]:
        exam = await self.admin_exam(admin, exam_id, client)
        if not await self._repo.unassign_proctor(exam.id, account_id):
            raise NotFound("this account is not a proctor of this exam")
        return await self.proctors(admin, exam_id, client)

    # -- proctors --------------------------------------------------------------------------

    async def proctor_exams(self, proctor: Account) -> list[Exam]:
        return await self._repo.for_proctor(proctor.id)

    async def proctor_exam(self, proctor: Account, exam_id: str, client: str) -> Exam:
        exam = await self._repo.get(exam_id)
        if exam is None:
            raise NotFound("no such exam")
        if proctor.role is not Role.PROCTOR or not await self._repo.is_proctor(exam.id, proctor.id):
            raise await self._denied(proctor, client, "proctor_exam", exam)
        return exam

    async def _denied(self, who: Account, client: str, what: str, exam: Exam | None) -> Forbidden:
        detail = {"what": what, "role": who.role.value}
        if exam is not None:
            detail |= {"exam_id": exam.id, "unit_id": exam.unit_id}
        await self._audit.record(Entry(Event.ACCESS_DENIED, who.id, client, detail, self._clock()))
        if who.role is Role.PROCTOR:
            return Forbidden("this exam is not assigned to you; ask its unit to assign you")
        return Forbidden("you can manage only the exams of the admission unit you belong to")


def check_formats(exam: Exam) -> None:
    """Every file format a question accepts must be one the server can check by its bytes
    (:mod:`exams.catalog.filetypes`), of a kind the question accepts; else uploads could never
    pass."""
    problems = Problems()
    for i, q in enumerate(exam.questions):
        s = q.settings
        if isinstance(s, OfflineSettings):
            kinds = {k.value for k in s.files.kinds}
            _formats(problems, f"questions[{i}].files.formats", s.files.formats, kinds)
        else:
            for j, m in enumerate(s.materials):
                if not m.is_text:
                    where = f"questions[{i}].materials[{j}].formats"
                    _formats(problems, where, m.formats, {m.kind.value})
    problems.raise_if_any("the exam")


def _formats(problems: Problems, where: str, formats: tuple[str, ...], kinds: set[str]) -> None:
    for k, fmt in enumerate(formats):
        known = FORMATS.get(fmt)
        if known is None:
            problems.add(
                f"{where}[{k}]",
                f"the server cannot check .{fmt} files by their content; use one of "
                + ", ".join(sorted(f for f, t in FORMATS.items() if t.kind in kinds)),
            )
        elif known.kind not in kinds:
            problems.add(
                f"{where}[{k}]",
                f".{fmt} holds {known.kind}; this accepts only "
                + " or ".join(sorted(kinds))
                + " files",
            )


def person(who: Account) -> dict[str, Any]:
    return {"account_id": who.id, "name": who.name, "phone": who.phone}

"""Staff invitations by phone number: a unit admin invites proctors for an exam of the
unit; an operator invites a unit's admins.

An invitation is recorded and an SMS tells the phone what it is for. It applies
when that phone next passes a password check (logs in, or registers and logs
in): the account gets the role (and a proctor the exam), before the two-step
log-in staff need is asked for. So the inviter's answer is the same whether the
phone has an account or not, and nothing about an existing account changes
until its owner acts: the invitation is not a way to learn who has an account.

It applies to a candidate account, or to an account that already has the role
(a proctor gets one more exam; a unit admin is not moved to another unit). Any
other staff account is left as it is and the invitation is marked ``declined``
(the operator can still ``examcast grant``). Every step is audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from exams.accounts import Account, Role
from exams.audit import AuditLog, Entry, Event
from exams.errors import Forbidden, InvalidInput, NotFound
from exams.exams import Exam
from exams.personal import mask_phone, normalise_phone
from exams.sms import SmsSender
from exams.takes import Clock
from exams.throttle import RateLimiter, Window, take_all
from exams.units import Unit

TTL_S = 14 * 24 * 3600.0  # an invitation not used within two weeks lapses
INVITES = Window(30, 3600)  # invitations (each an SMS) per inviter an hour


@dataclass(frozen=True)
class Invitation:
    id: str
    phone: str
    role: Role
    unit_id: str
    exam_id: str | None
    invited_by: str
    created_at: float
    expires_at: float
    state: str = "pending"  # pending, applied, declined, cancelled
    account_id: str | None = None
    decided_at: float | None = None

    def describe(self, now: float) -> dict[str, Any]:
        state = "expired" if self.state == "pending" and now >= self.expires_at else self.state
        return {
            "invitation_id": self.id,
            "phone": self.phone,
            "role": self.role.value,
            "unit_id": self.unit_id,
            "exam_id": self.exam_id,
            "state": state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
        }


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...

    async def pending_for(self, phone: str, now: float) -> list[Invitation]: ...

    async def decide(self, invitation_id: str, state: str, account_id: str, at: float) -> bool:
        """Mark a *pending* invitation; False if it was not pending any more (atomic)."""
        ...

    async def cancel(self, invitation_id: str, at: float) -> bool: ...

    async def get(self, invitation_id: str) -> Invitation | None: ...

    async def of_unit(self, unit_id: str, exam_id: str | None = None) -> list[Invitation]: ...


class StaffAccounts(Protocol):
    async def get(self, account_id: str) -> Account | None: ...

    async def set_role(self, account_id: str, role: Role, unit_id: str | None) -> None: ...


class ExamPorts(Protocol):
    async def get(self, exam_id: str) -> Exam | None: ...

    async def assign_proctor(self, exam_id: str, account_id: str, now: float) -> None: ...


class UnitNames(Protocol):
    async def get(self, unit_id: str) -> Unit | None: ...


class Invitations:
    def __init__(
        self,
        repo: InvitationRepository,
        accounts: StaffAccounts,
        exams: ExamPorts,
        units: UnitNames,
        sms: SmsSender,
        limiter: RateLimiter,
        audit: AuditLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._repo = repo
        self._accounts = accounts
        self._exams = exams
        self._units = units
        self._sms = sms
        self._limiter = limiter
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    # -- inviting -------------------------------------------------------------------------

    async def invite_proctor(
        self, admin: Account, exam_id: str, raw_phone: str, client: str
    ) -> list[dict[str, Any]]:
        """A proctor for an exam of the admin's unit; the exam's invitations."""
        exam = await self._admin_exam(admin, exam_id, client)
        what = f"{exam.title}的监考员"
        await self._invite(admin, raw_phone, Role.PROCTOR, exam.unit_id, exam.id, what, client)
        return await self.of_exam(admin, exam_id, client)

    async def invite_unit_admin(
        self, operator: Account, unit_id: str, raw_phone: str, client: str
    ) -> list[dict[str, Any]]:
        """An admin of ``unit_id`` (operators only); the unit's invitations."""
        self._operator(operator)
        unit = await self._units.get(unit_id)
        if unit is None:
            raise NotFound("no such admission unit")
        await self._invite(
            operator, raw_phone, Role.UNIT_ADMIN, unit_id, None, f"{unit.name}的管理员", client
        )
        return await self.of_unit(operator, unit_id)

    async def _invite(
        self,
        by: Account,
        raw_phone: str,
        role: Role,
        unit_id: str,
        exam_id: str | None,
        what: str,
        client: str,
    ) -> None:
        try:
            phone = normalise_phone(raw_phone)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, {"fields": {"phone": exc.message}}) from exc
        now = self._clock()
        await take_all(self._limiter, [(f"invite:{by.id}", INVITES)], now, "too many invitations")
        invitation = Invitation(
            self._new_id(), phone, role, unit_id, exam_id, by.id, now, now + TTL_S
        )
        await self._repo.add(invitation)
        await self._sms.send(
            phone,
            f"【examcast】您被邀请担任{what}。请用本手机号登录（没有账号请先注册）examcast，"
            "邀请会自动生效；14 天内有效。",
        )
        detail: dict[str, Any] = {"invitation_id": invitation.id, "phone": mask_phone(phone)}
        detail |= {"role": role.value}
        detail |= {"unit_id": unit_id, "exam_id": exam_id}
        await self._audit.record(Entry(Event.STAFF_INVITED, by.id, client, detail, now))

    # -- reading and cancelling -------------------------------------------------------------

    async def of_exam(self, admin: Account, exam_id: str, client: str) -> list[dict[str, Any]]:
        exam = await self._admin_exam(admin, exam_id, client)
        now = self._clock()
        return [i.describe(now) for i in await self._repo.of_unit(exam.unit_id, exam.id)]

    async def of_unit(self, operator: Account, unit_id: str) -> list[dict[str, Any]]:
        self._operator(operator)
        now = self._clock()
        found = await self._repo.of_unit(unit_id)
        return [i.describe(now) for i in found if i.role is Role.UNIT_ADMIN]

    async def cancel_for_exam(
        self, admin: Account, exam_id: str, invitation_id: str, client: str
    ) -> list[dict[str, Any]]:
        exam = await self._admin_exam(admin, exam_id, client)
        found = await self._repo.get(invitation_id)
        if found is None or found.exam_id != exam.id:
            raise NotFound("this exam has no such invitation")
        if not await self._repo.cancel(invitation_id, self._clock()):
            raise NotFound("this invitation is no longer pending")
        return await self.of_exam(admin, exam_id, client)

    # -- applying (at a password check) ------------------------------------------------------

    async def apply(self, account: Account, client: str) -> Account:
        """Apply the phone's pending invitations to ``account``; the account as it is now.
        Two log-ins at once apply each invitation once (``decide`` is atomic), and both
        return the account as stored afterwards."""
        now = self._clock()
        pending = await self._repo.pending_for(account.phone, now)
        for inv in pending:
            fits = account.role in (Role.CANDIDATE, inv.role) and not (
                account.role is Role.UNIT_ADMIN and account.unit_id != inv.unit_id
            )
            state = "applied" if fits else "declined"
            if not await self._repo.decide(inv.id, state, account.id, now):
                continue
            if fits:
                if account.role is not inv.role:
                    unit = inv.unit_id if inv.role is Role.UNIT_ADMIN else None
                    await self._accounts.set_role(account.id, inv.role, unit)
                    account = replace(account, role=inv.role, unit_id=unit)
                if inv.exam_id is not None:
                    await self._exams.assign_proctor(inv.exam_id, account.id, now)
            detail: dict[str, Any] = {"invitation_id": inv.id, "role": inv.role.value}
            detail |= {"state": state}
            detail |= {"unit_id": inv.unit_id, "exam_id": inv.exam_id}
            await self._audit.record(
                Entry(Event.INVITATION_DECIDED, account.id, client, detail, now)
            )
        # Read back, always: a log-in at the same moment may have applied them while this one
        # checked its password (the gate that follows must see the role as it is now).
        return await self._accounts.get(account.id) or account

    # -- who may ---------------------------------------------------------------------------

    async def _admin_exam(self, admin: Account, exam_id: str, client: str) -> Exam:
        exam = await self._exams.get(exam_id)
        if exam is None:
            raise NotFound("no such exam")
        if admin.role is not Role.UNIT_ADMIN or admin.unit_id != exam.unit_id:
            detail = {"what": "invite_proctor", "exam_id": exam.id, "role": admin.role.value}
            await self._audit.record(
                Entry(Event.ACCESS_DENIED, admin.id, client, detail, self._clock())
            )
            raise Forbidden("you can manage only the exams of the admission unit you belong to")
        return exam

    @staticmethod
    def _operator(who: Account) -> None:
        if who.role is not Role.OPERATOR:
            raise Forbidden("only an operator manages units and their admins")

"""Staff invitations by phone number: a unit admin invites proctors for an exam of the
unit; an operator invites a unit's admins.

An invitation is recorded and an SMS tells the phone what it is for. It never
applies by itself: the holder of that phone logs in (or registers and logs in),
sees the invitation and accepts or declines it. Accepting applies the role (and a
proctor the exam) in one step that only a *pending*, unexpired invitation passes,
so parallel accepts apply it once; a changed role ends the account's sessions, so
the next log-in asks for the two-step log-in staff need. So the inviter's answer
is the same whether the phone has an account or not, and nothing about an
existing account changes until its owner chooses: the invitation is neither a
way to learn who has an account nor a way to take one over.

Accepting is refused to an account that has started or submitted any exam answer
(a candidate must not lose their candidacy by a click), and to another kind of
staff (a proctor gets one more exam; a unit admin is not moved to another unit;
the operator can still ``examcast grant``). Refusals leave the invitation pending
(the inviter learns nothing from them); every decision is audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from exams.admission.units import Unit
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account, Role
from exams.identity.sms import SmsSender
from exams.shared.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from exams.shared.personal import mask_phone, normalise_phone
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import RateLimiter, Window, take_all

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

    async def accept(
        self, invitation: Invitation, account: Account, grant: Grant, at: float
    ) -> bool:
        """In one transaction: mark the invitation applied if it is still pending and not
        expired at ``at``, the account still has the role and unit it had when read, and it
        has no exam answer; then give it ``grant`` (the role, unit and exam). False, and
        nothing changed, if any of that no longer holds."""
        ...

    async def answered(self, account_id: str) -> bool:
        """Whether the account has started (or submitted) an answer to any exam."""
        ...

    async def cancel(self, invitation_id: str, at: float) -> bool: ...

    async def get(self, invitation_id: str) -> Invitation | None: ...

    async def of_unit(self, unit_id: str, exam_id: str | None = None) -> list[Invitation]: ...


@dataclass(frozen=True)
class Grant:
    """What accepting gives the account: a role, a unit admin's unit, a proctor's exam."""

    role: Role
    unit_id: str | None
    exam_id: str | None


class StaffAccounts(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


class ExamPorts(Protocol):
    async def get(self, exam_id: str) -> Exam | None: ...


class SessionEnder(Protocol):
    async def revoke_all(self, account_id: str) -> int: ...


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
        sessions: SessionEnder,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._repo = repo
        self._sessions = sessions
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
        what = f"考试《{exam.title}》的监考人员"
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
            operator, raw_phone, Role.UNIT_ADMIN, unit_id, None, f"{unit.name}的管理人员", client
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
            f"【examcast】您被邀请担任{what}。请用本手机号登录 examcast（没有账号请先注册），"
            "在页面上查看并接受邀请；不接受则什么都不会改变。14 天内有效。",
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

    # -- the invited person's side -----------------------------------------------------------

    async def mine(self, account: Account) -> list[dict[str, Any]]:
        """The pending, unexpired invitations to this account's phone, as the invited
        person sees them: what for, from which unit, until when (never the inviter's name)."""
        found = await self._repo.pending_for(account.phone, self._clock())
        return [await self._offer(inv) for inv in found]

    async def accept(self, account: Account, invitation_id: str, client: str) -> dict[str, Any]:
        """Apply the invitation to ``account``; ``log_in_again`` when its role changed (every
        session of the account has ended then)."""
        inv = await self._yours(account, invitation_id)
        now = self._clock()
        current = await self._accounts.get(account.id) or account
        grant = await self._acceptable(current, inv, now)
        if not await self._repo.accept(inv, current, grant, now):
            # Something changed since it was read (a parallel accept, an answer begun, a new
            # role): say which, from the state as it is now.
            again = await self._yours(account, invitation_id)
            await self._acceptable(await self._accounts.get(account.id) or current, again, now)
            raise Conflict("this invitation was answered already", {"reason": "not_pending"})
        changed = current.role is not grant.role
        revoked = await self._sessions.revoke_all(account.id) if changed else 0
        await self._decided(account, inv, "applied", client, now, revoked=revoked)
        return {
            "role": grant.role.value,
            "unit_id": grant.unit_id,
            "exam_id": grant.exam_id,
            "log_in_again": changed,
        }

    async def decline(self, account: Account, invitation_id: str, client: str) -> None:
        inv = await self._yours(account, invitation_id)
        now = self._clock()
        self._open(inv, now)
        if not await self._repo.decide(inv.id, "declined", account.id, now):
            raise Conflict("this invitation was answered already", {"reason": "not_pending"})
        await self._decided(account, inv, "declined", client, now)

    async def _yours(self, account: Account, invitation_id: str) -> Invitation:
        found = await self._repo.get(invitation_id)
        if found is None or found.phone != account.phone:
            raise NotFound("you have no such invitation")  # another phone's: not yours to see
        return found

    @staticmethod
    def _open(inv: Invitation, now: float) -> None:
        if inv.state != "pending":
            raise Conflict(f"this invitation was {inv.state} already", {"reason": "not_pending"})
        if now >= inv.expires_at:
            raise Gone(
                "this invitation has expired: ask whoever invited you for a new one",
                {"reason": "expired"},
            )

    async def _acceptable(self, account: Account, inv: Invitation, now: float) -> Grant:
        self._open(inv, now)
        if account.role not in (Role.CANDIDATE, inv.role) or (
            account.role is Role.UNIT_ADMIN and account.unit_id != inv.unit_id
        ):
            raise Conflict(
                f"this account is already {account.role.value} staff and cannot take this "
                "role too; decline the invitation, or ask the operator",
                {"reason": "other_staff", "role": account.role.value},
            )
        if await self._repo.answered(account.id):
            raise Conflict(
                "this account has started answering an exam, so it stays a candidate's "
                "account: accepting would end your candidacy. Decline the invitation, or "
                "ask whoever invited you to invite a phone number that has no exam answers",
                {"reason": "answers_started"},
            )
        unit = inv.unit_id if inv.role is Role.UNIT_ADMIN else None
        return Grant(inv.role, unit, inv.exam_id)

    async def _offer(self, inv: Invitation) -> dict[str, Any]:
        unit = await self._units.get(inv.unit_id)
        exam = None if inv.exam_id is None else await self._exams.get(inv.exam_id)
        inviter = await self._accounts.get(inv.invited_by)
        inviter_unit = None
        if inviter is not None and inviter.unit_id is not None:
            inviter_unit = await self._units.get(inviter.unit_id)
        return {
            "invitation_id": inv.id,
            "role": inv.role.value,
            "unit_id": inv.unit_id,
            "unit_name": None if unit is None else unit.name,
            "exam_id": inv.exam_id,
            "exam_title": None if exam is None else exam.title,
            "inviter_role": None if inviter is None else inviter.role.value,
            "inviter_unit_name": None if inviter_unit is None else inviter_unit.name,
            "created_at": inv.created_at,
            "expires_at": inv.expires_at,
        }

    async def _decided(
        self, account: Account, inv: Invitation, state: str, client: str, now: float, **more: Any
    ) -> None:
        detail: dict[str, Any] = {"invitation_id": inv.id, "role": inv.role.value}
        detail |= {"state": state, "unit_id": inv.unit_id, "exam_id": inv.exam_id} | more
        await self._audit.record(Entry(Event.INVITATION_DECIDED, account.id, client, detail, now))

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

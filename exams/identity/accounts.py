"""Accounts (注册账号, 登录): register with phone + SMS code, log in with phone + password.

The account's ``id`` is also the ``owner`` of everything it records (takes,
uploads): media sockets and HTTP views use :attr:`Account.owner`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from exams.identity.passwords import FormProblems, PasswordHasher
from exams.identity.sessions import Sessions
from exams.identity.sms import SmsCodes
from exams.shared import personal
from exams.shared.errors import Conflict, InvalidInput, NotFound, TooManyRequests, WrongCredentials
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import LoginThrottle


class Role(StrEnum):
    CANDIDATE = "candidate"
    UNIT_ADMIN = "unit_admin"
    PROCTOR = "proctor"
    STAFF_REVIEWER = "staff_reviewer"
    OPERATOR = "operator"  # runs the server: creates units and invites their admins


@dataclass(frozen=True)
class Account:
    id: str
    phone: str
    name: str
    id_type: str
    id_number: str
    role: Role
    created_at: float
    unit_id: str | None = None
    password_hash: str = field(default="", repr=False, compare=False)

    @property
    def owner(self) -> str:
        """The owner id of this account's takes and files."""
        return self.id

    def describe(self) -> dict[str, Any]:
        kind = personal.ID_TYPES[self.id_type]
        return {
            "id": self.id,
            "phone": self.phone,
            "name": self.name,
            "id_type": kind.describe(),
            "id_number": self.id_number,
            "role": self.role.value,
            "unit_id": self.unit_id,
            "created_at": self.created_at,
        }


class AccountRepository(Protocol):
    async def add(self, account: Account) -> None: ...

    async def get(self, account_id: str) -> Account | None: ...

    async def by_phone(self, phone: str) -> Account | None: ...

    async def by_document(self, id_type: str, id_number: str) -> Account | None: ...

    async def set_role(self, account_id: str, role: Role, unit_id: str | None) -> None: ...


class SecondFactorGate(Protocol):
    async def gate(self, account: Account, client: str) -> None:
        """After a right password: return to log in, or raise to ask for a second factor."""
        ...


class NoSecondFactor:
    async def gate(self, account: Account, client: str) -> None:
        return None


@dataclass(frozen=True)
class Registration:
    phone: str
    sms_code: str
    name: str
    id_type: str
    id_number: str
    password: str = field(repr=False)


def validate_registration(form: Registration) -> Registration:
    """The form in canonical form, or one error that names every bad field."""
    problems = FormProblems()
    phone = problems.check("phone", lambda: personal.normalise_phone(form.phone))
    name = problems.check("name", lambda: personal.normalise_name(form.name))
    id_type = problems.check("id_type", lambda: personal.id_type(form.id_type).code)
    id_number = ""
    if id_type:
        id_number = problems.check(
            "id_number", lambda: personal.normalise_id_number(id_type, form.id_number)
        )
    sms_code = problems.check("sms_code", lambda: six_digits(form.sms_code))
    problems.password("password", form.password, phone=phone, id_number=id_number)
    problems.raise_if_any()
    return Registration(phone, sms_code, name, id_type, id_number, form.password)


def six_digits(code: str) -> str:
    code = code.strip()
    if len(code) != 6 or not code.isdigit():
        raise InvalidInput("enter the 6-digit code from the SMS")
    return code


class AccountService:
    def __init__(
        self,
        repo: AccountRepository,
        sessions: Sessions,
        sms: SmsCodes,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        audit: AuditLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: secrets.token_hex(10),
        second_factor: SecondFactorGate | None = None,
    ) -> None:
        self._repo = repo
        self.sessions = sessions
        self._second_factor = second_factor or NoSecondFactor()
        self._sms = sms
        self._hasher = hasher
        self._throttle = throttle
        self._audit = audit
        self._clock = clock
        self._new_id = new_id
        self._dummy_hash: str | None = None

    async def register(self, form: Registration, client: str) -> Account:
        reg = validate_registration(form)
        # The code is spent before anything about existing accounts is revealed.
        await self._sms.consume(reg.phone, "register", reg.sms_code)
        if await self._repo.by_phone(reg.phone) is not None:
            raise Conflict(
                "this phone number already has an account: log in with it", {"field": "phone"}
            )
        if await self._repo.by_document(reg.id_type, reg.id_number) is not None:
            # Told only to whoever just proved this phone with a fresh code: each such answer
            # costs an SMS code (at most 10 a day per phone), and it is audited.
            await self._record(
                Event.ID_NUMBER_TAKEN, None, client, phone=personal.mask_phone(reg.phone)
            )
            raise Conflict(
                "an account with this ID number exists already: log in with it; if it is not "
                "yours, file an identity claim with a photo of you holding your ID card",
                {"field": "id_number", "claim": True},
            )
        account = Account(
            id=self._new_id(),
            phone=reg.phone,
            name=reg.name,
            id_type=reg.id_type,
            id_number=reg.id_number,
            role=Role.CANDIDATE,
            created_at=self._clock(),
            password_hash=await self._hasher.hash(reg.password),
        )
        await self._repo.add(account)
        await self._record(Event.REGISTERED, account.id, client)
        return account

    async def login(
        self, raw_phone: str, password: str, client: str, replacing: str | None = None
    ) -> tuple[Account, str]:
        """Check the password and open a new session; ``replacing`` is the old cookie's token."""
        phone = personal.normalise_phone(raw_phone)
        try:
            # The guess is counted before the password is checked, in one atomic step:
            # parallel requests cannot all pass the throttle before any failure is counted.
            await self._throttle.reserve(phone, client, self._clock())
        except TooManyRequests:
            await self._record(
                Event.LOGIN_THROTTLED, None, client, phone=personal.mask_phone(phone)
            )
            raise
        account = await self._repo.by_phone(phone)
        stored = account.password_hash if account is not None else await self._dummy()
        if not await self._hasher.verify(stored, password) or account is None:
            await self._record(
                Event.LOGIN_FAILED,
                None if account is None else account.id,
                client,
                phone=personal.mask_phone(phone),
            )
            raise WrongCredentials("the phone number or the password is wrong")
        await self._throttle.succeeded(phone, client, self._clock())
        await self._second_factor.gate(account, client)  # staff: asks for a code (raises)
        return account, await self.open_session(account, client, replacing)

    async def open_session(self, account: Account, client: str, replacing: str | None) -> str:
        """Log ``account`` in (every factor checked): a new session replacing ``replacing``."""
        if await self.sessions.revoke(replacing):
            await self._record(Event.SESSION_REVOKED, None, client, reason="replaced_at_login")
        token = await self.sessions.open(account.id, client)
        await self._record(Event.LOGIN_OK, account.id, client)
        return token

    async def logout(self, token: str | None, account: Account | None, client: str) -> None:
        if await self.sessions.revoke(token) and account is not None:
            await self._record(Event.LOGOUT, account.id, client)

    async def account_for_token(self, token: str | None) -> Account | None:
        account_id = await self.sessions.account_id_for(token)
        return None if account_id is None else await self._repo.get(account_id)

    async def get(self, account_id: str) -> Account:
        account = await self._repo.get(account_id)
        if account is None:
            raise NotFound("no such account")
        return account

    async def by_phone(self, raw_phone: str) -> Account | None:
        """The account registered with this phone number (operators and the demo)."""
        return await self._repo.by_phone(personal.normalise_phone(raw_phone))

    async def grant(self, raw_phone: str, role: Role, unit_id: str | None) -> Account:
        """Give a registered account a role (an operator's command, not an API)."""
        account = await self._repo.by_phone(personal.normalise_phone(raw_phone))
        if account is None:
            raise NotFound("no account has this phone number: register it first")
        if (role is Role.UNIT_ADMIN) != (unit_id is not None):
            raise InvalidInput("a unit_admin is bound to exactly one unit; other roles to none")
        await self._repo.set_role(account.id, role, unit_id)
        revoked = await self.sessions.revoke_all(account.id)  # the new role applies at next log-in
        await self._record(
            Event.ROLE_GRANTED, account.id, None, role=role.value, unit_id=unit_id, revoked=revoked
        )
        return await self.get(account.id)

    async def _dummy(self) -> str:
        # Unknown phones cost one Argon2 verification too, so timing does not tell them apart.
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    async def _record(
        self, event: Event, account_id: str | None, client: str | None, **detail: Any
    ) -> None:
        await self._audit.record(Entry(event, account_id, client, detail, self._clock()))

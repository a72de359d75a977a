"""Changing a password (logged in, old password required) and resetting a forgotten one
with an SMS code (忘记密码).

Both end every other session of the account (a stolen session must not outlive the
password it was opened with): a change keeps the person who made it logged in with a
new session; a reset ends all sessions and the person logs in again (with the second
factor, for staff). Wrong old passwords count as failed log-ins (the same throttle);
reset codes are SMS codes with the limits of every SMS code (one a minute, ten a day
per phone, per address per hour; five guesses each).
"""

from __future__ import annotations

from typing import Any, Protocol

from exams.identity.accounts import Account, AccountRepository, six_digits
from exams.identity.claims import DISABLED_PASSWORD
from exams.identity.passwords import FormProblems, PasswordHasher
from exams.identity.sessions import Sessions
from exams.identity.sms import SmsCodes
from exams.shared import personal
from exams.shared.errors import Forbidden, InvalidInput, NotFound, WrongCredentials
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import LoginThrottle

RESET_PURPOSE = "reset_password"


class PasswordStore(AccountRepository, Protocol):
    async def set_password(self, account_id: str, password_hash: str) -> None: ...


def _policy(field: str, password: str, phone: str, id_number: str) -> None:
    """The password policy, reported on ``field`` with the reason for the page."""
    problems = FormProblems()
    problems.password(field, password, phone=phone, id_number=id_number)
    problems.raise_if_any()


class Credentials:
    def __init__(
        self,
        repo: PasswordStore,
        sessions: Sessions,
        sms: SmsCodes,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._repo = repo
        self._sessions = sessions
        self._sms = sms
        self._hasher = hasher
        self._throttle = throttle
        self._audit = audit
        self._clock = clock

    async def change(self, account: Account, old: str, new: str, client: str) -> str:
        """Set a new password; every session of the account ends; returns a new token."""
        _policy("new_password", new, account.phone, account.id_number)
        if new == old:
            raise InvalidInput(
                "choose a new password different from the current one",
                {"fields": {"new_password": "is the same as the current password"}},
            )
        await self._throttle.reserve(account.phone, client, self._clock())
        if not await self._hasher.verify(account.password_hash, old):
            await self._record(Event.PASSWORD_CHANGE_FAILED, account.id, client)
            raise WrongCredentials(
                "the current password is wrong", {"fields": {"old_password": "is wrong"}}
            )
        await self._throttle.succeeded(account.phone, client, self._clock())
        await self._repo.set_password(account.id, await self._hasher.hash(new))
        revoked = await self._sessions.revoke_all(account.id)
        token = await self._sessions.open(account.id, client)
        await self._record(Event.PASSWORD_CHANGED, account.id, client, sessions_ended=revoked)
        return token

    async def reset(self, raw_phone: str, sms_code: str, new: str, client: str) -> Account:
        """Set a new password with a ``reset_password`` SMS code; every session ends."""
        problems = FormProblems()
        phone = problems.check("phone", lambda: personal.normalise_phone(raw_phone))
        code = problems.check("sms_code", lambda: six_digits(sms_code))
        # The ID number is checked once the code proved the phone: before, it would
        # tell a stranger whether digits are in this phone's account's ID number.
        problems.password("new_password", new, phone=phone)
        problems.raise_if_any()
        await self._sms.consume(phone, RESET_PURPOSE, code)
        account = await self._repo.by_phone(phone)
        if account is None:
            raise NotFound("no account has this phone number: register instead")
        if account.password_hash == DISABLED_PASSWORD:
            raise Forbidden(
                "this account was closed after an identity claim: contact the admission unit"
            )
        _policy("new_password", new, account.phone, account.id_number)
        await self._repo.set_password(account.id, await self._hasher.hash(new))
        revoked = await self._sessions.revoke_all(account.id)
        await self._record(Event.PASSWORD_RESET, account.id, client, sessions_ended=revoked)
        return account

    async def _record(
        self, event: Event, account_id: str | None, client: str | None, **detail: Any
    ) -> None:
        await self._audit.record(Entry(event, account_id, client, detail, self._clock()))

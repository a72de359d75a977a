"""Two-factor log-in for staff (unit admins, proctors, reviewers): TOTP (RFC 6238) with
single-use recovery codes.

Log-in is two steps for a staff account: the password (``AccountService.login``),
then :meth:`TwoFactor.gate` refuses to open a session and answers
``second_factor_required`` with a short-lived *challenge*. The challenge says what
comes next: ``totp`` (enter a code) or, when staff must use two factors and this
account has not enrolled yet, ``enrol`` (scan the secret, then enter a code). Only
:meth:`TwoFactor.complete` turns a challenge into a session.

Why required by default: a staff password opens every candidate's recordings and
identity documents of a unit, and staff are few and trained. A server for a test
lab may say ``--staff-two-factor optional`` (enrolment is then offered, not forced).

Guesses: every code checked (TOTP or recovery) is reserved first on a per-account
streak (``exams.shared.throttle.reserve_guess``: atomic in the store, so parallel guesses
cannot pass together); 5 are free, then each waits twice as long. A right code
ends the streak. A TOTP code is accepted once (its time step is remembered), one
step of clock drift either way. Recovery codes are stored as HMACs with a server
secret and each works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pyotp

from exams.identity.accounts import Account, Role
from exams.identity.sessions import Sessions, plausible_token, token_hash
from exams.shared.errors import Conflict, InvalidInput, Unauthenticated
from exams.shared.personal import mask_phone
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import Backoff, RateLimiter, reserve_guess

PERIOD_S = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
CHALLENGE_TTL_S = 600.0
ISSUER = "examcast"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
GUESSES = Backoff(free=5, base_s=30, cap_s=15 * 60, forget_s=3600)


class SecondFactorRequired(Unauthenticated):
    """The password was right; ``details`` hold the challenge and its ``method``."""

    code = "second_factor_required"


class WrongSecondFactor(Unauthenticated):
    code = "wrong_second_factor"


@dataclass(frozen=True)
class TotpRecord:
    account_id: str
    secret: str
    confirmed_at: float | None
    last_step: int


@dataclass(frozen=True)
class Challenge:
    token_hash: str
    account_id: str
    method: str  # "totp" or "enrol"
    created_at: float
    expires_at: float
    client: str | None


class TwoFactorRepository(Protocol):
    async def totp(self, account_id: str) -> TotpRecord | None: ...

    async def set_pending(self, account_id: str, secret: str) -> bool:
        """Store a new unconfirmed secret; False when the account has a confirmed one."""
        ...

    async def confirm(self, account_id: str, secret: str, step: int, now: float) -> bool:
        """Confirm the pending ``secret`` (False if it is no longer the pending one)."""
        ...

    async def use_step(self, account_id: str, step: int) -> bool:
        """Remember ``step`` as used if it is later than the last one used; atomic."""
        ...

    async def replace_recovery(self, account_id: str, hashes: list[str], now: float) -> None: ...

    async def use_recovery(self, account_id: str, code_hash: str, now: float) -> bool:
        """Spend an unused code; False if unknown or already used (atomic)."""
        ...

    async def recovery_left(self, account_id: str) -> int: ...

    async def remove(self, account_id: str) -> bool:
        """Forget the account's authenticator and recovery codes; False if it had none."""
        ...

    async def add_challenge(self, challenge: Challenge) -> None: ...

    async def challenge(self, token_hash: str) -> Challenge | None: ...

    async def end_challenge(self, token_hash: str) -> bool:
        """Delete it; False if it was gone already (used by a parallel request)."""
        ...


def step_of(now: float) -> int:
    return int(now // PERIOD_S)


def normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.casefold() if ch.isalnum())


class TwoFactor:
    def __init__(
        self,
        repo: TwoFactorRepository,
        limiter: RateLimiter,
        audit: AuditLog,
        clock: Clock,
        key: bytes,
        *,
        required_for_staff: bool,
        new_secret: Callable[[], str] = pyotp.random_base32,
    ) -> None:
        self._repo = repo
        self._limiter = limiter
        self._audit = audit
        self._clock = clock
        self._key = key
        self.required_for_staff = required_for_staff
        self._new_secret = new_secret

    @staticmethod
    def applies(account: Account) -> bool:
        """Two factors are for staff; candidates log in with phone and password."""
        return account.role is not Role.CANDIDATE

    async def enrolled(self, account_id: str) -> bool:
        record = await self._repo.totp(account_id)
        return record is not None and record.confirmed_at is not None

    # -- the log-in step -------------------------------------------------------------------

    async def gate(self, account: Account, client: str) -> None:
        """After a right password: return to open a session, or raise the challenge."""
        if not self.applies(account):
            return
        if await self.enrolled(account.id):
            method = "totp"
        elif self.required_for_staff:
            method = "enrol"
        else:
            return
        token = secrets.token_urlsafe(32)
        now = self._clock()
        await self._repo.add_challenge(
            Challenge(token_hash(token), account.id, method, now, now + CHALLENGE_TTL_S, client)
        )
        await self._record(Event.SECOND_FACTOR_ASKED, account.id, client, method=method)
        message = (
            "enter the 6-digit code from your authenticator app, or a recovery code"
            if method == "totp"
            else "staff accounts need two-step log-in: set up an authenticator app first"
        )
        raise SecondFactorRequired(
            message, {"method": method, "challenge": token, "expires_in": CHALLENGE_TTL_S}
        )

    async def _challenge(self, token: str) -> Challenge:
        found = None
        if plausible_token(token):
            found = await self._repo.challenge(token_hash(token))
        if found is None or self._clock() >= found.expires_at:
            raise Unauthenticated("this log-in has expired: enter your phone and password again")
        return found

    async def enrolment_for_challenge(self, token: str, account: Account) -> dict[str, Any]:
        """A new secret for an account sent to enrol at log-in (``method`` ``enrol``)."""
        challenge = await self._challenge(token)
        if challenge.method != "enrol" or challenge.account_id != account.id:
            raise Conflict("this log-in does not need a new authenticator: enter the code")
        return await self._begin(account)

    async def challenge_account(self, token: str) -> str:
        return (await self._challenge(token)).account_id

    async def complete(self, token: str, code: str, client: str) -> tuple[str, list[str]]:
        """Check the code for the challenge and end it: (account id, new recovery codes).

        For ``enrol`` the code confirms the new authenticator and recovery codes are
        made (shown once); for ``totp`` a TOTP or recovery code is checked.
        """
        challenge = await self._challenge(token)
        account_id = challenge.account_id
        if challenge.method == "enrol":
            codes = await self._confirm(account_id, code, client)
        else:
            await self._verify(account_id, code, client)
            codes = []
        if not await self._repo.end_challenge(challenge.token_hash):
            raise Unauthenticated("this log-in was already completed: log in again")
        return account_id, codes

    # -- enrolment while logged in ---------------------------------------------------------

    async def begin(self, account: Account) -> dict[str, Any]:
        if not self.applies(account):
            raise Conflict("two-step log-in is for staff accounts")
        return await self._begin(account)

    async def confirm(self, account: Account, code: str, client: str) -> list[str]:
        if not self.applies(account):
            raise Conflict("two-step log-in is for staff accounts")
        return await self._confirm(account.id, code, client)

    async def new_recovery_codes(self, account: Account, code: str, client: str) -> list[str]:
        """Replace the recovery codes (the old ones stop working); needs a current code."""
        if not await self.enrolled(account.id):
            raise Conflict("set up an authenticator first")
        await self._verify(account.id, code, client, recovery=False)
        codes = await self._recovery_codes(account.id)
        await self._record(Event.RECOVERY_CODES_RENEWED, account.id, client)
        return codes

    async def reset(self, account: Account, sessions: Sessions) -> bool:
        """The operator's way back for staff who lost their phone and recovery codes: the
        authenticator is forgotten and the account's sessions end; a new one is set up at
        the next log-in (or on the account page). False if there was none."""
        removed = await self._repo.remove(account.id)
        await self._limiter.clear(self._key_for(account.id))
        ended = await sessions.revoke_all(account.id)
        await self._record(
            Event.SECOND_FACTOR_RESET, account.id, None, removed=removed, sessions_ended=ended
        )
        return removed

    async def status(self, account: Account) -> dict[str, Any]:
        return {
            "applies": self.applies(account),
            "required": self.applies(account) and self.required_for_staff,
            "enrolled": await self.enrolled(account.id),
            "recovery_codes_left": await self._repo.recovery_left(account.id),
        }

    # -- the parts -------------------------------------------------------------------------

    async def _begin(self, account: Account) -> dict[str, Any]:
        secret = self._new_secret()
        if not await self._repo.set_pending(account.id, secret):
            raise Conflict("an authenticator is set up for this account already")
        uri = pyotp.TOTP(secret, interval=PERIOD_S).provisioning_uri(
            name=mask_phone(account.phone), issuer_name=ISSUER
        )
        return {"secret": secret, "otpauth_uri": uri, "period": PERIOD_S, "digits": 6}

    async def _confirm(self, account_id: str, code: str, client: str) -> list[str]:
        record = await self._repo.totp(account_id)
        if record is None or record.confirmed_at is not None:
            raise Conflict("start setting up the authenticator first")
        await self._reserve(account_id)
        step = self._matching_step(record.secret, code)
        if step is None:
            await self._record(Event.SECOND_FACTOR_FAILED, account_id, client, method="enrol")
            raise WrongSecondFactor("the code is wrong: enter the 6 digits the app shows now")
        if not await self._repo.confirm(account_id, record.secret, step, self._clock()):
            raise Conflict("the authenticator was set up again meanwhile: scan the new code")
        await self._limiter.clear(self._key_for(account_id))
        codes = await self._recovery_codes(account_id)
        await self._record(Event.SECOND_FACTOR_ENROLLED, account_id, client)
        return codes

    async def _verify(self, account_id: str, code: str, client: str, recovery: bool = True) -> None:
        record = await self._repo.totp(account_id)
        if record is None or record.confirmed_at is None:
            raise Conflict("no authenticator is set up for this account")
        await self._reserve(account_id)
        cleaned = code.strip().replace(" ", "")
        method = "totp"
        ok = False
        if cleaned.isdigit() and len(cleaned) == 6:
            step = self._matching_step(record.secret, cleaned)
            ok = step is not None and await self._repo.use_step(account_id, step)
        elif recovery:
            method = "recovery_code"
            ok = await self._repo.use_recovery(
                account_id, self._recovery_hash(account_id, cleaned), self._clock()
            )
        if not ok:
            await self._record(Event.SECOND_FACTOR_FAILED, account_id, client, method=method)
            raise WrongSecondFactor(
                "the code is wrong or was used already: enter the code the app shows now"
            )
        await self._limiter.clear(self._key_for(account_id))
        await self._record(Event.SECOND_FACTOR_OK, account_id, client, method=method)

    def _matching_step(self, secret: str, code: str) -> int | None:
        code = code.strip().replace(" ", "")
        if not (code.isdigit() and len(code) == 6):
            raise InvalidInput("enter the 6 digits your authenticator app shows")
        totp = pyotp.TOTP(secret, interval=PERIOD_S)
        now = self._clock()
        found = None
        for drift in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
            # Compare every candidate (no early exit), in constant time.
            if hmac.compare_digest(totp.at(now + drift * PERIOD_S), code):
                found = step_of(now) + drift
        return found

    async def _reserve(self, account_id: str) -> None:
        await reserve_guess(
            self._limiter,
            [(self._key_for(account_id), GUESSES)],
            self._clock(),
            "too many wrong codes for this account",
        )

    @staticmethod
    def _key_for(account_id: str) -> str:
        return f"second-factor:{account_id}"

    def _recovery_hash(self, account_id: str, code: str) -> str:
        text = f"recovery:{account_id}:{normalise_recovery(code)}".encode()
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()

    async def _recovery_codes(self, account_id: str) -> list[str]:
        codes = []
        for _ in range(RECOVERY_CODES):
            raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
            codes.append(f"{raw[:5]}-{raw[5:]}")
        hashes = [self._recovery_hash(account_id, c) for c in codes]
        await self._repo.replace_recovery(account_id, hashes, self._clock())
        return codes

    async def _record(
        self, event: Event, account_id: str | None, client: str | None, **detail: Any
    ) -> None:
        await self._audit.record(Entry(event, account_id, client, detail, self._clock()))

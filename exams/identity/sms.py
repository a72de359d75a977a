"""SMS verification codes (短信验证码): single-use, short-lived, stored hashed, rate-limited.

A code is 6 random digits, valid ``ttl_s`` (10 minutes); only the newest code
for a phone and purpose is valid; ``max_guesses`` tries end it (each try is
counted before the code is compared, so parallel tries get no more). The
server keeps ``HMAC-SHA256(secret, phone:purpose:code)``, never the code: the
secret lives in the data directory, so a copy of the database alone does not
let anyone try codes offline. Sending is limited per phone (one a minute, ten
a day) and per client address (thirty an hour). Codes are never returned by
the API: they reach the candidate through the :class:`SmsSender` port.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from exams.shared.errors import InvalidInput, TooManyRequests, WrongSmsCode
from exams.shared.personal import mask_phone, normalise_phone
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import RateLimiter, Window, address_key, take_all

PURPOSES = ("register", "reset_password")
# What each code is for, as the SMS says it (Chinese, English).
_WHAT = {
    "register": ("注册验证码", "registration code"),
    "reset_password": ("重置密码验证码", "password reset code"),
}


@dataclass(frozen=True)
class StoredCode:
    id: int
    phone: str
    purpose: str
    code_hash: str
    created_at: float
    expires_at: float
    guesses: int
    used_at: float | None


class SmsCodeRepository(Protocol):
    async def add(self, code: StoredCode) -> None:
        """Store a new code; older unused codes for the same phone and purpose end."""
        ...

    async def latest(self, phone: str, purpose: str) -> StoredCode | None: ...

    async def take_guess(
        self, phone: str, purpose: str, max_guesses: int, now: float
    ) -> StoredCode | None:
        """Count one guess on the newest code for ``phone`` and ``purpose``, atomically.

        Only while that code is unused, unexpired at ``now`` and has had fewer than
        ``max_guesses``; returns it with this guess counted, or None (nothing counted).
        """
        ...

    async def use(self, code_id: int, at: float) -> bool:
        """Mark the code used; False if it already was (a concurrent replay)."""
        ...


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


@dataclass(frozen=True)
class SmsPolicy:
    ttl_s: float = 600
    max_guesses: int = 5
    per_phone: Window = field(default_factory=lambda: Window(1, 60))
    per_phone_daily: Window = field(default_factory=lambda: Window(10, 24 * 3600))
    per_address: Window = field(default_factory=lambda: Window(30, 3600))


def message(code: str, ttl_s: float, purpose: str = "register") -> str:
    minutes = round(ttl_s / 60)
    zh, en = _WHAT[purpose]
    return (
        f"【examcast】{zh} {code}，{minutes} 分钟内有效，请勿告诉他人。"
        f" Your examcast {en} is {code}, valid for {minutes} minutes."
        " Do not share it."
    )


class SmsCodes:
    def __init__(
        self,
        repo: SmsCodeRepository,
        sender: SmsSender,
        limiter: RateLimiter,
        audit: AuditLog,
        secret: bytes,
        clock: Clock,
        policy: SmsPolicy | None = None,
        new_code: Callable[[], str] = lambda: f"{secrets.randbelow(10**6):06d}",
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the SMS code secret must have at least 16 bytes")
        self._repo = repo
        self._sender = sender
        self._limiter = limiter
        self._audit = audit
        self._secret = secret
        self._clock = clock
        self.policy = policy or SmsPolicy()
        self._new_code = new_code

    def _hash(self, phone: str, purpose: str, code: str) -> str:
        text = f"{phone}:{purpose}:{code}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    async def send(self, raw_phone: str, purpose: str, client: str) -> dict[str, object]:
        if purpose not in PURPOSES:
            raise InvalidInput(f"purpose must be one of {', '.join(PURPOSES)}")
        phone = normalise_phone(raw_phone)
        now = self._clock()
        p = self.policy
        try:
            await take_all(
                self._limiter,
                [
                    (f"sms-address:{address_key(client)}", p.per_address),
                    (f"sms-phone:{phone}", p.per_phone),
                    (f"sms-phone-day:{phone}", p.per_phone_daily),
                ],
                now,
                "a code was sent to this number or from this network a moment ago",
            )
        except TooManyRequests:
            await self._audit.record(
                Entry(Event.SMS_REFUSED, None, client, {"phone": mask_phone(phone)}, now)
            )
            raise
        code = self._new_code()
        await self._repo.add(
            StoredCode(
                0, phone, purpose, self._hash(phone, purpose, code), now, now + p.ttl_s, 0, None
            )
        )
        await self._sender.send(phone, message(code, p.ttl_s, purpose))
        await self._audit.record(
            Entry(
                Event.SMS_SENT, None, client, {"phone": mask_phone(phone), "purpose": purpose}, now
            )
        )
        return {
            "phone": mask_phone(phone),
            "purpose": purpose,
            "expires_in": p.ttl_s,
            "resend_after": p.per_phone.seconds,
        }

    async def consume(self, phone: str, purpose: str, code: str) -> None:
        """Accept ``code`` once for a normalised ``phone``, or raise :class:`WrongSmsCode`."""
        now = self._clock()
        # The guess is taken before the code is compared, in one atomic step: parallel
        # requests cannot all see "guesses left" before any of them is counted.
        stored = await self._repo.take_guess(phone, purpose, self.policy.max_guesses, now)
        if stored is None:
            raise WrongSmsCode("this SMS code has expired or was already used: request a new one")
        if not hmac.compare_digest(stored.code_hash, self._hash(phone, purpose, code.strip())):
            left = self.policy.max_guesses - stored.guesses
            if left <= 0:
                raise WrongSmsCode(
                    "the SMS code is wrong and can no longer be used: request a new one"
                )
            raise WrongSmsCode(
                f"the SMS code is wrong: check it ({left} tr{'y' if left == 1 else 'ies'} left)",
                {"tries_left": left},
            )
        if not await self._repo.use(stored.id, now):
            raise WrongSmsCode("this SMS code has expired or was already used: request a new one")

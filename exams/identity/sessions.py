"""Log-in sessions: random tokens the server keeps only as SHA-256 hashes.

A token is issued at log-in (replacing whatever cookie the browser had), ends
at log-out, after ``idle_s`` without a request, or ``max_s`` after log-in,
whichever comes first. ``last_seen`` is written at most every tenth of the idle
window (and at most once a minute) so a busy page does not write on every request;
a session ends only once ``idle_s`` has passed since its last request for sure
(``last_seen`` plus that write interval), so an active session never expires,
whatever the idle setting.

Whoever holds on to a session beyond one request (a Socket.IO connection) listens
on :attr:`Sessions.on_ended`: every way a session ends here publishes an
:class:`Ended` (log-out, a new log-in replacing it, expiry noticed, all of an
account's sessions revoked), so the listener can close what the session opened.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from exams.shared.ports import Clock

TOUCH_EVERY_S = 60.0
TOKEN_MIN, TOKEN_MAX = 20, 100


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def plausible_token(token: str) -> bool:
    return (
        TOKEN_MIN <= len(token) <= TOKEN_MAX and token.replace("-", "").replace("_", "").isalnum()
    )


@dataclass(frozen=True)
class Session:
    token_hash: str
    account_id: str
    created_at: float
    last_seen_at: float
    expires_at: float
    client: str | None = None


@dataclass(frozen=True)
class Ended:
    """Log-in sessions that ended: the one of ``token_hash``, or every session of
    ``account_id`` except the one of ``kept`` (a token hash, or None for all)."""

    token_hash: str | None = None
    account_id: str | None = None
    kept: str | None = None

    def covers(self, account_id: str, hashed: str) -> bool:
        if self.token_hash is not None:
            return hashed == self.token_hash
        return account_id == self.account_id and hashed != self.kept


EndListener = Callable[[Ended], Awaitable[None]]


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get(self, token_hash: str) -> Session | None: ...

    async def touch(self, token_hash: str, last_seen_at: float) -> None: ...

    async def delete(self, token_hash: str) -> bool: ...

    async def delete_for_account(self, account_id: str) -> int: ...

    async def purge(self, now: float, idle_s: float) -> int: ...


class Sessions:
    def __init__(
        self, repo: SessionRepository, clock: Clock, *, idle_s: float, max_s: float
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._idle_s = idle_s
        self._max_s = max_s
        # The last request was at most this much after the stored last_seen_at.
        self._touch_every = min(TOUCH_EVERY_S, idle_s / 10)
        self._idle_until = idle_s + self._touch_every
        self.on_ended: list[EndListener] = []

    async def _ended(self, ended: Ended) -> None:
        for listener in self.on_ended:
            await listener(ended)

    async def open(self, account_id: str, client: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        await self._repo.add(
            Session(token_hash(token), account_id, now, now, now + self._max_s, client)
        )
        return token

    async def account_id_for(self, token: str | None, *, touch: bool = True) -> str | None:
        """The account a token is logged in as, or None (unknown, expired or revoked).

        ``touch=False`` checks without counting as activity (a server-side re-check).
        """
        if token is None or not plausible_token(token):
            return None
        hashed = token_hash(token)
        session = await self._repo.get(hashed)
        if session is None:
            return None
        now = self._clock()
        if now >= session.expires_at or now >= session.last_seen_at + self._idle_until:
            await self._repo.delete(hashed)
            await self._ended(Ended(token_hash=hashed))
            return None
        if touch and now - session.last_seen_at >= self._touch_every:
            await self._repo.touch(hashed, now)
            session = replace(session, last_seen_at=now)
        return session.account_id

    async def revoke(self, token: str | None) -> bool:
        """End the session of ``token``; True if there was one."""
        if token is None or not plausible_token(token):
            return False
        hashed = token_hash(token)
        revoked = await self._repo.delete(hashed)
        if revoked:
            await self._ended(Ended(token_hash=hashed))
        return revoked

    async def revoke_all(self, account_id: str) -> int:
        """End every session of the account (a role change, a password reset)."""
        revoked = await self._repo.delete_for_account(account_id)
        await self._ended(Ended(account_id=account_id))
        return revoked

    async def purge(self) -> int:
        return await self._repo.purge(self._clock(), self._idle_until)

"""The audit log of authentication and authorisation events (ASVS 16.x): a port.

Events say who (account id, or the phone tried), from where (client address),
what happened and a little detail; never a password, code or token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Event(StrEnum):
    REGISTERED = "register"
    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    SMS_SENT = "sms_code_sent"
    SMS_REFUSED = "sms_code_refused"
    AGREEMENTS_ACCEPTED = "agreements_accepted"
    VERIFICATION_PASSED = "verification_passed"
    VERIFICATION_FAILED = "verification_failed"
    VERIFICATION_CANCELLED = "verification_cancelled"
    REVIEW_SUBMITTED = "manual_review_submitted"
    REVIEW_DECIDED = "manual_review_decided"
    ROLE_GRANTED = "role_granted"
    ADMITTED_LIST_IMPORTED = "admitted_list_imported"
    ACCESS_DENIED = "access_denied"
    PAIRING_REDEEMED = "pairing_redeemed"  # a phone joined an attempt as its second camera
    PAIRING_REFUSED = "pairing_refused"  # a scanned code was unknown, expired, used, or late


@dataclass(frozen=True)
class Entry:
    event: Event
    account_id: str | None = None
    client: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


class AuditLog(Protocol):
    async def record(self, entry: Entry) -> None: ...

    async def recent(self, limit: int = 100, account_id: str | None = None) -> list[Entry]: ...

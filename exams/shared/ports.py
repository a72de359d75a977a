"""The ports every room of the domain shares: the clock, the scheduler, locks, deadline
ownership and the audit log.

``Clock`` is the injected time (Unix seconds); ``Scheduler`` calls back at a time of that
clock. ``Locks`` make one step at a time per key, across every node that shares them
(``exams.shared.locks`` in one process, ``storage.redis_locks`` across nodes).
``DeadlineOwners`` says which node fires a deadline; ``NodeLiveness`` which nodes are
alive. The audit log records authentication and authorisation events (ASVS 16.x).

Events say who (account id, or the phone tried), from where (client address),
what happened and a little detail; never a password, code or token.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Clock(Protocol):
    def __call__(self) -> float: ...


class Scheduler(Protocol):
    def call_at(self, when: float, callback: Callable[[], Any]) -> Callable[[], None]: ...


class Locks(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock ``key`` (one holder at a time, wherever it runs); a waiter that
        does not get it in time raises :class:`exams.shared.errors.LockTimeout`."""
        ...


class DeadlineOwners(Protocol):
    """Which node fires each deadline (one per key, e.g. an attempt's one timer)."""

    async def claim(self, key: str, due_at: float) -> None:
        """This node fires ``key`` at ``due_at`` (taking it from whoever had it, but from
        its live home: then only the due time changes, and the home's timer fires it)."""
        ...

    async def home(self, key: str) -> None:
        """``key`` acts on media this node holds (a candidate's camera): while this node
        lives, another node's :meth:`claim` leaves it here (decision 0026)."""
        ...

    async def owns(self, key: str) -> bool:
        """Is this node (still) the one to fire ``key``?"""
        ...

    async def release(self, key: str) -> None:
        """Nothing to fire for ``key`` any more (if this node owns it)."""
        ...

    async def orphans(self, due_before: float) -> list[str]:
        """The keys due before ``due_before`` whose owner is gone, each now this node's."""
        ...


class NodeLiveness(Protocol):
    """Which nodes are alive: this node's id, and whether another one still answers (its
    heartbeat's lease not run out). One process: only this node is (exams.shared.nodes);
    a cluster: the heartbeat keys in Redis (storage.redis_nodes)."""

    @property
    def node(self) -> str:
        """This node's id."""
        ...

    async def alive(self, node: str) -> bool: ...

    async def gone(self) -> list[str] | None:
        """The other nodes known to have been up lately and gone now (their heartbeat older
        than the lease); ``None`` when there is no such list (then look at every take)."""
        ...


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
    # account security (issue #9)
    PASSWORD_CHANGED = "password_changed"  # logged in, old password given; other sessions end
    PASSWORD_CHANGE_FAILED = "password_change_failed"  # the old password was wrong
    PASSWORD_RESET = "password_reset"  # by SMS code; every session ends
    SECOND_FACTOR_ASKED = "second_factor_asked"  # password right; a code (or enrolment) asked
    SECOND_FACTOR_OK = "second_factor_ok"
    SECOND_FACTOR_FAILED = "second_factor_failed"
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled"
    RECOVERY_CODES_RENEWED = "recovery_codes_renewed"
    SECOND_FACTOR_RESET = "second_factor_reset"  # by the operator: a lost phone and codes
    ID_NUMBER_TAKEN = "registration_id_number_taken"  # a verified phone met a registered ID
    PROCTOR_LOOKUP_REFUSED = "proctor_lookup_refused"  # no such proctor (or not assignable)
    CLAIM_FILED = "identity_claim_filed"
    CLAIM_DECIDED = "identity_claim_decided"
    ACCOUNT_RELEASED = "account_released"  # a squatting account lost the ID on a claim
    SUBMISSIONS_EXPORTED = "submissions_exported"  # a unit admin began an exam's bulk export
    SUBMISSIONS_EXPORT_ENDED = "submissions_export_ended"  # complete or cut off; hash checks
    STAFF_INVITED = "staff_invited"  # a proctor or unit admin invited by phone
    INVITATION_DECIDED = "invitation_decided"  # accepted (applied) or declined by the invited
    UNIT_CREATED = "unit_created"  # by an operator in the console
    VIEWER_OPENED = "viewer_opened"  # a proctor or unit admin began watching a candidate live
    VIEWER_CLOSED = "viewer_closed"  # ... and stopped (until when, how long)
    INCIDENT_RAISED = "incident_raised"  # a detector's alert (or a raised hand) on a timeline
    INCIDENT_DISPOSED = "incident_disposed"  # a proctor or unit admin confirmed or dismissed one
    # proctor actions (issue #13)
    PROCTOR_MESSAGE_SENT = "proctor_message_sent"  # to a candidate (the text is in the detail)
    PROCTOR_MESSAGE_READ = "proctor_message_read"  # the candidate's read receipt
    TIME_EXTENDED = "time_extended"  # extra time on a candidate's open question
    ATTEMPT_ENDED = "attempt_ended_by_proctor"  # a candidate's open question ended, with a reason
    HAND_RAISED = "hand_raised"  # a candidate asked the proctors for help
    # quality (issue #18)
    RETAKE_GRANTED = "retake_granted"  # a formal take damaged by the system: one more allowed
    # face check (issue #17)
    REFERENCE_PHOTOS_UPLOADED = "reference_photos_uploaded"  # a unit's 报名照片, stored/refused


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

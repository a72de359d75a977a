"""Real-person verification (实人验证, M1.3): the rules, and the port a checker plugs into.

Verification is needed once per *scope*: ``login`` at first log-in, and
``exam:<exam_id>`` before each exam (:meth:`VerificationService.require_verified`,
which the exam API calls before showing questions). The rules:

- an attempt is started, answered once, or cancelled; it expires after 5 minutes;
- cancelling means waiting 60 seconds before the next attempt;
- three failures in a row close automatic verification for the scope and offer
  manual review (``exams.identity.manual_reviews``): staff approving counts as verified, staff
  rejecting gives three more automatic tries.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from exams.identity.accounts import Account
from exams.shared.errors import (
    Conflict,
    InvalidInput,
    ManualReviewRequired,
    NotFound,
    VerificationRequired,
)
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import retry_message

CANCEL_WAIT_S = 60.0
FAILURES_FOR_REVIEW = 3
ATTEMPT_TTL_S = 300.0
_EXAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Verifier(Protocol):
    """Checks that the person at the device is the account holder."""

    def challenge(self, account: Account) -> dict[str, Any]:
        """What the page shows or runs for a new attempt."""
        ...

    async def check(self, account: Account, response: Mapping[str, Any]) -> bool: ...


class IdSuffixVerifier:
    """The built-in check: the candidate types the last 6 characters of their ID number.

    It really runs locally and exercises every rule around verification, but it
    proves knowledge, not presence. A face-check vendor (liveness + comparison
    with the ID photo) or a live-video check by staff replaces it behind the same
    :class:`Verifier` port.
    """

    LENGTH = 6

    def challenge(self, account: Account) -> dict[str, Any]:
        return {
            "kind": "id_number_suffix",
            "length": self.LENGTH,
            "prompt": {
                "zh": f"请输入您的证件号码的后 {self.LENGTH} 位",
                "en": f"Type the last {self.LENGTH} characters of your ID number",
            },
        }

    async def check(self, account: Account, response: Mapping[str, Any]) -> bool:
        answer = response.get("answer")
        if not isinstance(answer, str):
            return False
        expected = account.id_number[-self.LENGTH :].upper()
        return hmac.compare_digest(answer.strip().upper().encode(), expected.encode())


@dataclass(frozen=True)
class VerificationState:
    account_id: str
    scope: str
    failures: int = 0
    cancelled_at: float | None = None
    passed_at: float | None = None
    passed_by: str | None = None
    attempt_id: str | None = None
    attempt_expires_at: float | None = None


class VerificationRepository(Protocol):
    """Each method that changes a state is one atomic step and writes only what it changes.

    Parallel requests (answering one attempt many times, or answering while
    starting or cancelling) can then neither be judged twice nor undo each
    other's counts.
    """

    async def get(self, account_id: str, scope: str) -> VerificationState | None: ...

    async def save(self, state: VerificationState) -> None:
        """Write the whole state (a manual review's decision, when no attempt can be live)."""
        ...

    async def open_attempt(
        self, account_id: str, scope: str, attempt_id: str, expires_at: float, now: float
    ) -> VerificationState:
        """Give the scope this new attempt unless one is still live at ``now``; the state."""
        ...

    async def take_attempt(
        self, account_id: str, attempt_id: str, now: float, max_failures: int
    ) -> VerificationState | None:
        """End this live attempt and count a failure up front, before the answer is judged.

        Only while not passed and under ``max_failures``; the new state, or None when
        there is no such attempt (it was answered, cancelled, or expired).
        """
        ...

    async def refund_failure(self, account_id: str, scope: str) -> None:
        """Give back the failure counted by :meth:`take_attempt` (the answer was not judged)."""
        ...

    async def record_pass(
        self, account_id: str, scope: str, at: float, by: str
    ) -> VerificationState: ...

    async def cancel_attempt(
        self, account_id: str, attempt_id: str, now: float
    ) -> VerificationState | None:
        """End this live attempt as cancelled at ``now``; the new state, or None."""
        ...


def parse_scope(scope: str) -> str:
    if scope == "login":
        return scope
    if scope.startswith("exam:") and _EXAM_ID.fullmatch(scope[5:]):
        return scope
    raise InvalidInput("scope must be 'login' or 'exam:<exam id>' (letters, digits, _ and -)")


def _no_attempt() -> NotFound:
    return NotFound("no such verification attempt (it may have expired): start a new one")


class VerificationService:
    def __init__(
        self,
        repo: VerificationRepository,
        verifier: Verifier,
        audit: AuditLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._repo = repo
        self._verifier = verifier
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    async def state(self, account_id: str, scope: str) -> VerificationState:
        found = await self._repo.get(account_id, parse_scope(scope))
        return found or VerificationState(account_id, scope)

    async def passed_at(self, account_id: str, scope: str) -> float | None:
        return (await self.state(account_id, scope)).passed_at

    async def require_verified(self, account: Account, exam_id: str) -> None:
        """For the exam API: refuse until verification for this exam has passed."""
        scope = parse_scope(f"exam:{exam_id}")
        if await self.passed_at(account.id, scope) is None:
            raise VerificationRequired(
                "complete real-person verification for this exam first", {"scope": scope}
            )

    def describe(self, state: VerificationState, pending_review: bool = False) -> dict[str, Any]:
        now = self._clock()
        wait = 0.0 if state.cancelled_at is None else state.cancelled_at + CANCEL_WAIT_S - now
        if state.passed_at is not None:
            status = "passed"
        elif pending_review:
            status = "review_pending"
        elif state.failures >= FAILURES_FOR_REVIEW:
            status = "manual_review"
        elif wait > 0:
            status = "waiting"
        else:
            status = "ready"
        return {
            "scope": state.scope,
            "status": status,
            "passed_at": state.passed_at,
            "passed_by": state.passed_by,
            "failures": state.failures,
            "retry_after": max(0, int(wait + 0.999)) if status == "waiting" else 0,
        }

    async def start(self, account: Account, scope: str) -> dict[str, Any]:
        state = await self.state(account.id, parse_scope(scope))
        now = self._clock()
        if state.passed_at is not None:
            raise Conflict("you have already passed verification for this", {"scope": scope})
        if state.failures >= FAILURES_FOR_REVIEW:
            raise ManualReviewRequired(
                "verification failed three times in a row: upload a photo of yourself holding "
                "your ID card for manual review",
                {"scope": scope},
            )
        if state.cancelled_at is not None and now < state.cancelled_at + CANCEL_WAIT_S:
            raise retry_message(
                "you cancelled verification a moment ago", state.cancelled_at + CANCEL_WAIT_S - now
            )
        if state.attempt_id is None or (state.attempt_expires_at or 0) <= now:
            state = await self._repo.open_attempt(
                account.id, state.scope, self._new_id(), now + ATTEMPT_TTL_S, now
            )
        return {
            "attempt_id": state.attempt_id,
            "scope": scope,
            "expires_at": state.attempt_expires_at,
            "challenge": self._verifier.challenge(account),
        }

    async def answer(
        self, account: Account, attempt_id: str, response: Mapping[str, Any], client: str
    ) -> dict[str, Any]:
        now = self._clock()
        # Claimed and counted as a failure before it is judged, atomically: an attempt
        # answered many times at once is judged once, and counts as one failure at most.
        state = await self._repo.take_attempt(account.id, attempt_id, now, FAILURES_FOR_REVIEW)
        if state is None:
            raise _no_attempt()
        try:
            passed = await self._verifier.check(account, response)
        except BaseException:
            await self._repo.refund_failure(account.id, state.scope)
            raise
        if passed:
            state = await self._repo.record_pass(account.id, state.scope, now, "verifier")
        event = Event.VERIFICATION_PASSED if passed else Event.VERIFICATION_FAILED
        await self._audit.record(
            Entry(
                event, account.id, client, {"scope": state.scope, "failures": state.failures}, now
            )
        )
        return {"passed": passed, **self.describe(state)}

    async def cancel(self, account: Account, attempt_id: str, client: str) -> dict[str, Any]:
        now = self._clock()
        state = await self._repo.cancel_attempt(account.id, attempt_id, now)
        if state is None:
            raise _no_attempt()
        await self._audit.record(
            Entry(Event.VERIFICATION_CANCELLED, account.id, client, {"scope": state.scope}, now)
        )
        return self.describe(state)

    async def review_decided(self, account_id: str, scope: str, approved: bool) -> None:
        """Manual review: approval counts as verified; rejection gives three more tries."""
        state = await self.state(account_id, scope)
        if approved:
            state = replace(state, passed_at=self._clock(), passed_by="manual_review")
        else:
            state = replace(state, failures=0)
        await self._repo.save(replace(state, attempt_id=None, attempt_expires_at=None))

"""Real-person verification (实人验证, M1.3): the rules, and the port a checker plugs into.

Verification is needed once per *scope*: ``login`` at first log-in, and
``exam:<exam_id>`` before each exam (:meth:`VerificationService.require_verified`,
which the exam API calls before showing questions). The rules:

- an attempt is started, answered once, or cancelled; it expires after 5 minutes;
- cancelling means waiting 60 seconds before the next attempt;
- three failures in a row close automatic verification for the scope and offer
  manual review (``exams.identity.manual_reviews``): staff approving counts as verified, staff
  rejecting gives three more automatic tries;
- a candidate the checker cannot check automatically (no reference photo from the unit, for
  the face check) goes to manual review at once;
- a checker that fails to answer (:class:`VerifierUnavailable`: a vendor's timeout) costs
  no try: the candidate may start again at once.

Every judged answer leaves a :class:`~exams.identity.verification_results.VerificationResult`
(score, model, reason, and the frames kept as evidence).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from exams.identity.accounts import Account
from exams.identity.verification_results import Evidence, ResultRepository, VerificationResult
from exams.shared.errors import (
    Conflict,
    InvalidInput,
    ManualReviewRequired,
    NotFound,
    Unavailable,
    VerificationRequired,
)
from exams.shared.objects import ObjectStoreError
from exams.shared.ports import AuditLog, Clock, Entry, Event
from exams.shared.throttle import retry_message

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 60.0
FAILURES_FOR_REVIEW = 3
ATTEMPT_TTL_S = 300.0
_EXAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of one answer."""

    passed: bool
    score: float | None = None  # the face distance (lower: more alike), or a vendor's score
    model: str | None = None  # the model's name and version, or the vendor's name
    reason: str | None = None  # why it failed: "mismatch", "liveness:<reason>", "no_reference"
    evidence: tuple[bytes, ...] = ()  # JPEG frames kept as evidence


class VerifierUnavailable(Unavailable):
    """The checker could not judge (a vendor's timeout or 5xx, garbage back): the
    candidate's fault it is not, so it counts as no failure; they may start again at once."""

    code = "verifier_unavailable"


class Verifier(Protocol):
    """Checks that the person at the device is the account holder."""

    async def ready(self, account: Account) -> str | None:
        """None, or why this account cannot be checked automatically (``"no_reference"``:
        the unit gave no reference photo): the candidate goes to manual review."""
        ...

    def challenge(self, account: Account, attempt_id: str) -> dict[str, Any]:
        """What the page shows or runs for attempt ``attempt_id``: the same for the same
        attempt (a resumed attempt shows the challenge its answer is judged against)."""
        ...

    async def check(
        self, account: Account, attempt_id: str, response: Mapping[str, Any]
    ) -> Verdict:
        """Judge the answer to :meth:`challenge`; raise :class:`VerifierUnavailable` when
        the checker itself failed, and :class:`InvalidInput` for a malformed answer."""
        ...


class IdSuffixVerifier:
    """The built-in check: the candidate types the last 6 characters of their ID number.

    It really runs locally and exercises every rule around verification, but it
    proves knowledge, not presence. A face-check vendor (liveness + comparison
    with the ID photo) or a live-video check by staff replaces it behind the same
    :class:`Verifier` port.
    """

    LENGTH = 6
    MODEL = "id_number_suffix"

    async def ready(self, account: Account) -> str | None:
        return None

    def challenge(self, account: Account, attempt_id: str) -> dict[str, Any]:
        return {
            "kind": "id_number_suffix",
            "length": self.LENGTH,
            "prompt": {
                "zh": f"请输入您的证件号码的后 {self.LENGTH} 位",
                "en": f"Type the last {self.LENGTH} characters of your ID number",
            },
        }

    async def check(
        self, account: Account, attempt_id: str, response: Mapping[str, Any]
    ) -> Verdict:
        answer = response.get("answer")
        if not isinstance(answer, str):
            return Verdict(False, model=self.MODEL, reason="no_answer")
        expected = account.id_number[-self.LENGTH :].upper()
        passed = hmac.compare_digest(answer.strip().upper().encode(), expected.encode())
        return Verdict(passed, model=self.MODEL, reason=None if passed else "wrong_answer")


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
        *,
        results: ResultRepository,
        evidence: Evidence,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._repo = repo
        self._verifier = verifier
        self._audit = audit
        self._clock = clock
        self._results = results
        self._evidence = evidence
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
        why = await self._verifier.ready(account)
        if why is not None:
            await self._to_review(account, state, why, now)
        if state.attempt_id is None or (state.attempt_expires_at or 0) <= now:
            state = await self._repo.open_attempt(
                account.id, state.scope, self._new_id(), now + ATTEMPT_TTL_S, now
            )
        assert state.attempt_id is not None  # opened, or still live
        return {
            "attempt_id": state.attempt_id,
            "scope": scope,
            "expires_at": state.attempt_expires_at,
            "challenge": self._verifier.challenge(account, state.attempt_id),
        }

    async def _to_review(
        self, account: Account, state: VerificationState, why: str, now: float
    ) -> None:
        """No automatic check is possible for this account: straight to manual review."""
        await self._repo.save(
            replace(state, failures=FAILURES_FOR_REVIEW, attempt_id=None, attempt_expires_at=None)
        )
        await self._audit.record(
            Entry(
                Event.VERIFICATION_FAILED,
                account.id,
                None,
                {"scope": state.scope, "reason": why, "failures": FAILURES_FOR_REVIEW},
                now,
            )
        )
        raise ManualReviewRequired(
            "your unit has no reference photo of you for the face check: upload a photo of "
            "yourself holding your ID card for manual review",
            {"scope": state.scope, "reason": why},
        )

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
            verdict = await self._verifier.check(account, attempt_id, response)
        except BaseException:
            # Not judged (the checker failed, or the answer was malformed): no try is spent.
            await self._repo.refund_failure(account.id, state.scope)
            raise
        passed = verdict.passed
        if passed:
            state = await self._repo.record_pass(account.id, state.scope, now, "verifier")
        elif verdict.reason == "no_reference":  # the reference photo went meanwhile
            state = replace(state, failures=FAILURES_FOR_REVIEW)
            await self._repo.save(state)
        try:
            keys = await self._evidence.save(attempt_id, verdict.evidence)
        except (ObjectStoreError, OSError):  # the judgement stands; only its frames are lost
            log.exception("verification %s: could not keep its evidence frames", attempt_id)
            keys = ()
        await self._results.add(
            VerificationResult(
                attempt_id,
                account.id,
                state.scope,
                now,
                passed,
                verdict.score,
                verdict.model,
                verdict.reason,
                keys,
            )
        )
        event = Event.VERIFICATION_PASSED if passed else Event.VERIFICATION_FAILED
        detail: dict[str, Any] = {"scope": state.scope, "failures": state.failures}
        if verdict.reason is not None:
            detail["reason"] = verdict.reason
        await self._audit.record(Entry(event, account.id, client, detail, now))
        return {"passed": passed, "reason": verdict.reason, **self.describe(state)}

    async def results(self, account_id: str, scope: str | None = None) -> list[dict[str, Any]]:
        """The judged attempts of an account (newest first), for staff."""
        found = await self._results.for_account(account_id, scope)
        return [r.describe() for r in found]

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

"""Manual review (人工审核): after three failed verifications in a row, the candidate
uploads a photo holding their ID card and staff (role ``staff_reviewer``) decide.

Photos are JPEG or PNG, recognised by their first bytes (never by the name or
the declared type), bounded in size, and stored by the :class:`PhotoStore`
port under a name the server makes up. One review per scope may wait at a time.
A scope is one the candidate may verify for (``login``, or an exam they reach:
the ``scope_of`` hook), and each account has at most :data:`MAX_PENDING`
photos waiting and :data:`MAX_PER_DAY` photos a day; the repository takes a
photo only within these bounds, in one transaction, so parallel uploads
cannot pass them together.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from exams.identity.accounts import Account, AccountRepository, Role
from exams.identity.verification import FAILURES_FOR_REVIEW, VerificationService
from exams.shared.errors import (
    Conflict,
    ExamcastError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyRequests,
    UnsupportedMediaType,
)
from exams.shared.personal import ID_TYPES
from exams.shared.ports import AuditLog, Clock, Entry, Event

MIN_PHOTO_BYTES = 1024
MAX_PENDING = 3  # photos of one account waiting for staff, all scopes together
MAX_PER_DAY = 10  # photos one account may submit in 24 hours
DAY_S = 24 * 3600
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)


def sniff_image(data: bytes) -> tuple[str, str]:
    """(media type, file suffix) of a JPEG or PNG, judged by its magic bytes."""
    for magic, media_type, suffix in _SIGNATURES:
        if data.startswith(magic):
            return media_type, suffix
    raise UnsupportedMediaType("upload the photo as a JPEG or PNG image")


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Review:
    id: str
    account_id: str
    scope: str
    photo_file: str
    photo_type: str
    photo_bytes: int
    submitted_at: float
    state: ReviewState = ReviewState.PENDING
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "review_id": self.id,
            "scope": self.scope,
            "state": self.state.value,
            "submitted_at": self.submitted_at,
            "decided_at": self.decided_at,
            "note": self.note,
            "photo_type": self.photo_type,
            "photo_bytes": self.photo_bytes,
        }


class ReviewRepository(Protocol):
    async def add(self, review: Review) -> None: ...

    async def add_within(
        self, review: Review, max_pending: int, max_since: int, since: float
    ) -> str | None:
        """Add ``review`` unless, in the same transaction, its account already has a review
        of its scope pending (``"scope"``), ``max_pending`` pending reviews (``"pending"``) or
        ``max_since`` reviews submitted after ``since`` (``"day"``); what refused it, or None.
        """
        ...

    async def get(self, review_id: str) -> Review | None: ...

    async def pending_for(self, account_id: str, scope: str) -> Review | None: ...

    async def latest_for(self, account_id: str, scope: str) -> Review | None: ...

    async def in_state(self, state: ReviewState, limit: int) -> list[Review]: ...

    async def decide(self, review: Review) -> bool:
        """Store the decision if the review is still pending; False otherwise."""
        ...


class PhotoStore(Protocol):
    async def save(self, data: bytes, suffix: str) -> str:
        """Store durably under a new server-made name; return the name."""
        ...

    async def read(self, name: str) -> bytes: ...

    async def delete(self, name: str) -> None:
        """Remove a stored photo (one whose review was refused); gone already is fine."""
        ...


ScopeOf = Callable[[Account, str], Awaitable[str]]  # the checked scope, or raise


class Reviews:
    def __init__(
        self,
        repo: ReviewRepository,
        photos: PhotoStore,
        accounts: AccountRepository,
        verification: VerificationService,
        audit: AuditLog,
        clock: Clock,
        *,
        max_bytes: int,
        scope_of: ScopeOf,
        max_pending: int = MAX_PENDING,
        max_per_day: int = MAX_PER_DAY,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._repo = repo
        self._photos = photos
        self._accounts = accounts
        self._verification = verification
        self._audit = audit
        self._clock = clock
        self.max_bytes = max_bytes
        self._scope_of = scope_of
        self._max_pending = max_pending
        self._max_per_day = max_per_day
        self._new_id = new_id

    async def pending(self, account_id: str, scope: str) -> bool:
        return await self._repo.pending_for(account_id, scope) is not None

    async def status(self, account: Account, scope: str) -> dict[str, Any]:
        """Where the candidate stands with verification for ``scope``, review included."""
        scope = await self._scope_of(account, scope)
        state = await self._verification.state(account.id, scope)
        latest = await self._repo.latest_for(account.id, scope)
        pending = latest is not None and latest.state is ReviewState.PENDING
        out = self._verification.describe(state, pending)
        out["review"] = None if latest is None else latest.describe()
        return out

    async def submit(self, account: Account, scope: str, data: bytes, client: str) -> Review:
        scope = await self._scope_of(account, scope)
        state = await self._verification.state(account.id, scope)
        if state.passed_at is not None:
            raise Conflict("you have already passed verification for this", {"scope": scope})
        if state.failures < FAILURES_FOR_REVIEW:
            raise Conflict(
                "manual review is offered after three failed verifications in a row: "
                "try verification first",
                {"scope": scope},
            )
        if await self._repo.pending_for(account.id, scope) is not None:
            raise Conflict("your photo is waiting for review: you will see the decision here")
        if len(data) > self.max_bytes:
            raise TooLarge(f"the photo must be at most {self.max_bytes // (1024 * 1024)} MiB")
        if len(data) < MIN_PHOTO_BYTES:
            raise InvalidInput("this file is too small to be a photo: take the photo again")
        media_type, suffix = sniff_image(data)
        name = await self._photos.save(data, suffix)
        review = Review(
            self._new_id(), account.id, scope, name, media_type, len(data), self._clock()
        )
        refused = await self._repo.add_within(
            review, self._max_pending, self._max_per_day, review.submitted_at - DAY_S
        )
        if refused is not None:
            await self._photos.delete(name)
            raise self._over(refused)
        detail = {"scope": scope, "review": review.id}
        await self._audit.record(
            Entry(Event.REVIEW_SUBMITTED, account.id, client, detail, review.submitted_at)
        )
        return review

    def _over(self, bound: str) -> ExamcastError:
        if bound == "scope":
            return Conflict("your photo is waiting for review: you will see the decision here")
        if bound == "pending":
            return TooManyRequests(
                f"you have {self._max_pending} photos waiting for review: wait for a decision",
                {"limit": self._max_pending},
            )
        return TooManyRequests(
            f"at most {self._max_per_day} review photos a day: try again tomorrow",
            {"limit": self._max_per_day, "window_s": DAY_S},
        )

    async def _staff(self, staff: Account, client: str, what: str) -> None:
        if staff.role is not Role.STAFF_REVIEWER:
            await self._audit.record(
                Entry(Event.ACCESS_DENIED, staff.id, client, {"what": what}, self._clock())
            )
            raise Forbidden("only review staff can do this")

    async def queue(
        self,
        staff: Account,
        client: str,
        state: ReviewState = ReviewState.PENDING,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Reviews in ``state``, oldest first, with the candidate's registered details."""
        await self._staff(staff, client, "review_queue")
        out = []
        for review in await self._repo.in_state(state, limit):
            candidate = await self._accounts.get(review.account_id)
            item = review.describe()
            if candidate is not None:
                item["candidate"] = {
                    "name": candidate.name,
                    "id_type": ID_TYPES[candidate.id_type].describe(),
                    "id_number": candidate.id_number,
                }
            out.append(item)
        return out

    async def photo(self, staff: Account, review_id: str, client: str) -> tuple[bytes, Review]:
        await self._staff(staff, client, "review_photo")
        review = await self._get(review_id)
        try:
            return await self._photos.read(review.photo_file), review
        except FileNotFoundError as exc:
            raise NotFound("this review's photo is missing on the server") from exc

    async def decide(
        self, staff: Account, review_id: str, approve: bool, note: str, client: str
    ) -> Review:
        await self._staff(staff, client, "review_decision")
        review = await self._get(review_id)
        decided = Review(
            **{
                **review.__dict__,
                "state": ReviewState.APPROVED if approve else ReviewState.REJECTED,
                "decided_by": staff.id,
                "decided_at": self._clock(),
                "note": note or None,
            }
        )
        if not await self._repo.decide(decided):
            raise Conflict("this review was already decided", {"state": review.state.value})
        await self._verification.review_decided(review.account_id, review.scope, approve)
        await self._audit.record(
            Entry(
                Event.REVIEW_DECIDED,
                review.account_id,
                client,
                {"review": review.id, "approved": approve, "by": staff.id, "scope": review.scope},
                decided.decided_at or 0.0,
            )
        )
        return decided

    async def _get(self, review_id: str) -> Review:
        review = await self._repo.get(review_id)
        if review is None:
            raise NotFound("no such review")
        return review

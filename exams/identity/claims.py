"""Identity claims (身份申诉): the way back for a candidate whose ID number someone else
registered first.

Anyone who knows a candidate's name and ID number can register before them; the
real candidate then meets "an account with this ID number exists already". They
file a claim: their own phone (proved with a fresh SMS code), name, ID type and
number, the password they want, and a photo of themselves holding the ID card
(checked like a manual-review photo, stored under a server-made name). Staff
decide: a staff reviewer (any claim), or the admin of a unit whose admitted list
holds that ID number. The reviewer sees the photo, the registered account's
details, and for each such unit whether the list's name and phone number match
the claimant's (a unit that recorded the candidate's phone is strong evidence).

On approval, in one transaction, the squatting account loses the ID number (it
gets a marker in its place) and its password (it can no longer log in, nor reset
it), and the claimant's phone gets a new account with that ID number and the
password given in the claim; the squatter's sessions end. Every step is audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from exams.identity.accounts import (
    Account,
    AccountRepository,
    Registration,
    Role,
    validate_registration,
)
from exams.identity.admitted_csv import AdmittedEntry
from exams.identity.manual_reviews import MIN_PHOTO_BYTES, PhotoStore, sniff_image
from exams.identity.passwords import PasswordHasher
from exams.identity.sessions import Sessions
from exams.identity.sms import SmsCodes
from exams.shared import personal
from exams.shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from exams.shared.ports import AuditLog, Clock, Entry, Event

PURPOSE = "register"  # the claim's SMS code is a registration code for the claimant's phone
DISABLED_PASSWORD = "!released-by-identity-claim"


class ClaimState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Claim:
    id: str
    phone: str
    name: str
    id_type: str
    id_number: str
    photo_file: str
    photo_type: str
    photo_bytes: int
    submitted_at: float
    client: str | None
    password_hash: str = field(default="", repr=False)
    state: ClaimState = ClaimState.PENDING
    squatter_id: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    account_id: str | None = None  # the claimant's new account, once approved

    def describe(self) -> dict[str, Any]:
        return {
            "claim_id": self.id,
            "phone": personal.mask_phone(self.phone),
            "name": self.name,
            "id_type": personal.ID_TYPES[self.id_type].describe(),
            "id_number": self.id_number,
            "state": self.state.value,
            "submitted_at": self.submitted_at,
            "decided_at": self.decided_at,
            "note": self.note,
            "photo_type": self.photo_type,
            "photo_bytes": self.photo_bytes,
        }


@dataclass(frozen=True)
class ClaimForm:
    phone: str
    sms_code: str
    name: str
    id_type: str
    id_number: str
    password: str = field(repr=False)


class ClaimRepository(Protocol):
    async def add(self, claim: Claim) -> None:
        """Store; :class:`Conflict` when the phone has a pending claim already."""
        ...

    async def get(self, claim_id: str) -> Claim | None: ...

    async def in_state(self, state: ClaimState, limit: int) -> list[Claim]: ...

    async def reject(self, claim: Claim) -> bool:
        """Store the rejection if the claim is still pending."""
        ...

    async def approve(self, claim: Claim, released_number: str, new_account: Account) -> bool:
        """In one transaction, if the claim is still pending: store the decision; the
        squatter (``claim.squatter_id``, if any, still holding the ID) gets
        ``released_number`` and an unusable password; ``new_account`` is added."""
        ...


class AdmittedLists(Protocol):
    async def holding(self, id_type: str, id_number: str) -> dict[str, AdmittedEntry]: ...


class Claims:
    def __init__(
        self,
        repo: ClaimRepository,
        photos: PhotoStore,
        accounts: AccountRepository,
        lists: AdmittedLists,
        sms: SmsCodes,
        sessions: Sessions,
        hasher: PasswordHasher,
        audit: AuditLog,
        clock: Clock,
        *,
        max_bytes: int,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._repo = repo
        self._photos = photos
        self._accounts = accounts
        self._lists = lists
        self._sms = sms
        self._sessions = sessions
        self._hasher = hasher
        self._audit = audit
        self._clock = clock
        self.max_bytes = max_bytes
        self._new_id = new_id

    # -- the claimant ----------------------------------------------------------------------

    async def file(self, form: ClaimForm, photo: bytes, client: str) -> Claim:
        reg = _validate(form)
        if len(photo) > self.max_bytes:
            raise TooLarge(f"the photo must be at most {self.max_bytes // (1024 * 1024)} MiB")
        if len(photo) < MIN_PHOTO_BYTES:
            raise InvalidInput("this file is too small to be a photo: take the photo again")
        media_type, suffix = sniff_image(photo)
        await self._sms.consume(reg.phone, PURPOSE, reg.sms_code)
        if await self._accounts.by_phone(reg.phone) is not None:
            raise Conflict("this phone number already has an account", {"field": "phone"})
        squatter = await self._accounts.by_document(reg.id_type, reg.id_number)
        if squatter is None:
            raise Conflict(
                "no account holds this ID number: register instead", {"field": "id_number"}
            )
        name = await self._photos.save(photo, suffix)
        claim = Claim(
            id=self._new_id(),
            phone=reg.phone,
            name=reg.name,
            id_type=reg.id_type,
            id_number=reg.id_number,
            photo_file=name,
            photo_type=media_type,
            photo_bytes=len(photo),
            submitted_at=self._clock(),
            client=client,
            password_hash=await self._hasher.hash(reg.password),
            squatter_id=squatter.id,
        )
        await self._repo.add(claim)
        await self._record(
            Event.CLAIM_FILED,
            squatter.id,
            client,
            claim=claim.id,
            phone=personal.mask_phone(reg.phone),
        )
        return claim

    # -- staff -----------------------------------------------------------------------------

    async def _may_decide(self, staff: Account, claim: Claim, client: str, what: str) -> None:
        # Review staff only: a unit admin controls its own admitted list, so letting the
        # admin of a unit listing the ID number decide would let them take any identity.
        if staff.role is Role.STAFF_REVIEWER:
            return
        await self._record(Event.ACCESS_DENIED, staff.id, client, what=what, claim=claim.id)
        raise Forbidden("identity claims are decided by review staff")

    async def queue(
        self, staff: Account, client: str, state: ClaimState = ClaimState.PENDING
    ) -> list[dict[str, Any]]:
        """Claims in ``state``, oldest first, with the evidence (review staff only)."""
        if staff.role is not Role.STAFF_REVIEWER:
            await self._record(Event.ACCESS_DENIED, staff.id, client, what="claim_queue")
            raise Forbidden("only review staff see identity claims")
        out = []
        for claim in await self._repo.in_state(state, 200):
            holding = await self._lists.holding(claim.id_type, claim.id_number)
            out.append(await self._evidence(claim, holding))
        return out

    async def _evidence(self, claim: Claim, holding: dict[str, AdmittedEntry]) -> dict[str, Any]:
        item = claim.describe()
        squatter = (
            None if claim.squatter_id is None else await self._accounts.get(claim.squatter_id)
        )
        mine = personal.name_key(claim.name)
        item["registered_account"] = (
            None
            if squatter is None
            else {
                "account_id": squatter.id,
                "name": squatter.name,
                "phone": personal.mask_phone(squatter.phone),
                "created_at": squatter.created_at,
                "name_matches_claim": personal.name_key(squatter.name) == mine,
            }
        )
        item["admitted_lists"] = [
            {
                "unit_id": unit_id,
                "name_matches_claim": entry.name_key == mine,
                # None: the unit's list has no phone for this candidate.
                "phone_matches_claim": (entry.phone == claim.phone) if entry.phone else None,
                "phone_matches_registered_account": (
                    (entry.phone == squatter.phone) if entry.phone and squatter else None
                ),
            }
            for unit_id, entry in sorted(holding.items())
        ]
        return item

    async def photo(self, staff: Account, claim_id: str, client: str) -> tuple[bytes, Claim]:
        claim = await self._get(claim_id)
        await self._may_decide(staff, claim, client, "claim_photo")
        try:
            return await self._photos.read(claim.photo_file), claim
        except FileNotFoundError as exc:
            raise NotFound("this claim's photo is missing on the server") from exc

    async def decide(
        self, staff: Account, claim_id: str, approve: bool, note: str, client: str
    ) -> Claim:
        claim = await self._get(claim_id)
        await self._may_decide(staff, claim, client, "claim_decision")
        now = self._clock()
        decided = replace(
            claim,
            state=ClaimState.APPROVED if approve else ClaimState.REJECTED,
            decided_by=staff.id,
            decided_at=now,
            note=note or None,
        )
        if not approve:
            if not await self._repo.reject(decided):
                raise Conflict("this claim was already decided", {"state": claim.state.value})
            await self._decided(decided, staff, client)
            return decided
        if await self._accounts.by_phone(claim.phone) is not None:
            raise Conflict("the claimant's phone has an account now: reject this claim")
        account = Account(
            id=secrets.token_hex(10),
            phone=claim.phone,
            name=claim.name,
            id_type=claim.id_type,
            id_number=claim.id_number,
            role=Role.CANDIDATE,
            created_at=now,
            password_hash=claim.password_hash,
        )
        decided = replace(decided, account_id=account.id)
        if not await self._repo.approve(decided, f"released-{claim.id}", account):
            raise Conflict("this claim was already decided", {"state": claim.state.value})
        if claim.squatter_id is not None:
            ended = await self._sessions.revoke_all(claim.squatter_id)
            await self._record(
                Event.ACCOUNT_RELEASED,
                claim.squatter_id,
                client,
                claim=claim.id,
                by=staff.id,
                sessions_ended=ended,
            )
        await self._record(Event.REGISTERED, account.id, client, claim=claim.id)
        await self._decided(decided, staff, client)
        return decided

    async def _decided(self, claim: Claim, staff: Account, client: str) -> None:
        await self._record(
            Event.CLAIM_DECIDED,
            claim.squatter_id,
            client,
            claim=claim.id,
            approved=claim.state is ClaimState.APPROVED,
            by=staff.id,
            account=claim.account_id,
        )

    async def _get(self, claim_id: str) -> Claim:
        claim = await self._repo.get(claim_id)
        if claim is None:
            raise NotFound("no such identity claim")
        return claim

    async def _record(
        self, event: Event, account_id: str | None, client: str | None, **detail: Any
    ) -> None:
        await self._audit.record(Entry(event, account_id, client, detail, self._clock()))


def _validate(form: ClaimForm) -> ClaimForm:
    """The same fields and rules as a registration (a claim becomes one when approved)."""
    valid = validate_registration(
        Registration(
            form.phone, form.sms_code, form.name, form.id_type, form.id_number, form.password
        )
    )
    return ClaimForm(
        valid.phone, valid.sms_code, valid.name, valid.id_type, valid.id_number, valid.password
    )

"""Identity claims: the real candidate gets their ID number back from an account that
registered it first. Real repositories, real photo files, the injected clock."""

from __future__ import annotations

import asyncio

import pytest

from exams.admission.units import ListInfo
from exams.identity.accounts import Account, Registration, Role
from exams.identity.admitted_csv import AdmittedEntry
from exams.identity.claims import Claim, ClaimForm, ClaimState
from exams.shared.errors import Conflict, Forbidden, UnsupportedMediaType, WrongCredentials
from exams.shared.ports import Event
from storage.units import SqliteUnits
from tests.support.world import PASSWORD, World, resident_id

CLAIM_PASSWORD = "my-own-id-back-42"


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0" + b"\0" * 4096  # judged by its first bytes


async def register_code(w: World, phone: str) -> str:
    await w.s.sms.send(phone, "register", "c")
    message = w.s.outbox.latest(phone)
    assert message is not None and message.code is not None
    return message.code


async def squatted(w: World) -> tuple[Account, str]:
    """Someone registered 王芳's ID number with their own phone: (squatter, ID number)."""
    id_number = resident_id(777)
    squatter = await w.register("王芳", phone="13900000666", id_number=id_number)
    return squatter, id_number


async def file_claim(w: World, id_number: str, phone: str = "13800138000") -> Claim:
    code = await register_code(w, phone)
    form = ClaimForm(phone, code, "王芳", "resident_id", id_number, CLAIM_PASSWORD)
    return await w.s.claims.file(form, jpeg(), "real")


async def admitted_with_phone(w: World, unit_id: str, id_number: str, phone: str) -> None:
    repo = SqliteUnits(w.db)
    if await repo.get(unit_id) is None:
        await w.s.units.add(unit_id, f"Unit {unit_id}")
    entries = [AdmittedEntry("王芳", "resident_id", id_number, 2, phone)]
    await repo.replace_list(ListInfo(unit_id, w.clock(), "test", 1), entries)


async def test_the_real_candidate_claims_the_id_and_gets_an_account_on_approval(
    w: World,
) -> None:
    squatter, id_number = await squatted(w)
    _, squatter_token = await w.s.accounts.login(squatter.phone, PASSWORD, "squat")
    await admitted_with_phone(w, "10001", id_number, "13800138000")
    claim = await file_claim(w, id_number)
    assert claim.state is ClaimState.PENDING and claim.squatter_id == squatter.id
    assert claim.password_hash.startswith("$argon2id$")

    reviewer = await w.staff(Role.STAFF_REVIEWER)
    [item] = await w.s.claims.queue(reviewer, "r")
    assert item["registered_account"]["account_id"] == squatter.id
    assert item["admitted_lists"] == [
        {
            "unit_id": "10001",
            "name_matches_claim": True,
            "phone_matches_claim": True,
            "phone_matches_registered_account": False,
        }
    ]
    photo, _ = await w.s.claims.photo(reviewer, claim.id, "r")
    assert photo.startswith(b"\xff\xd8\xff")

    decided = await w.s.claims.decide(reviewer, claim.id, True, "list phone matches", "r")
    assert decided.state is ClaimState.APPROVED and decided.account_id
    new = await w.s.accounts.get(decided.account_id)
    assert (new.phone, new.id_number, new.name) == ("13800138000", id_number, "王芳")
    await w.s.accounts.login("13800138000", CLAIM_PASSWORD, "real")
    with pytest.raises(WrongCredentials):  # the squatter is closed
        await w.s.accounts.login(squatter.phone, PASSWORD, "squat")
    assert await w.s.accounts.account_for_token(squatter_token) is None
    released = await w.s.accounts.get(squatter.id)
    assert released.id_number == f"released-{claim.id}"
    with pytest.raises(Conflict):
        await w.s.claims.decide(reviewer, claim.id, False, "", "r")
    events = [e.event for e in await w.s.audit.recent(limit=500)]
    for event in (Event.CLAIM_FILED, Event.CLAIM_DECIDED, Event.ACCOUNT_RELEASED):
        assert event in events


async def test_registration_points_to_a_claim_and_a_claim_needs_a_held_id(w: World) -> None:
    _, id_number = await squatted(w)
    code = await register_code(w, "13800138000")
    with pytest.raises(Conflict) as taken:
        await w.s.accounts.register(
            Registration("13800138000", code, "王芳", "resident_id", id_number, CLAIM_PASSWORD),
            "real",
        )
    assert taken.value.details == {"field": "id_number", "claim": True}
    assert Event.ID_NUMBER_TAKEN in [e.event for e in await w.s.audit.recent()]
    w.clock.advance(61)
    with pytest.raises(Conflict, match="register instead"):
        await file_claim(w, resident_id(778))


async def test_claims_refuse_non_images_and_one_pending_claim_per_phone(w: World) -> None:
    _, id_number = await squatted(w)
    code = await register_code(w, "13800138000")
    form = ClaimForm("13800138000", code, "王芳", "resident_id", id_number, CLAIM_PASSWORD)
    with pytest.raises(UnsupportedMediaType):
        await w.s.claims.file(form, b"GIF89a" + b"\0" * 4096, "real")
    await w.s.claims.file(form, jpeg(), "real")  # the code was not spent on a refused file
    w.clock.advance(61)
    with pytest.raises(Conflict, match="waiting"):
        await file_claim(w, id_number)


async def test_only_review_staff_see_and_decide_claims(w: World) -> None:
    """Not even the admin of a unit listing the ID number: it controls that list."""
    _, id_number = await squatted(w)
    await admitted_with_phone(w, "10001", id_number, "")
    claim = await file_claim(w, id_number)
    reviewer = await w.staff(Role.STAFF_REVIEWER)
    listing = await w.staff(Role.UNIT_ADMIN, "10001")
    proctor = await w.staff(Role.PROCTOR)
    [seen] = await w.s.claims.queue(reviewer, "a")
    assert seen["claim_id"] == claim.id
    assert seen["admitted_lists"][0]["phone_matches_claim"] is None  # no phone on the list
    for outsider in (listing, proctor):
        with pytest.raises(Forbidden):
            await w.s.claims.queue(outsider, "a")
        with pytest.raises(Forbidden):
            await w.s.claims.decide(outsider, claim.id, True, "", "a")
    rejected = await w.s.claims.decide(reviewer, claim.id, False, "photo unclear", "a")
    assert rejected.state is ClaimState.REJECTED
    assert Event.ACCESS_DENIED in [e.event for e in await w.s.audit.recent(limit=500)]


async def test_parallel_decisions_move_the_id_once(w: World) -> None:
    squatter, id_number = await squatted(w)
    claim = await file_claim(w, id_number)
    reviewers = [await w.staff(Role.STAFF_REVIEWER) for _ in range(3)]
    results = await asyncio.gather(
        *(w.s.claims.decide(r, claim.id, True, "", "r") for r in reviewers),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Claim) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 2
    holder = await w.s.accounts.by_phone("13800138000")
    assert holder is not None and holder.id_number == id_number
    assert (await w.s.accounts.get(squatter.id)).id_number != id_number

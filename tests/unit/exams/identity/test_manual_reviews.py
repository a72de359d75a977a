"""Manual-review photos: only for scopes the candidate may verify for, one waiting per scope,
a few waiting per account and a bounded number a day, whatever arrives at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from exams.admission.journey import Step
from exams.identity.accounts import Account, Role
from exams.identity.manual_reviews import DAY_S, Review, Reviews
from exams.shared.errors import Conflict, NotFound, TooManyRequests
from storage.accounts import SqliteAccounts
from storage.exams import SqliteExams
from storage.files import PhotoFiles
from storage.verification import SqliteReviews
from tests.support.world import World
from tests.unit.exams.builders import exam_of, online

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 4096


async def fail_three_times(w: World, who: Account, scope: str) -> None:
    for _ in range(3):
        attempt = await w.s.verification.start(who, scope)
        await w.s.verification.answer(who, attempt["attempt_id"], {"answer": "nope!!"}, "c")


async def any_scope(account: Account, scope: str) -> str:
    return scope


def bounded(w: World, photos: Path, **bounds: Any) -> Reviews:
    """Reviews with small bounds and no scope check (the bounds alone are tested)."""
    return Reviews(
        SqliteReviews(w.db),
        PhotoFiles(photos),
        SqliteAccounts(w.db),
        w.s.verification,
        w.s.audit,
        w.clock,
        max_bytes=1024 * 1024,
        scope_of=any_scope,
        **bounds,
    )


def stored(photos: Path) -> list[str]:
    return sorted(p.name for p in photos.iterdir()) if photos.exists() else []


async def test_a_made_up_or_foreign_exam_scope_is_refused(w: World) -> None:
    who = await w.candidate_at(Step.EXAMS)
    await w.s.units.add("u1", "Other unit")
    theirs = exam_of(online())  # exam e1 of unit u1, not the candidate's unit
    await SqliteExams(w.db).save(theirs, w.clock())
    for scope in ("exam:made-up", "exam:e1"):
        await fail_three_times(w, who, scope)
        with pytest.raises(NotFound, match="no such exam"):
            await w.s.reviews.submit(who, scope, JPEG, "c")
        with pytest.raises(NotFound):
            await w.s.reviews.status(who, scope)
    assert (await w.s.reviews.status(who, "login"))["status"] == "passed"  # login: a scope


async def test_an_exam_of_the_candidates_unit_is_a_scope(w: World) -> None:
    who = await w.candidate_at(Step.EXAMS)
    mine = replace(exam_of(online()), unit_id="10001")  # the candidate's unit
    await SqliteExams(w.db).save(mine, w.clock())
    await fail_three_times(w, who, "exam:e1")
    review = await w.s.reviews.submit(who, "exam:e1", JPEG, "c")
    assert review.scope == "exam:e1"
    assert (await w.s.reviews.status(who, "exam:e1"))["status"] == "review_pending"


async def test_parallel_photos_for_one_scope_make_one_review(w: World, tmp_path: Path) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    photos = tmp_path / "photos"
    reviews = bounded(w, photos)
    await fail_three_times(w, who, "login")
    results = await asyncio.gather(
        *(reviews.submit(who, "login", JPEG, "c") for _ in range(8)), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, Review)]
    assert len(made) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Review)), results
    assert stored(photos) == [made[0].photo_file]  # the refused photos were deleted


async def test_pending_photos_per_account_are_bounded_under_parallel_uploads(
    w: World, tmp_path: Path
) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    photos = tmp_path / "photos"
    reviews = bounded(w, photos, max_pending=2)
    scopes = [f"exam:x{i}" for i in range(5)]
    for scope in scopes:
        await fail_three_times(w, who, scope)
    results = await asyncio.gather(
        *(reviews.submit(who, s, JPEG, "c") for s in scopes), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, Review)]
    refused = [r for r in results if isinstance(r, TooManyRequests)]
    assert (len(made), len(refused)) == (2, 3), results
    assert refused[0].details == {"limit": 2}
    assert len(stored(photos)) == 2


async def test_photos_a_day_are_bounded(w: World, tmp_path: Path) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    staff = await w.staff(Role.STAFF_REVIEWER)
    reviews = bounded(w, tmp_path / "photos", max_per_day=2)

    async def submit_and_reject() -> None:
        await fail_three_times(w, who, "login")
        review = await reviews.submit(who, "login", JPEG, "c")
        await reviews.decide(staff, review.id, False, "not readable", "c")

    await submit_and_reject()
    w.clock.advance(3600)
    await submit_and_reject()
    await fail_three_times(w, who, "login")
    with pytest.raises(TooManyRequests) as over:
        await reviews.submit(who, "login", JPEG, "c")
    assert over.value.details == {"limit": 2, "window_s": DAY_S}
    w.clock.advance(DAY_S - 3600)  # the first photo is a day old now
    assert (await reviews.submit(who, "login", JPEG, "c")).state.value == "pending"

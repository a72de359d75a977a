from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from exams.admission.journey import Step
from exams.identity.accounts import Account, Role
from exams.identity.manual_reviews import ReviewState
from exams.identity.verification import IdSuffixVerifier, VerificationService
from exams.shared.errors import (
    Conflict,
    Forbidden,
    ManualReviewRequired,
    NotFound,
    TooLarge,
    TooManyRequests,
    UnsupportedMediaType,
    VerificationRequired,
)
from exams.shared.ports import Event
from storage.verification import SqliteVerifications
from tests.support.world import World

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 4096


async def fail(w: World, who: Account, scope: str = "login") -> dict[str, object]:
    attempt = await w.s.verification.start(who, scope)
    return await w.s.verification.answer(who, attempt["attempt_id"], {"answer": "nope!!"}, "c")


async def test_the_right_answer_passes(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    attempt = await w.s.verification.start(who, "login")
    assert attempt["challenge"]["kind"] == "id_number_suffix"
    result = await w.s.verification.answer(
        who, attempt["attempt_id"], {"answer": who.id_number[-6:].lower()}, "c"
    )
    assert result["passed"] and result["status"] == "passed"
    with pytest.raises(Conflict):
        await w.s.verification.start(who, "login")


async def test_an_answered_attempt_cannot_be_answered_again(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    attempt = await w.s.verification.start(who, "login")
    await w.s.verification.answer(who, attempt["attempt_id"], {"answer": "x"}, "c")
    with pytest.raises(NotFound):
        await w.s.verification.answer(who, attempt["attempt_id"], {"answer": "x"}, "c")


async def test_attempts_expire_and_belong_to_their_account(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    other = await w.candidate_at(Step.VERIFY_IDENTITY)
    attempt = await w.s.verification.start(who, "login")
    with pytest.raises(NotFound):
        await w.s.verification.answer(other, attempt["attempt_id"], {"answer": "x"}, "c")
    w.clock.advance(300)
    with pytest.raises(NotFound):
        await w.s.verification.answer(who, attempt["attempt_id"], {"answer": "x"}, "c")


async def test_cancelling_means_a_one_minute_wait(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    attempt = await w.s.verification.start(who, "login")
    status = await w.s.verification.cancel(who, attempt["attempt_id"], "c")
    assert status["status"] == "waiting" and status["retry_after"] == 60
    w.clock.advance(59)
    with pytest.raises(TooManyRequests) as wait:
        await w.s.verification.start(who, "login")
    assert wait.value.details == {"retry_after": 1}
    w.clock.advance(1)
    await w.s.verification.start(who, "login")


async def test_three_failures_in_a_row_offer_manual_review(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    for _ in range(3):
        await fail(w, who)
    with pytest.raises(ManualReviewRequired):
        await w.s.verification.start(who, "login")
    assert (await w.s.reviews.status(who, "login"))["status"] == "manual_review"


async def test_a_pass_resets_the_count_of_failures(w: World) -> None:
    who = await w.candidate_at(Step.EXAMS)
    await fail(w, who, "exam:e1")
    await fail(w, who, "exam:e1")
    state = await w.s.verification.state(who.id, "exam:e1")
    assert state.failures == 2
    attempt = await w.s.verification.start(who, "exam:e1")
    await w.s.verification.answer(who, attempt["attempt_id"], {"answer": who.id_number[-6:]}, "c")
    assert (await w.s.verification.state(who.id, "exam:e1")).failures == 0


async def test_each_exam_needs_its_own_verification(w: World) -> None:
    who = await w.candidate_at(Step.EXAMS)
    with pytest.raises(VerificationRequired) as needed:
        await w.s.verification.require_verified(who, "e1")
    assert needed.value.details == {"scope": "exam:e1"}
    attempt = await w.s.verification.start(who, "exam:e1")
    await w.s.verification.answer(who, attempt["attempt_id"], {"answer": who.id_number[-6:]}, "c")
    await w.s.verification.require_verified(who, "e1")
    with pytest.raises(VerificationRequired):
        await w.s.verification.require_verified(who, "e2")


async def test_manual_review_approval_counts_as_verified(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    staff = await w.staff(Role.STAFF_REVIEWER)
    with pytest.raises(Conflict, match="after three failed"):
        await w.s.reviews.submit(who, "login", JPEG, "c")
    for _ in range(3):
        await fail(w, who)
    review = await w.s.reviews.submit(who, "login", JPEG, "c")
    assert review.photo_type == "image/jpeg" and review.photo_file.endswith(".jpg")
    with pytest.raises(Conflict, match="waiting"):
        await w.s.reviews.submit(who, "login", PNG, "c")
    assert (await w.s.reviews.status(who, "login"))["status"] == "review_pending"
    queue = await w.s.reviews.queue(staff, "c")
    assert [r["review_id"] for r in queue] == [review.id]
    assert queue[0]["candidate"]["id_number"] == who.id_number
    data, _ = await w.s.reviews.photo(staff, review.id, "c")
    assert data == JPEG
    decided = await w.s.reviews.decide(staff, review.id, True, "", "c")
    assert decided.state is ReviewState.APPROVED
    assert (await w.s.reviews.status(who, "login"))["passed_by"] == "manual_review"
    with pytest.raises(Conflict, match="already decided"):
        await w.s.reviews.decide(staff, review.id, False, "", "c")


async def test_rejection_gives_three_more_tries(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    staff = await w.staff(Role.STAFF_REVIEWER)
    for _ in range(3):
        await fail(w, who)
    review = await w.s.reviews.submit(who, "login", PNG, "c")
    await w.s.reviews.decide(staff, review.id, False, "the ID card is not readable", "c")
    status = await w.s.reviews.status(who, "login")
    assert status["status"] == "ready" and status["review"]["note"] == "the ID card is not readable"
    await w.s.verification.start(who, "login")


async def test_photos_are_checked_by_magic_bytes_and_size(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    for _ in range(3):
        await fail(w, who)
    with pytest.raises(UnsupportedMediaType):
        await w.s.reviews.submit(who, "login", b"GIF89a" + b"\0" * 4096, "c")
    with pytest.raises(UnsupportedMediaType):
        await w.s.reviews.submit(who, "login", b"<svg>" + b" " * 4096, "c")
    with pytest.raises(TooLarge):
        await w.s.reviews.submit(who, "login", JPEG + b"\0" * 300 * 1024, "c")


async def test_only_review_staff_see_the_queue(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    with pytest.raises(Forbidden):
        await w.s.reviews.queue(who, "c")


async def test_an_attempt_answered_many_times_at_once_is_judged_once(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    attempt = await w.s.verification.start(who, "login")
    results = await asyncio.gather(
        *(
            w.s.verification.answer(who, attempt["attempt_id"], {"answer": f"{i:06d}"}, "c")
            for i in range(30)
        ),
        return_exceptions=True,
    )
    judged = [r for r in results if isinstance(r, dict)]
    assert len(judged) == 1 and not judged[0]["passed"]
    assert all(isinstance(r, NotFound) for r in results if not isinstance(r, dict))
    assert (await w.s.verification.state(who.id, "login")).failures == 1
    events = [e.event for e in await w.s.audit.recent(account_id=who.id)]
    assert events.count(Event.VERIFICATION_FAILED) == 1


async def test_cancelling_while_answering_does_not_erase_the_failure(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    await fail(w, who)
    await fail(w, who)
    attempt = await w.s.verification.start(who, "login")
    results: list[object] = list(
        await asyncio.gather(
            w.s.verification.answer(who, attempt["attempt_id"], {"answer": "nope!!"}, "c"),
            w.s.verification.cancel(who, attempt["attempt_id"], "c"),
            return_exceptions=True,
        )
    )
    answered, cancelled = results
    assert isinstance(answered, dict) != isinstance(cancelled, dict)  # one of them, not both
    state = await w.s.verification.state(who.id, "login")
    assert state.failures == (3 if isinstance(answered, dict) else 2)


class VendorDown(IdSuffixVerifier):
    async def check(self, account: Account, response: Mapping[str, Any]) -> bool:
        raise ConnectionError("the face-check vendor did not answer")


async def test_a_checker_that_fails_to_answer_costs_no_try(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    service = VerificationService(SqliteVerifications(w.db), VendorDown(), w.s.audit, w.clock)
    attempt = await service.start(who, "login")
    with pytest.raises(ConnectionError):
        await service.answer(who, attempt["attempt_id"], {"answer": "x"}, "c")
    assert (await service.state(who.id, "login")).failures == 0

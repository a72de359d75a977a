from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from exams.admission.journey import Step
from exams.identity.accounts import Account, Role
from exams.identity.manual_reviews import ReviewState
from exams.identity.verification import (
    IdSuffixVerifier,
    Verdict,
    VerificationService,
    Verifier,
    VerifierUnavailable,
)
from exams.identity.verification_results import Evidence
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
from exams.shared.objects import ObjectStoreError
from exams.shared.ports import Event
from storage.objects import LocalObjects
from storage.verification import SqliteVerificationResults, SqliteVerifications
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
    async def check(
        self, account: Account, attempt_id: str, response: Mapping[str, Any]
    ) -> Verdict:
        raise VerifierUnavailable("the face-check service did not answer: try again")


def service_with(w: World, verifier: Verifier) -> VerificationService:
    return VerificationService(
        SqliteVerifications(w.db),
        verifier,
        w.s.audit,
        w.clock,
        results=SqliteVerificationResults(w.db),
        evidence=w.s.evidence,
    )


async def test_a_checker_that_fails_to_answer_costs_no_try(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    service = service_with(w, VendorDown())
    attempt = await service.start(who, "login")
    with pytest.raises(VerifierUnavailable) as refused:
        await service.answer(who, attempt["attempt_id"], {"answer": "x"}, "c")
    assert refused.value.code == "verifier_unavailable"
    assert (await service.state(who.id, "login")).failures == 0
    assert await SqliteVerificationResults(w.db).for_account(who.id) == []  # nothing judged
    again = await service.start(who, "login")  # at once, a new attempt
    assert again["attempt_id"] != attempt["attempt_id"]


class Judged(IdSuffixVerifier):
    """A checker that keeps two frames as evidence, and counts its calls."""

    def __init__(self, reference: bool = True) -> None:
        self.calls = 0
        self.reference = reference

    async def ready(self, account: Account) -> str | None:
        return None if self.reference else "no_reference"

    async def check(
        self, account: Account, attempt_id: str, response: Mapping[str, Any]
    ) -> Verdict:
        self.calls += 1
        await asyncio.sleep(0)  # parallel answers meet here
        verdict = await super().check(account, attempt_id, response)
        frames = (JPEG + b"1", JPEG + b"2")
        return Verdict(verdict.passed, 0.31, "test-model 1.0", verdict.reason, frames)


async def test_each_judged_answer_keeps_score_model_reason_and_evidence(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    service = service_with(w, Judged())
    attempt = await service.start(who, "login")
    result = await service.answer(who, attempt["attempt_id"], {"answer": "nope!!"}, "c")
    assert result["passed"] is False and result["reason"] == "wrong_answer"
    [kept] = await SqliteVerificationResults(w.db).for_account(who.id, "login")
    assert (kept.passed, kept.score, kept.model, kept.reason) == (
        False,
        0.31,
        "test-model 1.0",
        "wrong_answer",
    )
    assert kept.attempt_id == attempt["attempt_id"] and len(kept.evidence) == 2
    assert await w.s.evidence.read(kept.evidence[1]) == JPEG + b"2"
    assert (await service.results(who.id))[0]["evidence"] == 2


async def test_parallel_answers_to_one_attempt_are_judged_once(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    checker = Judged()
    service = service_with(w, checker)
    attempt = await service.start(who, "login")
    answers = await asyncio.gather(
        *(
            service.answer(who, attempt["attempt_id"], {"answer": who.id_number[-6:]}, "c")
            for _ in range(8)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(a, dict) for a in answers) == 1
    assert all(isinstance(a, NotFound) for a in answers if not isinstance(a, dict))
    assert checker.calls == 1
    assert len(await SqliteVerificationResults(w.db).for_account(who.id)) == 1


async def test_no_reference_photo_goes_to_manual_review_at_once(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    service = service_with(w, Judged(reference=False))
    with pytest.raises(ManualReviewRequired) as refused:
        await service.start(who, "login")
    assert refused.value.details == {"scope": "login", "reason": "no_reference"}
    state = await service.state(who.id, "login")
    assert service.describe(state)["status"] == "manual_review"
    # The manual-review photo is accepted as after three failures.
    review = await w.s.reviews.submit(who, "login", JPEG, "c")
    assert review.state is ReviewState.PENDING


async def test_evidence_is_deleted_by_the_retention_rule(w: World) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    service = service_with(w, Judged())
    old = await service.start(who, "login")
    await service.answer(who, old["attempt_id"], {"answer": "nope!!"}, "c")
    w.clock.advance(29 * 86400)
    new = await service.start(who, "login")
    await service.answer(who, new["attempt_id"], {"answer": "nope!!"}, "c")
    results = SqliteVerificationResults(w.db)
    before = {r.attempt_id: r.evidence for r in await results.for_account(who.id)}
    w.clock.advance(1.5 * 86400)  # the first is 30.5 days old, the second 1.5
    assert await w.s.evidence_retention.purge() == 1
    after = {r.attempt_id: r for r in await results.for_account(who.id)}
    assert after[old["attempt_id"]].evidence == ()
    assert after[old["attempt_id"]].score == 0.31  # the record stays
    assert after[new["attempt_id"]].evidence == before[new["attempt_id"]]
    for key in before[old["attempt_id"]]:
        with pytest.raises(FileNotFoundError):
            await w.s.evidence.read(key)
    assert await w.s.evidence.read(before[new["attempt_id"]][0]) == JPEG + b"1"
    assert await w.s.evidence_retention.purge() == 0


class BrokenStore(LocalObjects):
    async def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None:
        raise ObjectStoreError("the object store is unreachable")


async def test_a_store_that_fails_loses_the_frames_not_the_judgement(
    w: World, tmp_path: Path
) -> None:
    who = await w.candidate_at(Step.VERIFY_IDENTITY)
    service = VerificationService(
        SqliteVerifications(w.db),
        Judged(),
        w.s.audit,
        w.clock,
        results=SqliteVerificationResults(w.db),
        evidence=Evidence(BrokenStore(tmp_path)),
    )
    attempt = await service.start(who, "login")
    result = await service.answer(who, attempt["attempt_id"], {"answer": who.id_number[-6:]}, "c")
    assert result["passed"] is True
    [kept] = await SqliteVerificationResults(w.db).for_account(who.id)
    assert kept.passed and kept.evidence == () and kept.score == 0.31

"""The candidate's side of an exam (M3.1-M3.8): exam list, questions, and every step.

Every call checks, in this order: a candidate who has done the whole admission
journey (``403 step_required``), an exam of their chosen unit (``404``), and
real-person verification for this exam (``403 verification_required``); only
then are questions visible or changeable. Each step is a domain function run by
:class:`~exams.answering.attempt_runner.AttemptRunner` with the server's clock, so the
rules and their error messages are the domain's.

The server's camera rule: one question at a time reads or records. Files of
an answer are in :mod:`exams.uploads.answer_files`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from exams.admission.exam_access import ExamAccess
from exams.answering import presenters as views
from exams.answering.attempt_runner import AttemptRunner
from exams.answering.materials import attach_text
from exams.answering.offline import open_question, save_draft
from exams.answering.playback import Playback
from exams.answering.recording import begin_rehearsal, enter_formal, leave_rehearsal, stop_take
from exams.answering.submissions import choose_take, submit
from exams.catalog.attempts import Attempt, TakeKind, check_live, holds_camera, phase
from exams.catalog.catalog import ExamCatalog
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import QuestionMode
from exams.identity.accounts import Account
from exams.shared.errors import CameraBusy, Conflict, Forbidden, NotFound


class VerificationGate(Protocol):
    async def require_verified(self, account: Account, exam_id: str) -> None: ...

    async def passed_at(self, account_id: str, scope: str) -> float | None: ...


SyncStep = Callable[[Attempt, Exam, float], Attempt]


class Answering:
    def __init__(
        self,
        catalog: ExamCatalog,
        runner: AttemptRunner,
        access: ExamAccess,
        verification: VerificationGate,
        playback: Playback,
    ) -> None:
        self._playback = playback
        self._catalog = catalog
        self._runner = runner
        self._attempts = runner.attempts
        self.access = access
        self._verification = verification
        self._locks = runner.locks  # the same lock service, another key
        runner.add_admission_check(self._still_admitted)

    # -- reading ---------------------------------------------------------------------------

    async def exams(self, account: Account) -> dict[str, Any]:
        unit_id = await self._unit(account)
        now = self._runner.clock()
        attempts = await self._attempts.of_candidate(account.id)
        cards = []
        for exam in await self._catalog.for_unit(unit_id):
            verified = await self._verification.passed_at(account.id, f"exam:{exam.id}")
            cards.append(views.exam_card(exam, attempts, now, verified is not None))
        return {"now": now, "unit_id": unit_id, "exams": cards}

    async def exam(self, account: Account, exam_id: str) -> dict[str, Any]:
        exam = await self.exam_for(account, exam_id)
        attempts = await self._attempts.of_candidate(account.id, exam.id)
        return views.exam_page(exam, attempts, self._runner.clock())

    async def question(self, account: Account, exam_id: str, question_id: str) -> dict[str, Any]:
        exam = await self.exam_for(account, exam_id)
        question = exam.question(question_id)
        a = await self._attempts.find(exam.id, question.id, account.id)
        return views.question_page(exam, question, a, self._runner.clock())

    async def works(self, account: Account, exam_id: str, question_id: str) -> dict[str, Any]:
        exam = await self.exam_for(account, exam_id)
        s = exam.question(question_id).online
        a = await self._attempts.find(exam.id, question_id, account.id)
        return {
            "now": self._runner.clock(),
            "formal_playback_allowed": s.formal_playback_allowed,
            "chosen_take_id": None if a is None else a.chosen_take_id,
            "works": [] if a is None else views.works_view(a, s),
        }

    async def recording_state(self, account: Account) -> dict[str, Any]:
        """What the server is doing with this candidate's camera: for a page re-syncing."""
        await self._unit(account)
        now = self._runner.clock()
        active = []
        for a in await self._attempts.of_candidate(account.id):
            if phase(a, now) not in ("reading", "recording"):
                continue
            exam = await self._catalog.get(a.exam_id)
            if exam is None:
                continue
            card = views.question_card(exam, exam.question(a.question_id), a, now)
            active.append({"exam_id": exam.id, **card})
        return {"now": now, "active": active}

    # -- steps -----------------------------------------------------------------------------

    async def open(self, account: Account, exam_id: str, question_id: str) -> dict[str, Any]:
        return await self.step(account, exam_id, question_id, open_question, create=True)

    async def begin_rehearsal(self, account: Account, exam_id: str, qid: str) -> dict[str, Any]:
        return await self.step(account, exam_id, qid, begin_rehearsal, create=True, camera=True)

    async def leave_rehearsal(self, account: Account, exam_id: str, qid: str) -> dict[str, Any]:
        page = await self.step(account, exam_id, qid, lambda a, exam, now: leave_rehearsal(a))
        a = await self._attempts.find(exam_id, qid, account.id)
        if a is not None:
            await self._playback.left(a)
        return page

    async def enter_formal(self, account: Account, exam_id: str, qid: str) -> dict[str, Any]:
        return await self.step(account, exam_id, qid, enter_formal, create=True, camera=True)

    async def start_take(
        self, account: Account, exam_id: str, question_id: str, kind: TakeKind
    ) -> dict[str, Any]:
        """Start recording by hand: reading time unlimited, or starting early."""
        exam = await self.exam_for(account, exam_id)

        async def step(a: Attempt, now: float) -> Attempt:
            return await self._runner.start_media(a, exam, kind, now, by_server=False)

        a = await self._camera_step(
            account,
            exam,
            question_id,
            lambda: self._runner.run(exam, question_id, account.id, step),
        )
        return self.page(exam, a)

    async def stop_take(
        self, account: Account, exam_id: str, question_id: str, take_id: str
    ) -> dict[str, Any]:
        """Stop by hand; the stored take comes back with the page. Never continued after."""
        exam = await self.exam_for(account, exam_id)

        async def step(a: Attempt, now: float) -> Attempt:
            return stop_take(a, take_id, now, "stopped")

        await self._runner.run(exam, question_id, account.id, step)
        media = await self._runner.stop_media(take_id, "stopped", account.owner)
        a = await self._attempts.find(exam.id, question_id, account.id)
        assert a is not None
        return {**self.page(exam, a), "take": None if media is None else media.summary()}

    async def choose(
        self, account: Account, exam_id: str, qid: str, take_id: str
    ) -> dict[str, Any]:
        return await self.step(
            account, exam_id, qid, lambda a, exam, now: choose_take(a, exam, take_id, now)
        )

    async def set_text(
        self, account: Account, exam_id: str, qid: str, key: str, text: str
    ) -> dict[str, Any]:
        return await self.step(
            account, exam_id, qid, lambda a, exam, now: attach_text(a, exam, key, text, now)
        )

    async def save(self, account: Account, exam_id: str, qid: str) -> dict[str, Any]:
        return await self.step(account, exam_id, qid, save_draft)

    async def submit(self, account: Account, exam_id: str, qid: str) -> dict[str, Any]:
        return await self.step(account, exam_id, qid, submit)

    # -- the second camera (pairing.service.AttemptGate) -----------------------------------

    async def second_camera_attempt(self, account: Account, exam_id: str, qid: str) -> Attempt:
        """The live attempt of a question that needs a second camera (需二机位)."""
        exam = await self.exam_for(account, exam_id)
        question = exam.question(qid)
        if question.mode is not QuestionMode.ONLINE or not question.online.second_camera_required:
            raise Conflict("this question does not use a second camera (需二机位)")
        return await self.live(
            exam, qid, account, "tap Rehearse (排练) or Formal answer (正式答题) first"
        )

    async def check_attempt_live(self, attempt_id: str) -> None:
        """Raise unless the attempt can still be recorded: its candidate still reaches the
        exam, and it is not submitted, not closed."""
        a = await self._attempts.get(attempt_id)
        if a is None:
            raise NotFound("this question's answer no longer exists")
        exam = await self.access.exam_of(a.candidate_id, a.exam_id)
        check_live(a, exam, self._runner.clock())

    # -- helpers ---------------------------------------------------------------------------

    async def _still_admitted(self, a: Attempt) -> bool:
        """The server's own steps (a reading time running out) follow the admitted list too."""
        try:
            await self.access.exam_of(a.candidate_id, a.exam_id)
        except (Forbidden, NotFound):
            return False
        return True

    async def _unit(self, account: Account) -> str:
        return await self.access.unit_of(account)

    async def exam_for(self, account: Account, exam_id: str) -> Exam:
        """The exam, if the candidate reaches it now (:mod:`exams.admission.exam_access`) and passed
        real-person verification for it."""
        exam = await self.access.exam(account, exam_id)
        await self._verification.require_verified(account, exam.id)
        return exam

    async def live(self, exam: Exam, qid: str, account: Account, first: str) -> Attempt:
        a = await self._attempts.find(exam.id, qid, account.id)
        if a is None:
            raise Conflict(first)
        check_live(a, exam, self._runner.clock())
        return a

    async def _one_at_a_time(self, account: Account, exam: Exam, question_id: str) -> None:
        """The camera serves one question at a time: refuse while another reads or records.

        Called under the candidate x exam camera lock; storage holds the rule too (a unique
        index on the attempt that holds the camera), for a race this lock cannot see."""
        now = self._runner.clock()
        for a in await self._attempts.of_candidate(account.id, exam.id):
            if a.question_id == question_id:
                continue
            if phase(a, now) in ("reading", "recording"):
                raise _busy(exam, a.question_id)
            if holds_camera(a):  # its time ran out and no timer has settled it yet
                await self._runner.run(exam, a.question_id, account.id)

    async def _camera_step(
        self, account: Account, exam: Exam, question_id: str, run: Callable[[], Awaitable[Attempt]]
    ) -> Attempt:
        """Check the one-question rule and run the step as one, per candidate x exam."""
        async with self._locks.hold(f"camera:{account.id}:{exam.id}"):
            await self._one_at_a_time(account, exam, question_id)
            try:
                return await run()
            except CameraBusy:  # another process took the camera meanwhile: name its question
                for a in await self._attempts.of_candidate(account.id, exam.id):
                    if a.question_id != question_id and holds_camera(a):
                        raise _busy(exam, a.question_id) from None
                raise

    async def step(
        self,
        account: Account,
        exam_id: str,
        question_id: str,
        fn: SyncStep,
        *,
        create: bool = False,
        camera: bool = False,
    ) -> dict[str, Any]:
        exam = await self.exam_for(account, exam_id)

        async def step(a: Attempt, now: float) -> Attempt:
            return fn(a, exam, now)

        def run() -> Awaitable[Attempt]:
            return self._runner.run(exam, question_id, account.id, step, create=create)

        a = await (self._camera_step(account, exam, question_id, run) if camera else run())
        return self.page(exam, a)

    def page(self, exam: Exam, a: Attempt) -> dict[str, Any]:
        question = exam.question(a.question_id)
        return views.question_page(exam, question, a, self._runner.clock())


def _busy(exam: Exam, question_id: str) -> CameraBusy:
    other = exam.question(question_id)
    return CameraBusy(
        f"question {other.order} ({other.title}) is being read or recorded; finish it first",
        {"question_id": other.id},
    )

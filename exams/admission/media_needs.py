"""Which exam's sound and picture a camera's connection is negotiated for (#18).

A page sends its offer before any take starts, so the server picks the media
profile (:class:`exams.catalog.media_profile.MediaProfile`) when it answers:

- the question page names its exam: that exam's profile, if the candidate
  reaches it now;
- a phone as the second camera is bound to an attempt: that attempt's exam;
- the device check names none: the most demanding of the exams of the unit the
  candidate chose (the default before a unit is chosen).

A name the candidate cannot reach gets the default profile rather than an
error: the profile tunes a recording, it grants nothing, and the media must not
fail over a journey step (the take's own start checks access).
"""

from __future__ import annotations

import logging
from typing import Protocol

from exams.admission.exam_access import AccountSource, ExamAccess
from exams.admission.journey import Progress
from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.catalog.media_profile import DEFAULT, MediaProfile, strictest
from exams.identity.accounts import Account
from exams.shared.errors import ExamcastError

log = logging.getLogger(__name__)


class JourneyProgress(Protocol):
    async def progress(self, account: Account) -> Progress: ...


class UnitExams(Protocol):
    async def get(self, exam_id: str) -> Exam | None: ...

    async def for_unit(self, unit_id: str) -> list[Exam]: ...


class AttemptSource(Protocol):
    async def get(self, attempt_id: str) -> Attempt | None: ...


class MediaNeeds:
    def __init__(
        self,
        access: ExamAccess,
        journey: JourneyProgress,
        exams: UnitExams,
        accounts: AccountSource,
        attempts: AttemptSource,
    ) -> None:
        self._attempts = attempts
        self._access = access
        self._journey = journey
        self._exams = exams
        self._accounts = accounts

    async def profile(
        self, owner: str, exam_id: str | None = None, attempt_id: str | None = None
    ) -> MediaProfile:
        """The profile for ``owner``'s camera: of the exam of ``attempt_id`` (a second
        camera's attempt, bound by the server), else of ``exam_id`` (named by the page),
        else of the candidate's unit."""
        try:
            if attempt_id is not None:
                attempt = await self._attempts.get(attempt_id)
                exam = None if attempt is None else await self._exams.get(attempt.exam_id)
                return exam.media if exam is not None else DEFAULT
            if exam_id is not None:
                return (await self._access.exam_of(owner, exam_id)).media
            account = await self._accounts.get(owner)
            if account is None:
                return DEFAULT
            unit_id = (await self._journey.progress(account)).unit_id
            if unit_id is None:
                return DEFAULT
            return strictest([e.media for e in await self._exams.for_unit(unit_id)])
        except ExamcastError as exc:
            log.info("media profile for %s: the default (%s)", owner, exc)
            return DEFAULT

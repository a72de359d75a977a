"""How a resumable upload ends: complete (a whole file of the answer), refused (its
bytes failed a check: nothing of them is kept) or expired (its time ran out, M4.1).

Each is safe to run again: a crash at any point of :meth:`UploadEndings.complete`
leaves the bytes either still in the upload store or already among the
answer's files, and the next run (or the sweep at start-up) finishes the job.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from exams.answering.attempt_runner import AttemptRunner
from exams.answering.pending_files import complete_file, drop_file
from exams.catalog.attempts import Attempt
from exams.catalog.exam_ports import ExamSource
from exams.catalog.exam_rules import Exam
from exams.catalog.filetypes import HEAD_BYTES, sniff
from exams.shared.errors import Gone, InvalidInput, NotFound, UnsupportedMediaType, UploadExpired
from exams.uploads.answer_files import FileInspector
from exams.uploads.ports import (
    AnswerFileStore,
    Upload,
    UploadData,
    UploadLocks,
    UploadRecords,
    UploadState,
)

log = logging.getLogger(__name__)


class UploadEndings:
    def __init__(
        self,
        runner: AttemptRunner,
        exams: ExamSource,
        records: UploadRecords,
        data: UploadData,
        locks: UploadLocks,
        files: AnswerFileStore,
        inspector: FileInspector,
    ) -> None:
        self._runner = runner
        self._clock = runner.clock
        self._exams = exams
        self._records = records
        self._data = data
        self._locks = locks
        self._files = files
        self._inspector = inspector

    async def check_head(self, upload: Upload) -> None:
        """The first bytes have arrived: refuse a file whose content is not its format now,
        not after the last byte."""
        try:
            sniff(await self._data.head(upload.id, HEAD_BYTES), upload.format)
        except UnsupportedMediaType as exc:
            await self.refuse(upload, exc.message)
            raise

    async def complete(self, upload: Upload, exam: Exam) -> Upload:
        """Check the whole file, make it a file of the answer. Safe to run again after a
        crash at any point."""
        if await self._data.size(upload.id) is not None:
            try:
                sniff(await self._data.head(upload.id, HEAD_BYTES), upload.format)
                await self._inspector.inspect(
                    self._data.path(upload.id), upload.format, upload.kind
                )
            except (UnsupportedMediaType, InvalidInput) as exc:
                await self.refuse(upload, exc.message)
                raise
            await self._files.adopt(
                upload.attempt_id, upload.id, upload.format, self._data.path(upload.id)
            )
        elif not await self._files.exists(upload.attempt_id, upload.id, upload.format):
            raise Gone("this upload's data is gone; upload the file again")

        async def mark(a: Attempt, now: float) -> Attempt:
            return complete_file(a, exam, upload.id, now)

        try:
            await self._runner.run(exam, upload.question_id, upload.candidate_id, mark)
        except (Gone, UploadExpired) as exc:
            await self._files.remove(upload.attempt_id, upload.id, upload.format)
            expired = isinstance(exc, UploadExpired)
            state = UploadState.EXPIRED if expired else UploadState.TERMINATED
            await self._records.set_state(upload.id, state, self._clock(), exc.message)
            raise
        now = self._clock()
        await self._records.set_state(upload.id, UploadState.COMPLETE, now)
        await self._locks.forget(upload.id)
        log.info("upload %s complete: %d bytes of .%s", upload.id, upload.length, upload.format)
        return replace(upload, state=UploadState.COMPLETE, updated_at=now)

    async def refuse(self, upload: Upload, message: str) -> None:
        """The bytes failed a check: delete them and drop the file from the answer."""
        await self._data.remove(upload.id)
        await self._files.remove(upload.attempt_id, upload.id, upload.format)
        await self._records.set_state(upload.id, UploadState.REFUSED, self._clock(), message)
        await self._drop(upload)
        log.info("upload %s refused: %s", upload.id, message)

    async def expire(self, upload: Upload, exam: Exam) -> None:
        """Its time ran out: delete the bytes, drop the file from the answer."""
        async with self._locks.hold(upload.id, None):
            await self._data.remove(upload.id)
        await self._locks.forget(upload.id)
        await self._records.set_state(upload.id, UploadState.EXPIRED, self._clock())
        await self._drop(upload, exam)

    async def _drop(self, upload: Upload, exam: Exam | None = None) -> None:
        exam = exam or await self._exams.get(upload.exam_id)
        if exam is None:
            return

        async def drop(a: Attempt, now: float) -> Attempt:
            return drop_file(a, upload.id)

        try:
            await self._runner.run(exam, upload.question_id, upload.candidate_id, drop)
        except NotFound:
            pass

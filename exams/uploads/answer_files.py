"""Files of an answer: offline answer files (M3.6) and the file materials of an online
answer (M3.2), checked before, during and after their bytes arrive.

Before: the question, its format list, the count, and ``Content-Length``
against the size limit. During: the body is streamed to disk and refused the
moment it passes the limit (:class:`FileStore`). After: its first bytes must
match its format (:func:`exams.catalog.filetypes.sniff`), then one locked domain step
(:func:`exams.answering.offline.add_file` / :func:`exams.answering.materials.attach_file`) checks
everything again. The attempt is not locked while the bytes arrive: a long
upload must not hold up a timer. A refused file is deleted.

This is the bounded single-request upload; resumable uploads (tus,
:mod:`exams.uploads.resumable`) end in the same place: a :class:`FileRef` of the
attempt, its bytes checked by the same :class:`FileInspector`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from exams.answering.answering import Answering
from exams.answering.attempt_runner import AttemptRunner
from exams.answering.materials import attach_file, detach_material
from exams.answering.offline import add_file, remove_file
from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.exam_rules import Exam
from exams.catalog.file_names import checked_name, file_format
from exams.catalog.filetypes import sniff
from exams.identity.accounts import Account
from exams.shared.errors import Conflict, InvalidInput, TooLarge

Chunks = AsyncIterable[bytes]
SyncStep = Callable[[Attempt, Exam, float], Attempt]


@dataclass(frozen=True)
class StoredFile:
    id: str
    size: int
    head: bytes  # the first bytes, for exams.catalog.filetypes.sniff


class FileStore(Protocol):
    async def save(self, folder: str, fmt: str, chunks: Chunks, limit: int) -> StoredFile: ...

    async def remove(self, folder: str, file_id: str, fmt: str) -> None: ...

    def path(self, folder: str, file_id: str, fmt: str) -> Path: ...

    async def keep(self, folder: str, file_id: str, fmt: str) -> None:
        """The file passed its checks: it is kept (in the object store too, when set)."""
        ...


class FileInspector(Protocol):
    """Checks a whole stored file beyond its first bytes (``media.file_check``): a video
    or audio file PyAV can read, a PDF that is one, an image of bounded size."""

    async def inspect(self, path: Path, fmt: str, kind: str) -> None:
        """Raise :class:`UnsupportedMediaType` saying what is wrong, if anything."""
        ...


class AnswerFileUploads:
    def __init__(
        self,
        answering: Answering,
        runner: AttemptRunner,
        files: FileStore,
        inspector: FileInspector,
    ) -> None:
        self._answering = answering
        self._runner = runner
        self._attempts = runner.attempts
        self._files = files
        self._inspector = inspector
        self._pending_listeners: list[Callable[[str], Awaitable[None]]] = []

    def add_pending_listener(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """``listener(file_id)`` when a pending file (a resumable upload) leaves an answer."""
        self._pending_listeners.append(listener)

    async def upload_file(
        self,
        account: Account,
        exam_id: str,
        qid: str,
        name: str,
        chunks: Chunks,
        length: int | None,
    ) -> dict[str, Any]:
        """An offline answer file (M3.6): streamed with the question's size limit."""
        exam = await self._answering.exam_for(account, exam_id)
        rule = exam.question(qid).offline.files
        a = await self._answering.live(exam, qid, account, "open the question before adding files")
        fmt = file_format(checked_name(name), rule.formats)
        if len(a.files) >= rule.max_count:
            raise Conflict(
                f"this question takes at most {rule.max_count} file(s); remove one first"
            )
        ref = await self._store(a.id, name, fmt, chunks, length, rule.max_bytes)
        return await self._attach(account, exam, qid, ref, lambda a, e, n: add_file(a, e, ref, n))

    async def upload_material(
        self,
        account: Account,
        exam_id: str,
        qid: str,
        key: str,
        name: str,
        chunks: Chunks,
        length: int | None,
    ) -> dict[str, Any]:
        """A file for one of the extra materials of an online answer (M3.2)."""
        exam = await self._answering.exam_for(account, exam_id)
        rule = exam.question(qid).online.material(key)
        if rule.is_text or rule.max_bytes is None:
            raise InvalidInput(f"material {key!r} is text; type it instead of uploading a file")
        a = await self._answering.live(
            exam, qid, account, "enter the formal answer before adding materials"
        )
        if a.entered_at is None:
            raise Conflict("enter the formal answer (正式答题) before adding materials")
        fmt = file_format(checked_name(name), rule.formats)
        if sum(1 for m in a.materials if m.key == key) >= rule.max_count:
            raise Conflict(f"material {key!r} takes at most {rule.max_count} file(s)")
        ref = await self._store(a.id, name, fmt, chunks, length, rule.max_bytes)
        return await self._attach(
            account, exam, qid, ref, lambda a, e, n: attach_file(a, e, key, ref, n)
        )

    async def remove_file(
        self, account: Account, exam_id: str, qid: str, file_id: str
    ) -> dict[str, Any]:
        exam = await self._answering.exam_for(account, exam_id)
        before = await self._attempts.find(exam.id, qid, account.id)
        page = await self._answering.step(
            account, exam_id, qid, lambda a, e, now: remove_file(a, e, file_id, now)
        )
        if before is not None:
            for f in before.files:
                if f.id == file_id:
                    await self._forget(before.id, f)
        return page

    async def remove_material(
        self, account: Account, exam_id: str, qid: str, key: str, file_id: str | None = None
    ) -> dict[str, Any]:
        """Remove a material's text, or one (``file_id``) or all of its files."""
        exam = await self._answering.exam_for(account, exam_id)
        before = await self._attempts.find(exam.id, qid, account.id)
        page = await self._answering.step(
            account, exam_id, qid, lambda a, e, now: detach_material(a, e, key, now, file_id)
        )
        if before is not None:
            for m in before.materials:
                if m.key == key and m.file is not None and file_id in (None, m.file.id):
                    await self._forget(before.id, m.file)
        return page

    async def _forget(self, folder: str, f: FileRef) -> None:
        if f.pending:
            for listener in self._pending_listeners:
                await listener(f.id)
        await self._files.remove(folder, f.id, f.format)

    async def _store(
        self, folder: str, name: str, fmt: str, chunks: Chunks, length: int | None, limit: int
    ) -> FileRef:
        if length is not None and length > limit:
            raise TooLarge(f"the file must be at most {limit} bytes", {"limit": limit})
        stored = await self._files.save(folder, fmt, chunks, limit)
        try:
            kind = sniff(stored.head, fmt)
            await self._inspector.inspect(self._files.path(folder, stored.id, fmt), fmt, kind)
        except BaseException:
            await self._files.remove(folder, stored.id, fmt)
            raise
        await self._files.keep(folder, stored.id, fmt)
        return FileRef(stored.id, kind, fmt, stored.size, name=name)

    async def _attach(
        self, account: Account, exam: Exam, qid: str, ref: FileRef, fn: SyncStep
    ) -> dict[str, Any]:
        async def step(a: Attempt, now: float) -> Attempt:
            return fn(a, exam, now)

        try:
            a = await self._runner.run(exam, qid, account.id, step)
        except Exception:
            found = await self._attempts.find(exam.id, qid, account.id)
            if found is not None:
                await self._files.remove(found.id, ref.id, ref.format)
            raise
        return self._answering.page(exam, a)

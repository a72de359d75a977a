"""Resumable uploads of answer files (tus 1.0; M3.6, M3.7, M4.1-M4.3).

An upload is created *for* a file of the candidate's answer: an offline
question's files, or a file material of an online question's formal answer.
At creation its declared name, size and format are checked against the
question's rules (format, kind, size, count), and it joins the answer as a
pending file (:mod:`exams.answering.pending_files`), so the answer can be saved and
submitted before every byte has arrived. The bytes then arrive in PATCHes,
one request at a time per upload, each appended at the offset the data file
has reached. Its first bytes are checked as soon as they are there (a
renamed file is refused after one chunk, not after a gigabyte); when the
last byte arrives the whole file is checked (:class:`FileInspector`), moved
among the answer's files and marked complete. A file that fails is dropped
from the answer and deleted: nothing of it is kept.

An upload whose every byte is here is completed by whichever request holds
its lock next, not only by the one that brought the last byte: that one may
be cut off (a newer request, a stall) or cancelled after writing it, and a
client told by HEAD that all its bytes are here sends nothing more. Under
the lock the record is read again, so it is completed once.

Pending files may complete until the answer's submission deadline, or, once
it is submitted, until the exam's upload deadline (exam end + two hours).
After that the upload is expired (HTTP 410) and a sweep deletes its bytes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from exams.answering.answering import Answering
from exams.answering.attempt_runner import AttemptRunner
from exams.answering.materials import attach_file
from exams.answering.offline import add_file
from exams.answering.pending_files import (
    find_file,
    require_in_time,
    upload_expiry,
)
from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.exam_ports import ExamSource
from exams.catalog.exam_rules import Exam
from exams.catalog.file_names import checked_name, file_format
from exams.catalog.filetypes import HEAD_BYTES, file_type
from exams.identity.accounts import Account
from exams.shared.errors import (
    ChecksumMismatch,
    Conflict,
    ExamcastError,
    Gone,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    TooLarge,
    UploadExpired,
    UploadInterrupted,
)
from exams.uploads.answer_files import AnswerFileUploads, FileInspector
from exams.uploads.endings import UploadEndings
from exams.uploads.fills import FILL_KIND, FillRequest, Fills
from exams.uploads.ports import (
    AnswerFileStore,
    Body,
    Checksum,
    Progress,
    Upload,
    UploadData,
    UploadLocks,
    UploadRecords,
    UploadState,
)

log = logging.getLogger(__name__)

_DEVICE_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True)
class NewUpload:
    """A creation request: ``Upload-Length`` and the decoded ``Upload-Metadata``."""

    length: int
    metadata: dict[str, str]
    raw_metadata: str


class ResumableUploads:
    def __init__(
        self,
        answering: Answering,
        runner: AttemptRunner,
        exams: ExamSource,
        uploads: AnswerFileUploads,
        records: UploadRecords,
        data: UploadData,
        locks: UploadLocks,
        files: AnswerFileStore,
        inspector: FileInspector,
        fills: Fills,
        *,
        max_bytes: int,
        idle_s: float,
        new_id: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self._answering = answering
        self._runner = runner
        self._clock = runner.clock
        self._exams = exams
        self._uploads = uploads
        self._records = records
        self._data = data
        self._locks = locks
        self._files = files
        self.max_bytes = max_bytes
        self._idle_s = idle_s
        self._new_id = new_id
        self._fills = fills
        self._endings = UploadEndings(runner, exams, records, data, locks, files, inspector)

    # -- the protocol ----------------------------------------------------------------------

    async def create(
        self,
        account: Account,
        request: NewUpload,
        body: Body | None = None,
        content_length: int | None = None,
        checksum: Checksum | None = None,
    ) -> Progress:
        """Creation (and creation-with-upload): a pending file of the answer."""
        meta = request.metadata
        if meta.get("kind") == FILL_KIND:
            return await self._create_fill(account, request, body, content_length, checksum)
        missing = [k for k in ("filename", "exam_id", "question_id") if not meta.get(k)]
        if missing:
            raise InvalidInput(
                "Upload-Metadata must name the file and the question it answers",
                {"fields": {k: "is required in Upload-Metadata" for k in missing}},
            )
        name = checked_name(meta["filename"])
        device_id, device_name = _device(meta)
        if request.length > self.max_bytes:
            raise TooLarge(
                f"the file is larger than this server takes ({self.max_bytes} bytes)",
                {"limit": self.max_bytes},
            )
        exam = await self._answering.exam_for(account, meta["exam_id"])
        question = exam.question(meta["question_id"])
        key = meta.get("material") or None
        if key is None:
            rule = question.offline.files
            formats, min_bytes, max_bytes = rule.formats, rule.min_bytes, rule.max_bytes
            first = "open the question before adding files"
        else:
            material = question.online.material(key)
            if material.is_text or material.max_bytes is None:
                raise InvalidInput(f"material {key!r} is text; type it instead of uploading")
            formats, min_bytes, max_bytes = material.formats, 1, material.max_bytes
            first = "enter the formal answer (正式答题) before adding materials"
        fmt = file_format(name, formats)
        kind = file_type(fmt).kind
        if request.length > max_bytes:
            raise TooLarge(
                f"the file is {request.length} bytes; this question takes at most {max_bytes}",
                {"limit": max_bytes},
            )
        if request.length < min_bytes:
            raise InvalidInput(
                f"the file is {request.length} bytes; it must be at least {min_bytes} bytes"
            )
        a = await self._answering.live(exam, question.id, account, first)
        now = self._clock()
        upload = Upload(
            id=self._new_id(),
            candidate_id=account.id,
            exam_id=exam.id,
            question_id=question.id,
            attempt_id=a.id,
            material=key,
            name=name,
            format=fmt,
            kind=kind,
            length=request.length,
            metadata=request.raw_metadata,
            device_id=device_id,
            device_name=device_name,
            state=UploadState.UPLOADING,
            created_at=now,
            updated_at=now,
        )
        ref = FileRef(upload.id, kind, fmt, request.length, pending=True, name=name)

        async def join(a: Attempt, now: float) -> Attempt:
            if key is None:
                return add_file(a, exam, ref, now)
            return attach_file(a, exam, key, ref, now)

        async with self._locks.hold(upload.id, None):  # the sweep keeps off until it is whole
            await self._data.create(upload.id)
            await self._records.add(upload)
            try:
                a = await self._runner.run(exam, question.id, account.id, join)
            except BaseException:
                await self._data.remove(upload.id)
                await self._records.delete(upload.id)
                raise
        expires = upload_expiry(a, exam)
        if body is None and upload.length > 0:
            return Progress(upload, 0, expires)
        try:
            return await self._patch(upload, exam, 0, body, content_length, checksum, expires)
        except (UploadInterrupted, ChecksumMismatch):  # created all the same: resume it
            size = await self._data.size(upload.id)
            return Progress(upload, size or 0, expires)

    async def head(self, account: Account, upload_id: str) -> Progress:
        upload = await self._mine(account, upload_id)
        if upload.state is UploadState.COMPLETE:
            return Progress(upload, upload.length, None)
        exam, expires = await self._in_time(upload)
        size = await self._data.size(upload.id)
        if _whole(upload, size, exam):  # "all here" must mean complete: the client stops
            async with self._locks.hold(upload.id, None):
                upload = await self._finish(await self._again(upload), exam)
            return Progress(upload, upload.length, None)
        return Progress(upload, upload.length if size is None else size, expires)

    async def patch(
        self,
        account: Account,
        upload_id: str,
        offset: int,
        body: Body,
        content_length: int | None,
        checksum: Checksum | None,
    ) -> Progress:
        upload = await self._mine(account, upload_id)
        if upload.state is UploadState.COMPLETE:
            if offset == upload.length and not content_length:
                return Progress(upload, upload.length, None)
            raise _mismatch(upload.length)
        exam, expires = await self._in_time(upload)
        return await self._patch(upload, exam, offset, body, content_length, checksum, expires)

    async def restart(self, account: Account, upload_id: str) -> Progress:
        """Send a pending file again from its first byte: the candidate lost the file the
        upload began with (文件异常) and has it again, as a copy the browser cannot match
        to the first. Allowed while the upload may complete, even once the answer is
        submitted (its file stays the same file: same declared name, format and size);
        what had arrived is deleted. One whose every byte arrived completes instead (409)."""
        upload = await self._mine(account, upload_id)
        exam, expires = await self._in_time(upload)
        async with self._locks.hold(upload.id, None):
            upload = await self._again(upload)
            size = await self._data.size(upload.id)
            whole = upload.state is UploadState.COMPLETE or _whole(upload, size, exam)
            if whole:  # every byte is here: nothing to send again, and nothing to delete
                await self._finish(upload, exam)
            if whole or size is None:
                raise Conflict("this file has arrived whole already; nothing to send again")
            await self._data.remove(upload.id)
            await self._data.create(upload.id)
        return Progress(upload, 0, expires)

    async def terminate(self, account: Account, upload_id: str) -> None:
        """Termination: the file leaves the answer (not once the answer is submitted)."""
        upload = await self._mine(account, upload_id)
        if upload.kind == FILL_KIND:
            pass  # a fill is no file of the answer: its bytes go, the take stays as it is
        elif upload.material is None:
            await self._uploads.remove_file(account, upload.exam_id, upload.question_id, upload.id)
        else:
            await self._uploads.remove_material(
                account, upload.exam_id, upload.question_id, upload.material, upload.id
            )
        await self.discard(upload.id)

    async def discard(self, upload_id: str) -> None:
        """Delete an upload's bytes (its file has left the answer)."""
        upload = await self._records.get(upload_id)
        async with self._locks.hold(upload_id, None):
            await self._data.remove(upload_id)
        await self._locks.forget(upload_id)
        if upload is not None and upload.state in (UploadState.UPLOADING, UploadState.COMPLETE):
            await self._records.set_state(upload_id, UploadState.TERMINATED, self._clock())

    # -- unfinished uploads (M4.2) ---------------------------------------------------------

    async def unfinished(self, account: Account, exam_id: str, device_id: str) -> dict[str, Any]:
        """This device's unfinished uploads with their progress, and which other devices
        still have some, until the exam's upload deadline."""
        exam = await self._answering.exam_for(account, exam_id)
        now = self._clock()
        attempts = {a.id: a for a in await self._runner.attempts.of_candidate(account.id, exam.id)}
        mine: list[dict[str, Any]] = []
        others: dict[str, dict[str, Any]] = {}
        for u in await self._records.uploading(account.id, exam.id):
            a = attempts.get(u.attempt_id)
            f = None if a is None else find_file(a, u.id)
            if a is None or f is None or not f.pending:
                continue
            expires = upload_expiry(a, exam)
            if now >= expires:
                continue
            if u.device_id != device_id:
                other = others.setdefault(u.device_id, {"device_name": u.device_name, "files": []})
                other["files"].append({"name": u.name, "question_id": u.question_id})
                continue
            size = await self._data.size(u.id)
            idle = await self._locks.idle_s(u.id)
            mine.append(
                {
                    "upload_id": u.id,
                    "url": u.url,
                    "question_id": u.question_id,
                    "material": u.material,
                    "name": u.name,
                    "format": u.format,
                    "kind": u.kind,
                    "length": u.length,
                    "offset": u.length if size is None else size,
                    "state": "uploading"
                    if idle is not None and idle < self._idle_s
                    else "interrupted",
                    "submitted": a.submitted,
                    "created_at": u.created_at,
                    "expires_at": expires,
                }
            )
        return {
            "now": now,
            "exam_id": exam.id,
            "upload_deadline": exam.upload_deadline,
            "this_device": mine,
            "other_devices": list(others.values()),
        }

    # -- housekeeping ----------------------------------------------------------------------

    async def sweep(self) -> int:
        """Finish what a crash interrupted, expire what ran out of time. Returns how many
        uploads changed."""
        changed = 0
        now = self._clock()
        open_ids = set()
        for u in await self._records.uploading():
            open_ids.add(u.id)
            if await self._locks.held(u.id):
                continue  # a request is at it
            try:
                changed += await self._sweep_one(u, now)
            except ExamcastError as exc:
                log.info("upload %s: %s", u.id, exc.message)
            except Exception:
                log.exception("upload %s could not be swept", u.id)
        for upload_id in await self._data.stored():
            if upload_id not in open_ids and not await self._locks.held(upload_id):
                changed += await self._remove_stray(upload_id)
        return changed

    async def _remove_stray(self, upload_id: str) -> int:
        """Bytes with no upload going on: a crash came between creating its file and its
        record, or after it ended. (Under its lock: a creation waits, or is waited for.)"""
        try:
            async with self._locks.hold(upload_id, None):
                record = await self._records.get(upload_id)
                if record is not None and record.state is UploadState.UPLOADING:
                    return 0
                await self._data.remove(upload_id)
                return 1
        except ExamcastError:  # a request came for it meanwhile: not stray
            return 0

    async def _sweep_one(self, u: Upload, now: float) -> int:
        if u.kind == FILL_KIND:
            return await self._sweep_fill(u)
        exam = await self._exams.get(u.exam_id)
        a = await self._runner.attempts.get(u.attempt_id)
        if exam is None or a is None or find_file(a, u.id) is None:
            await self.discard(u.id)  # its file left the answer
            return 1
        if now >= upload_expiry(a, exam):
            await self._endings.expire(u, exam)
            return 1
        size = await self._data.size(u.id)
        if size is None and not await self._files.exists(u.attempt_id, u.id, u.format):
            await self._endings.expire(u, exam)  # its bytes are lost: nothing to complete
            return 1
        if size in (None, u.length):  # every byte is there: a crash stopped the completion
            async with self._locks.hold(u.id, None):
                await self._finish(await self._again(u), exam)
            return 1
        return 0

    async def _sweep_fill(self, u: Upload) -> int:
        try:
            await self._fills.expiry(u.metadata, u.candidate_id)
        except ExamcastError:  # its time is over, or its take is gone
            async with self._locks.hold(u.id, None):
                await self._data.remove(u.id)
            await self._locks.forget(u.id)
            await self._records.set_state(u.id, UploadState.EXPIRED, self._clock())
            return 1
        if await self._data.size(u.id) == u.length:  # a crash stopped the completion
            async with self._locks.hold(u.id, None):
                await self._finish(await self._again(u), None)
            return 1
        return 0

    # -- fills (issue #14) -----------------------------------------------------------------

    async def _create_fill(
        self,
        account: Account,
        request: NewUpload,
        body: Body | None,
        content_length: int | None,
        checksum: Checksum | None,
    ) -> Progress:
        """A fill of a take's hole from the page's local copy (:mod:`exams.uploads.fills`)."""
        fill = FillRequest.parse(request.metadata)
        device_id, device_name = _device(request.metadata)
        if request.length > self.max_bytes:
            raise TooLarge(
                f"the fill is larger than this server takes ({self.max_bytes} bytes)",
                {"limit": self.max_bytes},
            )
        if request.length <= fill.head_size:
            raise InvalidInput("a fill is its head and then its tail: longer than head_size")
        target = await self._fills.target(account.owner, fill)
        now = self._clock()
        upload = Upload(
            id=self._new_id(),
            candidate_id=account.id,
            exam_id=target.exam_id,
            question_id=target.question_id,
            attempt_id=target.attempt_id,
            material=None,
            name=f"fill-{fill.take_id}-{fill.camera}",
            format="mp4" if fill.mime.startswith("video/mp4") else "webm",
            kind=FILL_KIND,
            length=request.length,
            metadata=request.raw_metadata,
            device_id=device_id,
            device_name=device_name,
            state=UploadState.UPLOADING,
            created_at=now,
            updated_at=now,
        )
        async with self._locks.hold(upload.id, None):
            await self._data.create(upload.id)
            await self._records.add(upload)
        if body is None:
            return Progress(upload, 0, target.expires_at)
        try:
            return await self._patch(
                upload, None, 0, body, content_length, checksum, target.expires_at
            )
        except (UploadInterrupted, ChecksumMismatch):
            size = await self._data.size(upload.id)
            return Progress(upload, size or 0, target.expires_at)

    async def _complete_fill(self, upload: Upload) -> Upload:
        """Every byte of a fill arrived: place it in its take, or refuse it (nothing of it
        is kept, the take is unchanged)."""
        try:
            await self._fills.complete(
                upload.metadata, upload.candidate_id, self._data.path(upload.id)
            )
        except ExamcastError as exc:
            state = UploadState.EXPIRED if isinstance(exc, Gone) else UploadState.REFUSED
            await self._data.remove(upload.id)
            await self._records.set_state(upload.id, state, self._clock(), exc.message)
            await self._locks.forget(upload.id)
            log.info("fill %s refused: %s", upload.id, exc.message)
            raise
        await self._data.remove(upload.id)
        now = self._clock()
        await self._records.set_state(upload.id, UploadState.COMPLETE, now)
        await self._locks.forget(upload.id)
        log.info("fill %s placed: %d bytes", upload.id, upload.length)
        return replace(upload, state=UploadState.COMPLETE, updated_at=now)

    async def _in_time(self, upload: Upload) -> tuple[Exam | None, float]:
        """The upload's exam (None for a fill) and until when it may continue."""
        if upload.kind == FILL_KIND:
            return None, await self._fills.expiry(upload.metadata, upload.candidate_id)
        exam, a = await self._context(upload)
        return exam, require_in_time(a, exam, self._clock())

    # -- inside ----------------------------------------------------------------------------

    async def _patch(
        self,
        upload: Upload,
        exam: Exam | None,
        offset: int,
        body: Body | None,
        content_length: int | None,
        checksum: Checksum | None,
        expires: float,
    ) -> Progress:
        if content_length is not None and offset + content_length > upload.length:
            raise TooLarge(
                f"this upload is {upload.length} bytes long; the body goes past its end",
                {"limit": upload.length - offset},
            )
        async with self._locks.hold(upload.id, body) as watched:
            upload = await self._again(upload)
            size = await self._data.size(upload.id)
            if upload.state is UploadState.COMPLETE or _whole(upload, size, exam):
                upload = await self._finish(upload, exam)  # if the request before did not
                if offset == upload.length and not content_length:
                    return Progress(upload, upload.length, None)
                raise _mismatch(upload.length)
            if size is None:
                raise _mismatch(upload.length)  # a fill's bytes are gone
            if size != offset:
                raise _mismatch(size)
            new = size
            if body is not None:
                new = await self._append(upload, watched, size, checksum)
            head_end = min(HEAD_BYTES, upload.length)
            if new == upload.length:
                return Progress(await self._finish(upload, exam), new, None)
            if offset < head_end <= new and exam is not None:
                await self._endings.check_head(upload)
        return Progress(upload, new, expires)

    async def _append(
        self, upload: Upload, body: Body, size: int, checksum: Checksum | None
    ) -> int:
        """Append the body to the ``size`` bytes there; the new size."""
        try:
            return await self._data.append(upload.id, body, upload.length - size, checksum)
        except UploadInterrupted:
            # Cut off (a newer request, a stall) after the last byte had arrived, as it
            # read on for the body's end: the file is whole all the same, so it completes.
            if await self._data.size(upload.id) != upload.length:
                raise
            return upload.length

    async def _finish(self, upload: Upload, exam: Exam | None) -> Upload:
        """Complete an upload whose every byte is here (under its lock, as its record is
        now: one complete already is left as it is)."""
        if upload.state is UploadState.COMPLETE:
            return upload
        if exam is None:
            return await self._complete_fill(upload)
        return await self._endings.complete(upload, exam)

    async def _again(self, upload: Upload) -> Upload:
        """The upload's record read again under its lock: what the request before left."""
        return _open(await self._records.get(upload.id))

    async def _mine(self, account: Account, upload_id: str) -> Upload:
        """The candidate's own upload; anyone else's is "not found" (ASVS 8.2.2)."""
        upload = await self._records.get(upload_id)
        if upload is not None and upload.candidate_id != account.id:
            upload = None
        upload = _open(upload)
        if upload.exam_id:  # a fill of a take outside an exam has none
            await self._answering.access.exam(account, upload.exam_id)  # still on the list?
        return upload

    async def _context(self, upload: Upload) -> tuple[Exam, Attempt]:
        exam = await self._exams.get(upload.exam_id)
        a = await self._runner.attempts.get(upload.attempt_id)
        if exam is None or a is None:
            raise Gone("the answer this upload was for is gone")
        return exam, a


def _open(upload: Upload | None) -> Upload:
    """An upload still to be reached: uploading or complete (a refused or expired one
    raises what happened to it; a terminated one is not found)."""
    if upload is None or upload.state is UploadState.TERMINATED:
        raise NotFound("no such upload")
    if upload.state is UploadState.REFUSED:
        raise Gone(f"this file was refused: {upload.message}", {"reason": upload.message})
    if upload.state is UploadState.EXPIRED:
        raise UploadExpired("this upload has expired; its time to complete is over")
    return upload


def _whole(upload: Upload, size: int | None, exam: Exam | None) -> bool:
    """Every byte of an uploading file is here: in its data file, or (a file of the
    answer) already moved among the answer's files by a completion that did not end."""
    return size == upload.length or (size is None and exam is not None)


def _mismatch(offset: int) -> OffsetMismatch:
    return OffsetMismatch(
        f"this upload has {offset} bytes; ask for its offset (HEAD) and continue from there",
        {"offset": offset},
    )


def _device(meta: dict[str, str]) -> tuple[str, str]:
    device_id = meta.get("device_id", "")
    if len(device_id) > 64 or not set(device_id) <= _DEVICE_ID_CHARS:
        raise InvalidInput(
            "device_id must be up to 64 letters, digits, '-' or '_'",
            {"fields": {"device_id": "must be up to 64 letters, digits, '-' or '_'"}},
        )
    name = " ".join(meta.get("device_name", "").split())[:100]
    return device_id, name or "another device"

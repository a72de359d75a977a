"""What a resumable upload is, and what :mod:`exams.uploads.resumable` needs of storage.

``storage.uploads.SqliteUploads`` keeps the records, ``storage.tus_store.TusStore``
the bytes (append-only, its size on disk is the offset) and
``storage.upload_locks.UploadLocks`` the one request at a time per upload.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote


class UploadState(StrEnum):
    UPLOADING = "uploading"  # bytes may still arrive
    COMPLETE = "complete"  # every byte arrived and passed the checks: a file of the answer
    REFUSED = "refused"  # the bytes failed a check; nothing of them is kept
    EXPIRED = "expired"  # its time ran out (M4.1) before every byte arrived
    TERMINATED = "terminated"  # the candidate removed it


@dataclass(frozen=True)
class Upload:
    """One resumable upload of one file, for one answer (an offline question's files or a
    file material of an online one). Its id is also the file's id in the answer."""

    id: str
    candidate_id: str
    exam_id: str
    question_id: str
    attempt_id: str
    material: str | None  # the material's key; None: an offline answer file
    name: str  # the candidate's file name, for people only
    format: str
    kind: str
    length: int  # Upload-Length, declared at creation
    metadata: str  # Upload-Metadata as sent, returned by HEAD
    device_id: str
    device_name: str
    state: UploadState
    created_at: float
    updated_at: float
    message: str | None = None  # why it was refused

    @property
    def url(self) -> str:
        """Where the upload continues: ``c=`` routes HEAD and PATCH to the node its creation
        reached, the candidate's node (decision 0026; the bytes are on that node's disk)."""
        return f"/api/uploads/{self.id}?c={quote(self.candidate_id, safe='')}"


@dataclass(frozen=True)
class Checksum:
    """``Upload-Checksum``: the digest a PATCH body must have."""

    algorithm: str  # a hashlib name: sha1, sha256, md5
    digest: bytes


@dataclass(frozen=True)
class Progress:
    """Where an upload stands after a request: its offset and until when it may continue."""

    upload: Upload
    offset: int
    expires_at: float | None  # None once complete


class Body(Protocol):
    """A request body as it arrives."""

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at the end. Raises when the connection breaks."""
        ...

    def cut(self, exc: Exception) -> None:
        """Make the next :meth:`read` raise ``exc`` (a newer request took over)."""
        ...


class UploadRecords(Protocol):
    async def add(self, upload: Upload) -> None: ...

    async def get(self, upload_id: str) -> Upload | None: ...

    async def delete(self, upload_id: str) -> None: ...

    async def set_state(
        self, upload_id: str, state: UploadState, now: float, message: str | None = None
    ) -> None: ...

    async def uploading(
        self, candidate_id: str | None = None, exam_id: str | None = None
    ) -> list[Upload]:
        """Uploads still in state ``uploading`` (of one candidate and exam, if given)."""
        ...


class UploadData(Protocol):
    async def create(self, upload_id: str) -> None: ...

    async def size(self, upload_id: str) -> int | None:
        """The bytes received so far (the offset); None when there is no data file."""
        ...

    async def append(
        self, upload_id: str, body: Body, limit: int, checksum: Checksum | None
    ) -> int:
        """Append ``body`` (at most ``limit`` bytes), fsync, return the new size. A body that
        breaks off keeps what arrived (without a checksum) and re-raises."""
        ...

    async def head(self, upload_id: str, n: int) -> bytes: ...

    def path(self, upload_id: str) -> Path: ...

    async def remove(self, upload_id: str) -> None: ...

    async def stored(self) -> list[str]:
        """The ids of every upload with bytes (or a stray checksum chunk) on disk."""
        ...


class UploadLocks(Protocol):
    def hold(self, upload_id: str, body: Body | None) -> AbstractAsyncContextManager[Body]:
        """One request at a time per upload; a newer one cuts the older one off and waits
        for it to let go. Yields ``body`` watched for activity (and stalls)."""
        ...

    async def held(self, upload_id: str) -> bool:
        """Whether a request holds (or waits for) the upload now (on any node sharing them)."""
        ...

    async def idle_s(self, upload_id: str) -> float | None:
        """Seconds since bytes of this upload last arrived; None if none did in this run."""
        ...

    async def forget(self, upload_id: str) -> None: ...


class AnswerFileStore(Protocol):
    """Where a complete upload goes: the answer's files (``storage.answer_files``)."""

    async def adopt(self, folder: str, file_id: str, fmt: str, source: Path) -> None: ...

    async def remove(self, folder: str, file_id: str, fmt: str) -> None: ...

    async def exists(self, folder: str, file_id: str, fmt: str) -> bool: ...


Json = dict[str, Any]

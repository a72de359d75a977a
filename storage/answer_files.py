"""Answer files on local disk: offline answers and material files (implements
``exams.answering.answering.FileStore``).

A body is streamed to a ``.part`` file with a byte limit checked as it arrives
(the rest is never read), fsynced, then renamed. Names are made by the server
(random hex plus a format the question rules allow), one folder per attempt,
never taken from the client. Disk work runs in a thread. A finished
resumable upload (``storage.tus_store``) is moved in by :meth:`AnswerFiles.adopt`
under the same layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterable
from pathlib import Path

from exams.catalog.filetypes import HEAD_BYTES
from exams.shared.errors import NotFound, TooLarge
from exams.shared.objects import FileShipping
from exams.uploads.answer_files import StoredFile

_ID = re.compile(r"[0-9a-f]{32}")
_FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FORMAT = re.compile(r"[a-z0-9]{1,10}")
# A segment file, maybe in its camera's folder (``secondary/segment-000.webm``).
_SEGMENT = re.compile(r"(?:[a-z]{1,16}/)?[A-Za-z0-9_-]{1,64}\.[a-z0-9]{1,5}")
FLUSH_BYTES = 1024 * 1024


class AnswerFiles:
    """Answer files under ``directory``; also locates recorded segments for downloads
    (``exams.answering.submission_review.FilePaths``)."""

    def __init__(
        self, directory: Path, recordings_dir: Path, objects: FileShipping | None = None
    ) -> None:
        self._dir = directory
        self._recordings = recordings_dir
        self._objects = objects  # storage_url set: a kept file goes to the object store

    def path(self, folder: str, file_id: str, fmt: str) -> Path:
        if not (_FOLDER.fullmatch(folder) and _ID.fullmatch(file_id) and _FORMAT.fullmatch(fmt)):
            raise NotFound("no such file")
        return self._dir / folder / f"{file_id}.{fmt}"

    def segment_path(self, take_id: str, name: str) -> Path:
        if not (_FOLDER.fullmatch(take_id) and _SEGMENT.fullmatch(name)):
            raise NotFound("no such recording file")
        return self._recordings / take_id / name

    async def save(
        self, folder: str, fmt: str, chunks: AsyncIterable[bytes], limit: int
    ) -> StoredFile:
        file_id = secrets.token_hex(16)
        final = self.path(folder, file_id, fmt)
        part = final.with_suffix(final.suffix + ".part")
        fd = await asyncio.to_thread(_create, part)
        size = 0
        head = b""
        pending = bytearray()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the file must be at most {limit} bytes", {"limit": limit})
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                pending += chunk
                if len(pending) >= FLUSH_BYTES:
                    data, pending = bytes(pending), bytearray()
                    await asyncio.to_thread(_write_all, fd, data)
        except BaseException:
            await asyncio.to_thread(_abandon, fd, part)
            raise
        try:
            await asyncio.to_thread(_finish, fd, bytes(pending), part, final)
        except BaseException:
            await asyncio.to_thread(part.unlink, True)
            raise
        return StoredFile(file_id, size, head)

    async def remove(self, folder: str, file_id: str, fmt: str) -> None:
        path = self.path(folder, file_id, fmt)
        await asyncio.to_thread(path.unlink, True)
        if self._objects is not None:
            await self._objects.unship(path)

    async def exists(self, folder: str, file_id: str, fmt: str) -> bool:
        path = self.path(folder, file_id, fmt)
        if await asyncio.to_thread(path.is_file):
            return True
        return self._objects is not None and await self._objects.shipped(path)

    async def keep(self, folder: str, file_id: str, fmt: str) -> None:
        """A file that passed its checks: to the object store (its SHA-256 that of the file
        written here, checked as it goes up), when there is one."""
        if self._objects is not None:
            await self._objects.ship(self.path(folder, file_id, fmt))

    async def adopt(self, folder: str, file_id: str, fmt: str, source: Path) -> None:
        """Make a finished resumable upload (already fsynced and checked) this answer's
        file: a rename on the same disk, then the folders are fsynced; then kept."""
        await asyncio.to_thread(_adopt, source, self.path(folder, file_id, fmt))
        await self.keep(folder, file_id, fmt)


def _create(part: Path) -> int:
    part.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _finish(fd: int, rest: bytes, part: Path, final: Path) -> None:
    """Write the rest, fsync, close (always), then rename and fsync the folder."""
    try:
        _write_all(fd, rest)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(part, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _adopt(source: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.rename(source, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copyfile(source, final)  # another disk: copy, fsync, then let go of the source
        fd = os.open(final, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        source.unlink()
    for folder in {final.parent, source.parent}:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _abandon(fd: int, part: Path) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
    part.unlink(missing_ok=True)

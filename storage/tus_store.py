"""The bytes of resumable uploads, the tusd way (implements ``exams.uploads.ports.UploadData``).

One append-only data file per upload, named by the server (``<32 hex>``) in one
folder: its size on disk *is* the upload's offset, so there is no second
record of it to disagree after a crash. A PATCH body is streamed through a
bounded buffer (never read whole into memory), appended in a worker thread,
and fsynced before the request is answered; a body that breaks off keeps
what arrived (fsynced too) and the client resumes from there.

A body with ``Upload-Checksum`` is written beside the data (``<id>.chunk``)
while it is hashed, and appended only once its digest matches: a mismatch or
a body that breaks off leaves the data file as it was, and a crash at any
point leaves at worst a stray ``.chunk`` that the next request discards.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from exams.shared.errors import ChecksumMismatch, NotFound, TooLarge
from exams.uploads.ports import Body, Checksum

_ID = re.compile(r"[0-9a-f]{32}")
BUFFER_BYTES = 1024 * 1024  # written to disk in pieces this big
COPY_BYTES = 8 * 1024 * 1024
Writer = Callable[[bytearray], None]


class TusStore:
    def __init__(self, directory: Path, buffer_bytes: int = BUFFER_BYTES) -> None:
        self._dir = directory
        self._buffer = buffer_bytes

    def path(self, upload_id: str) -> Path:
        if not _ID.fullmatch(upload_id):
            raise NotFound("no such upload")
        return self._dir / upload_id

    async def create(self, upload_id: str) -> None:
        await asyncio.to_thread(_create, self.path(upload_id))

    async def size(self, upload_id: str) -> int | None:
        return await asyncio.to_thread(_size, self.path(upload_id))

    async def head(self, upload_id: str, n: int) -> bytes:
        return await asyncio.to_thread(_head, self.path(upload_id), n)

    async def remove(self, upload_id: str) -> None:
        path = self.path(upload_id)
        await asyncio.to_thread(_remove, path, _chunk(path))

    async def stored(self) -> list[str]:
        return await asyncio.to_thread(_stored, self._dir)

    async def append(
        self, upload_id: str, body: Body, limit: int, checksum: Checksum | None
    ) -> int:
        path = self.path(upload_id)
        if checksum is None:
            return await self._append(path, body, limit)
        return await self._append_checked(path, body, limit, checksum)

    async def _append(self, path: Path, body: Body, limit: int) -> int:
        fd = await asyncio.to_thread(_open_append, path)
        try:
            start = os.fstat(fd).st_size
            try:
                await _pump(body, limit, self._buffer, lambda data: _write_all(fd, data))
            except TooLarge:
                await asyncio.to_thread(_truncate, fd, start)  # nothing of it appended
                raise
            finally:  # also when the body broke off: what arrived stays, on disk
                await asyncio.to_thread(os.fsync, fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    async def _append_checked(self, path: Path, body: Body, limit: int, checksum: Checksum) -> int:
        chunk = _chunk(path)
        digest = hashlib.new(checksum.algorithm)
        fd = await asyncio.to_thread(_open_chunk, chunk)
        try:

            def write(data: bytearray) -> None:
                digest.update(data)
                _write_all(fd, data)

            await _pump(body, limit, self._buffer, write)
            if digest.digest() != checksum.digest:
                raise ChecksumMismatch(
                    f"the body does not match its {checksum.algorithm} checksum; nothing of it "
                    "was kept: send it again"
                )
            return await asyncio.to_thread(_move_in, fd, path)
        finally:
            os.close(fd)
            await asyncio.to_thread(chunk.unlink, True)


async def _pump(body: Body, limit: int, buffer: int, write: Writer) -> None:
    """Read ``body`` into a bounded buffer and hand each full buffer to ``write`` in a
    thread, reading the next one meanwhile (two buffers at most); past ``limit`` bytes
    raise :class:`TooLarge`. What was read before the body broke off is written before
    the error goes on."""
    pending = bytearray()
    writing: asyncio.Future[None] | None = None
    total = 0
    try:
        while True:
            data = await body.read()
            if not data:
                break
            total += len(data)
            if total > limit:
                pending.clear()
                raise TooLarge(
                    f"the body goes past the end of the upload ({limit} bytes were left)",
                    {"limit": limit},
                )
            pending += data
            if len(pending) >= buffer:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(asyncio.to_thread(write, pending))
                pending = bytearray()
    finally:
        if writing is not None:
            await writing
        if pending:
            await asyncio.to_thread(write, pending)


def _chunk(path: Path) -> Path:
    return path.with_name(path.name + ".chunk")


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _stored(directory: Path) -> list[str]:
    try:
        names = {p.name.removesuffix(".chunk") for p in directory.iterdir()}
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _ID.fullmatch(n))


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def _open_append(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError as exc:
        raise NotFound("this upload has no data any more") from exc


def _open_chunk(chunk: Path) -> int:
    return os.open(chunk, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _truncate(fd: int, size: int) -> None:
    os.ftruncate(fd, size)
    os.fsync(fd)


def _move_in(chunk_fd: int, path: Path) -> int:
    """Append the verified chunk to the data file and fsync it; the new size."""
    try:
        out = os.open(path, os.O_WRONLY)
    except FileNotFoundError as exc:
        raise NotFound("this upload has no data any more") from exc
    try:
        start = os.fstat(out).st_size
        length = os.fstat(chunk_fd).st_size
        done = 0
        while done < length:
            count = min(COPY_BYTES, length - done)
            try:
                copied = os.copy_file_range(chunk_fd, out, count, done, start + done)
            except OSError:  # not on this filesystem: copy through memory
                copied = os.pwrite(out, os.pread(chunk_fd, count, done), start + done)
            if copied == 0:
                raise OSError(f"could not append the checked chunk to {path.name}")
            done += copied
        os.fsync(out)
        return start + length
    finally:
        os.close(out)


def _remove(path: Path, chunk: Path) -> None:
    for p in (path, chunk):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    with contextlib.suppress(FileNotFoundError):
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

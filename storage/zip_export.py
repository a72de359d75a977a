"""An export streamed as a zip, written on the fly by a worker thread.

The zip is never on disk nor whole in memory: a thread reads each file, hashes
it (SHA-256) and writes it into :mod:`zipfile` — stored, not compressed (video
does not shrink), zip64 where a file needs it, names in UTF-8 (zipfile sets
the language-encoding flag for them) — whose output is a :class:`_Pipe`. The
event loop takes the pipe's chunks and sends them; at most ``depth`` chunks
wait in between, so a slow client slows the thread instead of growing memory.
zipfile writes to a stream it cannot seek with a data descriptor after each
file, which every unzip tool reads.

The manifest comes last (``manifest.csv``, UTF-8 with a BOM so spreadsheet
programs read the Chinese; ``manifest.json``): each file with its hash as
computed while it was sent, compared with the hash recorded when it was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import os
import threading
import time
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from exams.answering.submission_files import COLUMNS, ExportItem, ExportPlan
from exams.shared.cells import safe_cell

CHUNK = 1024 * 1024
# A file's bytes, size and modification time (FileNotFoundError when it is not there).
Opener = Callable[[Path], tuple[BinaryIO, int, float]]
DEPTH = 4  # chunks waiting for the client, at most


class ExportCancelled(Exception):
    """The client went away: the writer stops."""


@dataclass
class Outcome:
    complete: bool = False
    files: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "files": self.files,
            "bytes": self.bytes,
            "missing": self.missing[:20],
            "mismatched": self.mismatched[:20],
            "error": self.error,
        }


class _Pipe:
    """What zipfile writes to (no ``tell``/``seek``: it then writes data descriptors);
    the event loop reads what it wrote with :meth:`get`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, chunk: int, depth: int) -> None:
        self._loop = loop
        self._chunk = chunk
        self._depth = depth
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._slots = threading.Semaphore(depth)
        self._cancelled = threading.Event()
        self._buffer = bytearray()
        self._ended = False

    # -- the writer's side (the worker thread) --

    def write(self, data: bytes) -> int:
        if self._ended:
            raise ExportCancelled
        self._buffer += data
        if len(self._buffer) >= self._chunk:
            self._send()
        return len(data)

    def flush(self) -> None:
        pass

    def _send(self) -> None:
        self._slots.acquire()  # wait while DEPTH chunks are still unsent
        if self._cancelled.is_set():
            raise ExportCancelled
        data, self._buffer = bytes(self._buffer), bytearray()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, data)

    def finish(self, flush: bool = True) -> None:
        """The end: what is still buffered goes out (unless ``flush`` is false: a failed
        zip must not get its central directory), then the end mark."""
        if flush and self._buffer:
            self._send()
        self._ended = True
        self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    # -- the loop's side --

    async def get(self) -> bytes | None:
        data = await self._queue.get()
        self._slots.release()
        return data

    def cancel(self) -> None:
        self._cancelled.set()
        self._slots.release(self._depth + 1)  # wake a writer waiting for a slot


class ZipExport:
    """One export: ``chunks()`` yields the zip's bytes; :meth:`close` ends the thread."""

    def __init__(
        self, plan: ExportPlan, chunk: int = CHUNK, depth: int = DEPTH, opener: Opener | None = None
    ) -> None:
        self.plan = plan
        self._opener = opener or open_local
        self.outcome = Outcome()
        self._chunk = chunk
        self._depth = depth
        self._pipe: _Pipe | None = None
        self._done: asyncio.Future[None] | None = None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        pipe = self._pipe = _Pipe(loop, self._chunk, self._depth)
        done = self._done = loop.create_future()

        def run() -> None:
            try:
                write_zip(self.plan, pipe, self.outcome, self._opener)
                pipe.finish()
            except ExportCancelled:
                pass
            except Exception as exc:  # reported in the outcome and the audit
                self.outcome.error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(RuntimeError):
                    pipe.finish(flush=False)
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, done)

        threading.Thread(target=run, name=f"export-{self.plan.exam_id}", daemon=True).start()
        while (data := await pipe.get()) is not None:
            yield data
        if self.outcome.error is not None:
            raise OSError(self.outcome.error)

    async def close(self) -> None:
        """Stop the writer if it is still going and wait for its thread to end."""
        if self._pipe is not None:
            self._pipe.cancel()
        if self._done is not None:
            await self._done


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def open_local(path: Path) -> tuple[BinaryIO, int, float]:
    src = open(path, "rb")
    stat = os.fstat(src.fileno())
    return src, stat.st_size, stat.st_mtime


def write_zip(plan: ExportPlan, out: Any, outcome: Outcome, opener: Opener = open_local) -> None:
    """Write the plan's zip to ``out`` (blocking: a worker thread's work)."""
    rows: list[dict[str, Any]] = []
    # Not a ``with``: a zip that failed half-way must not be closed (given its directory).
    zf = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
    try:
        for item in plan.items:
            rows.append(_add(zf, plan.folder, item, outcome, opener))
        manifest = {
            "exam_id": plan.exam_id,
            "unit_id": plan.unit_id,
            "exported_at": time.time(),
            "files": rows,
        }
        folder = plan.folder
        deflated = zipfile.ZIP_DEFLATED
        zf.writestr(_info(f"{folder}/manifest.csv", time.time()), _csv(rows), deflated)
        body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
        zf.writestr(_info(f"{folder}/manifest.json", time.time()), body, deflated)
        zf.close()
    except BaseException:
        zf.fp = None  # so that ZipFile.__del__ writes nothing
        raise
    outcome.complete = True


def _add(
    zf: zipfile.ZipFile, folder: str, item: ExportItem, outcome: Outcome, opener: Opener
) -> dict[str, Any]:
    row = {**item.row, "path": item.archive_name, "sha256_recorded": item.sha256_recorded}
    name = f"{folder}/{item.archive_name}"
    digest = hashlib.sha256()
    if item.text is not None:
        data = item.text.encode()
        digest.update(data)
        zf.writestr(_info(name, time.time()), data, zipfile.ZIP_DEFLATED)
        size = len(data)
    else:
        assert item.path is not None
        try:
            src, length, mtime = opener(item.path)  # closed by the ``with`` below
        except FileNotFoundError:
            outcome.missing.append(item.archive_name)
            return {**row, "size": None, "sha256": None, "check": "missing"}
        with src:
            info = _info(name, mtime)
            info.file_size = length  # zipfile picks zip64 from it
            size = 0
            with zf.open(info, "w") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
    sha = digest.hexdigest()
    check = "hashed"
    if item.sha256_recorded:
        check = "verified" if sha == item.sha256_recorded else "mismatch"
        if check == "mismatch":
            outcome.mismatched.append(item.archive_name)
    outcome.files += 1
    outcome.bytes += size
    return {**row, "size": size, "sha256": sha, "check": check}


def _info(name: str, mtime: float) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time.localtime(max(mtime, 315532800))[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _when(seconds: Any) -> Any:
    """A time for a spreadsheet cell: the server's local time with its UTC offset
    (``2026-12-05 20:44:08+08:00``), not seconds since 1970."""
    if not isinstance(seconds, (int, float)):
        return seconds
    return datetime.fromtimestamp(seconds).astimezone().isoformat(sep=" ", timespec="seconds")


def _csv(rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        cells = {k: "" if row.get(k) is None else row[k] for k in COLUMNS}
        cells["submitted_at"] = _when(cells["submitted_at"])
        cells = {k: safe_cell(v) if isinstance(v, str) else v for k, v in cells.items()}
        writer.writerow(cells)
    return ("\ufeff" + text.getvalue()).encode()


class ZipExports:
    """Exports as zips. At most ``running`` write at once (each is a thread reading the
    disk); more wait for a turn rather than fail."""

    def __init__(self, running: int = 2, opener: Opener | None = None) -> None:
        self._slots = asyncio.Semaphore(running)
        self._opener = opener  # where a file's bytes come from (web.stored_files: the store)

    @contextlib.asynccontextmanager
    async def open(self, plan: ExportPlan) -> AsyncIterator[ZipExport]:
        """The plan's export once it has a turn; its thread has ended when this exits."""
        async with self._slots:
            export = ZipExport(plan, opener=self._opener)
            try:
                yield export
            finally:
                await export.close()

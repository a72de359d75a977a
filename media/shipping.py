"""Shipping media and files to the object store (``storage_url``; docs/recording.md,
"Object storage").

- :class:`LivePieces`: while a segment records, every ``interval_s`` the bytes its file
  gained go up as a numbered *piece* (``<key>.pieces/<seq>-<offset>``), so a node that dies
  loses at most the last interval or so of what it had written.
- :class:`Shipper`: a finished file (a take's segments once the take is stored, a fill, an
  answer file) goes up whole (multipart when large), its SHA-256 checked against its
  record's as the bytes go up; once the object is verified the pieces are deleted and, with
  ``keep_local`` off, so is the local file. A file that could not go up or did not match
  stays on disk (and keeps being served from there), logged and counted.
- :func:`assemble_pieces` / :func:`fetch_take`: what a surviving node runs for a dead
  node's take: each segment's object, or its pieces joined, written into the take's folder,
  ready for ``media.recovery.recover_take`` (which remuxes, hashes and describes them).

Keys mirror the data folder (``recordings/<take>/segment-000.webm``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exams.shared.objects import ObjectMismatch, ObjectStore, ObjectStoreError
from media.writer import SegmentWriter, sha256_file

log = logging.getLogger(__name__)

PIECES = ".pieces/"
PIECE_INTERVAL_S = 2.0
_PIECE = re.compile(r"(\d{6})-(\d{12})")
RETRY_AFTER_S = (1.0, 5.0, 25.0)


def object_key(root: Path, path: Path) -> str:
    """A file's key: its path under the data folder (names only: no disk access)."""
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()


def _under(root: Path, path: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))


def piece_key(key: str, seq: int, offset: int) -> str:
    return f"{key}{PIECES}{seq:06d}-{offset:012d}"


@dataclass
class _Live:
    writer: SegmentWriter
    key: str
    offset: int = 0  # bytes of the file shipped so far
    seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LivePieces:
    """Ships the growing files of the segments being recorded, every ``interval_s``; and
    each segment whole as soon as its writer has finished it (``shipper``), not only when
    its take is stored: a take's earlier segments are safe while it still records."""

    def __init__(
        self,
        store: ObjectStore,
        root: Path,
        interval_s: float = PIECE_INTERVAL_S,
        shipper: Shipper | None = None,
    ) -> None:
        self._store = store
        self._root = root
        self.interval_s = interval_s
        self._shipper = shipper
        self._live: dict[Path, _Live] = {}
        self._task: asyncio.Task[None] | None = None
        self.pieces = 0  # pieces put, since start
        self.bytes = 0
        self.errors = 0

    def watch(self, writer: SegmentWriter) -> None:
        """A segment starts recording (``media.writer.MuxPool.add``, on the event loop)."""
        self._live[writer.path] = _Live(writer, object_key(self._root, writer.path))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._live:
            await asyncio.sleep(self.interval_s)
            await self.tick()

    async def tick(self) -> None:
        """Ship what every recording segment gained; the closed ones go up whole."""
        for path, live in list(self._live.items()):
            if live.writer._closing:
                self._live.pop(path, None)
                if self._shipper is not None:
                    self._shipper.spawn(self._finished(live))
        await asyncio.gather(*(self._ship_new(live) for live in list(self._live.values())))

    async def _ship_new(self, live: _Live) -> None:
        async with live.lock:
            try:
                data = await asyncio.to_thread(_read_from, live.writer.path, live.offset)
                if not data:
                    return
                await self._store.put_bytes(piece_key(live.key, live.seq, live.offset), data)
            except (OSError, ObjectStoreError) as exc:
                self.errors += 1
                log.warning("could not ship a piece of %s (will retry): %s", live.key, exc)
                return
            live.offset += len(data)
            live.seq += 1
            self.pieces += 1
            self.bytes += len(data)

    async def _finished(self, live: _Live) -> bool:
        """The writer closed the segment: once it is finalised (closed, hashed: the same
        SHA-256 its take's manifest will give), it goes up whole and its pieces go."""
        assert self._shipper is not None
        async with live.lock:  # after a piece in flight
            pass
        try:
            result = await asyncio.wrap_future(live.writer._done)
        except Exception:  # nothing written, or finalising failed: the take's stop says so
            return False
        ok = await self._shipper.ship(result.path, result.sha256)
        if result.playback_path is not None and result.playback_sha256 is not None:
            ok = await self._shipper.ship(result.playback_path, result.playback_sha256) and ok
        return ok

    def following(self) -> list[Path]:
        return list(self._live)

    async def stop(self) -> None:
        self._live.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""  # opened by the writer only when its first frame arrives


@dataclass
class ShipStats:
    shipped: int = 0  # files verified in the store
    bytes: int = 0
    mismatches: int = 0  # files whose bytes did not hash to their record's SHA-256
    failures: int = 0  # files the store did not take (after retries)


class Shipper:
    """``exams.shared.objects.FileShipping``, and the take listener that ships a stored take."""

    def __init__(
        self,
        store: ObjectStore,
        root: Path,
        *,
        keep_local: bool = False,
        retry_after_s: tuple[float, ...] = RETRY_AFTER_S,
    ) -> None:
        self._store = store
        self._root = root
        self._keep_local = keep_local
        self._retry_after_s = retry_after_s
        self._tasks: set[asyncio.Task[bool]] = set()
        self._shipping: dict[Path, asyncio.Task[bool]] = {}  # one upload of a file at once
        self.stats = ShipStats()

    def key(self, path: Path) -> str:
        return object_key(self._root, path)

    # -- takes -----------------------------------------------------------------------------

    async def on_take_event(self, event: str, take: Any) -> None:
        """``TakeService`` listener: a stored take's files go up in the background (the
        other listeners, and the candidate's ``take_stored``, do not wait for the store)."""
        if event == "take_stored" and take.manifest:
            self.spawn(self.ship_take(take.id, take.manifest))

    def spawn(self, work: Any) -> asyncio.Task[bool]:
        task: asyncio.Task[bool] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def ship_take(self, take_id: str, manifest: Mapping[str, Any]) -> bool:
        """Every file the manifest lists, each checked against its ``sha256``; True when all
        are in the store. Safe to run again: a file already there with its hash is skipped."""
        folder = self._root / "recordings" / take_id
        ok = True
        for name, sha256 in manifest_files(manifest):
            ok = await self.ship(folder / name, sha256) and ok
        return ok

    async def discard_take(self, take_id: str) -> None:
        """A take's media was deleted (a rehearsal after its playback): its objects too."""
        found = await self._store.list(f"recordings/{take_id}/")
        await self._store.delete(*(o.key for o in found))

    # -- files -----------------------------------------------------------------------------

    async def ship(self, path: Path, sha256: str | None = None) -> bool:
        """Upload ``path`` checked against ``sha256`` (None: its own hash); a second call
        for a file already going up waits for that upload (the segment shipped as its writer
        finished it, then its take's manifest)."""
        running = self._shipping.get(path)
        if running is None:
            running = self._shipping[path] = asyncio.ensure_future(self._ship(path, sha256))
            running.add_done_callback(lambda _: self._shipping.pop(path, None))
        return await asyncio.shield(running)

    async def _ship(self, path: Path, sha256: str | None) -> bool:
        key = self.key(path)
        head = await self._head(key)
        if head is not None and sha256 is not None and head.sha256 == sha256:
            await self._verified(path, key)
            return True
        if sha256 is None:
            sha256 = await asyncio.to_thread(sha256_file, path)
        for attempt, wait in enumerate((0.0, *self._retry_after_s)):
            if wait:
                await asyncio.sleep(wait)
            try:
                info = await self._store.put_file(key, path, sha256)
            except ObjectMismatch as exc:
                self.stats.mismatches += 1
                log.error("not stored, the local file is kept: %s", exc)
                return False
            except FileNotFoundError:
                self.stats.failures += 1
                log.error("%s is missing: it cannot be stored", path)
                return False
            except ObjectStoreError as exc:
                log.warning("storing %s failed (attempt %d): %s", key, attempt + 1, exc)
                continue
            self.stats.shipped += 1
            self.stats.bytes += info.size
            await self._verified(path, key)
            return True
        self.stats.failures += 1
        log.error("%s could not be stored; the local file is kept and served", key)
        return False

    async def _head(self, key: str) -> Any:
        try:
            return await self._store.head(key)
        except ObjectStoreError:
            return None

    async def _verified(self, path: Path, key: str) -> None:
        """The object is there with its hash: the pieces go, and the local file unless kept."""
        try:
            pieces = await self._store.list(key + PIECES)
            await self._store.delete(*(p.key for p in pieces))
        except ObjectStoreError as exc:
            log.warning("could not delete the pieces of %s: %s", key, exc)
        if not self._keep_local:
            await asyncio.to_thread(path.unlink, True)

    async def fetch_missing(self, take_id: str) -> None:
        """Before recovering a take: bring from the store the segments this node does not
        have (another node was recording the take and died; or this node shipped and
        deleted the segments it had finished before it stopped)."""
        fetched = await fetch_take(self._store, self._root, take_id, only_missing=True)
        if fetched:
            log.warning("take %s: %d segment(s) fetched from the store", take_id, len(fetched))

    async def unship(self, *paths: Path) -> None:
        keys = [self.key(p) for p in paths if _under(self._root, p)]
        try:
            await self._store.delete(*keys)
        except ObjectStoreError as exc:
            log.warning("could not delete %s from the object store: %s", ", ".join(keys), exc)

    async def shipped(self, path: Path) -> bool:
        return await self._head(self.key(path)) is not None

    async def drain(self) -> None:
        """Wait for the uploads under way (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def manifest_files(manifest: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(file relative to the take's folder, its sha256) of every camera's segments and fills,
    the browser-playable copies included."""
    parts = [manifest, *((manifest.get("cameras") or {}).values())]
    for part in parts:
        for seg in part.get("segments") or []:
            if seg.get("file") and seg.get("sha256"):
                yield seg["file"], seg["sha256"]
            if seg.get("playback_file") and seg.get("playback_sha256"):
                yield seg["playback_file"], seg["playback_sha256"]


# -- a dead node's takes ---------------------------------------------------------------------


async def assemble_pieces(store: ObjectStore, key: str, target: Path) -> int:
    """Join the pieces of the segment at ``key`` into ``target`` (bytes from 0 on, as far
    as they run without a hole); the bytes written. The file is a Matroska/WebM file cut
    short, as a crash leaves one: ``media.recovery`` remuxes it into a whole one."""
    pieces = []
    for info in await store.list(key + PIECES):
        m = _PIECE.fullmatch(info.key[len(key + PIECES) :])
        if m is not None:
            pieces.append((int(m[1]), int(m[2]), info.key))
    pieces.sort()
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    size = 0
    with await asyncio.to_thread(tmp.open, "wb") as out:
        for _, offset, piece in pieces:
            if offset != size:
                log.warning("%s: pieces stop at byte %d (next at %d)", key, size, offset)
                break
            data = await store.read(piece)
            await asyncio.to_thread(out.write, data)
            size += len(data)
        await asyncio.to_thread(out.flush)
        await asyncio.to_thread(os.fsync, out.fileno())
    await asyncio.to_thread(os.replace, tmp, target)
    return size


async def fetch_take(
    store: ObjectStore, root: Path, take_id: str, *, only_missing: bool = False
) -> list[Path]:
    """Bring a take another node was recording into this node's data folder: each segment's
    whole object where it was stored, else its pieces joined (``only_missing``: not over a
    file that is here). Then ``media.recovery.recover_take(root / "recordings" / take_id)``
    finishes it."""
    prefix = f"recordings/{take_id}/"
    objects = await store.list(prefix)
    whole = {o.key for o in objects if PIECES not in o.key}
    pieced = {o.key.split(PIECES)[0] for o in objects if PIECES in o.key}
    written = []
    for key in sorted(whole | pieced):
        target = root / key
        if only_missing and await asyncio.to_thread(target.exists):
            continue
        if key in whole:
            await store.download(key, target)
        elif await assemble_pieces(store, key, target) == 0:
            continue
        written.append(target)
    return written


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

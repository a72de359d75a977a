"""The same person all exam long: the candidate's camera picture against their verified face.

While a take of a question records, the wall pictures the candidate's cameras every ~2.5 s
(:class:`media.pictures.WallPictures`; this check holds its own ``watch`` claim, so pictures
are made even when no proctor and no other detector looks: no extra decoding). Every
``interval_s`` (60 s by default; the first picture of the take is checked at once) one
picture of the ``primary`` camera is compared with the candidate's reference photo
(``ReferencePhotos``: the face the real-person verification compared with), with
:mod:`media.face_engine` (dlib's face embeddings) in a worker process (:class:`FaceWorker`:
dlib's embedding holds the GIL ~75 ms, which in a thread would stall the event loop):

- one face, at a distance above the threshold from the reference: a *mismatch*. The next
  picture is checked :data:`RECHECK_S` later; two mismatches in a row raise a
  ``face_not_recognised`` incident (onset: the first of them) for a proctor to decide;
- two faces or more: ``face_not_recognised`` at once (someone beside the candidate);
- one face that matches ends an incident that was raised; no face (the candidate looked
  away, the lens is covered) says nothing either way (``no_face`` and ``camera_dark`` do).

It never fails or stops the candidate: a person decides. The reference photo's embedding
is computed in the worker once per photo (a bounded cache keyed by the photo's hash; the
photo is read once per take, so a replaced photo counts from the next take). A candidate
without a reference photo, or whose photo shows no face, is not checked
(``stats().unchecked``). A take that ends ends its incident. Cost: ~0.1 s of CPU a check
(docs/detection.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take
from exams.proctoring.monitoring import AlertKind
from exams.proctoring.page_events import Alerts, ExamSource
from exams.shared.ports import Clock
from media import face_engine
from media.detectors.take_watch import AttemptSource, Pictures, TakeWatcher
from media.detectors.vision import PRIMARY
from media.pictures import Picture

log = logging.getLogger(__name__)

KIND = AlertKind.FACE_NOT_RECOGNISED
DEFAULT_INTERVAL_S = 60.0  # ~0.1 s of CPU a check: ~0.17% of a core (docs/detection.md)
RECHECK_S = 5.0  # after a mismatch: the confirming check comes this soon
MISMATCHES = 2  # in a row, before an incident
CACHED_REFERENCES = 1024
_T = TypeVar("_T")


class ReferencePhotos(Protocol):
    """``exams.identity.reference_photos.ReferencePhotos`` (the part used here)."""

    async def get(self, account_id: str) -> bytes | None: ...


@dataclass(frozen=True)
class Sighting:
    """What one picture showed (made in the face worker process)."""

    faces: int
    distance: float | None  # the face's distance from the reference (one face only)
    cpu_s: float  # thread CPU time, in the worker process


def compare(rgb: np.ndarray, reference: Sequence[float]) -> Sighting:
    """The faces in a picture, and the only one's distance from ``reference`` (blocking).

    Two faces or more are not embedded (the answer is already "several")."""
    started = time.thread_time()
    found = face_engine.find_faces(rgb, embed=False)
    distance = None
    if len(found) == 1:
        distance = face_engine.distance(face_engine.embed_face(rgb, found[0]), reference)
    return Sighting(len(found), distance, time.thread_time() - started)


def reference_embedding(photo: bytes) -> tuple[tuple[float, ...] | None, float]:
    """The biggest face's embedding in a reference photo (None: no face, or not an image),
    and the thread CPU time it took (blocking)."""
    started = time.thread_time()
    try:
        found = face_engine.find_faces(photo, embed=False)
        embedding = face_engine.embed_face(photo, found[0]) if found else None
    except face_engine.NotAnImage:
        embedding = None
    return embedding, time.thread_time() - started


def _warm_up() -> None:
    face_engine.warm_up()


class FaceWorker:
    """dlib's face work in a process of its own, one job at a time.

    dlib's embedding holds the GIL for its ~75 ms (media/face_engine.py): in a thread of
    the server it would stall the event loop (and the media it relays) that long every
    check. The process starts (``spawn``: no copy of the server's threads) on first use,
    loads the models once (~1.5 s, ~150 MB), and ends with :meth:`close`. Its methods
    block: call them from a thread.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up
                )
            return self._pool

    def compare(self, rgb: np.ndarray, reference: Sequence[float]) -> Sighting:
        return self._run(compare, rgb, tuple(reference))

    def reference(self, photo: bytes) -> tuple[tuple[float, ...] | None, float]:
        return self._run(reference_embedding, photo)

    def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        pool = self._executor()
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:  # the process died (killed, out of memory): a new one next
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class FaceCheckStats:
    takes: int  # takes watched now
    checks: int  # pictures compared
    mismatches: int
    several: int  # pictures with two faces or more
    unchecked: int  # takes of candidates without a usable reference photo
    failed: int
    skipped: int  # due pictures not compared: too many in work (the next one is)
    cpu_s: float  # comparing pictures: thread CPU, here and in the worker process
    references: int  # reference photos embedded (once per photo)
    reference_cpu_s: float  # reference photos' embeddings, in the worker process


@dataclass(eq=False)
class _Watched:
    take_id: str
    owner: str
    due: float  # the clock from which the next picture is checked
    busy: bool = False
    streak: int = 0  # mismatches in a row
    first_at: float | None = None  # the first of them
    raised: bool = False
    reference: Any = None  # the reference embedding (None: none), once read


_UNREAD = object()


class FaceCheck:
    def __init__(
        self,
        pictures: Pictures,
        attempts: AttemptSource,
        exams: ExamSource,
        references: ReferencePhotos,
        alerts: Alerts,
        clock: Clock,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        threshold: float | None = None,
        worker: FaceWorker | None = None,
        max_pending: int = 8,
    ) -> None:
        self._references = references
        self._alerts = alerts
        self._clock = clock
        self.interval_s = interval_s
        self.threshold = face_engine.DEFAULT_THRESHOLD if threshold is None else threshold
        # the thread waits for the worker process (one job at a time there anyway)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="face-check")
        self._own_worker = worker is None
        self._worker = worker if worker is not None else FaceWorker()
        self._max_pending = max_pending
        self._pending = 0
        self._takes = TakeWatcher(pictures, attempts, exams, self._start, self._stop)
        self._embeddings: OrderedDict[bytes, tuple[float, ...] | None] = OrderedDict()
        self._tasks: set[asyncio.Future[None]] = set()
        self._closed = False
        self._checks = self._mismatches = self._several = self._unchecked = self._failed = 0
        self._embedded = self._skipped = 0
        self._cpu = self._reference_cpu = 0.0

    # -- listeners ---------------------------------------------------------------------------

    async def on_take_event(self, event: str, take: Take) -> None:
        """``exams.catalog.takes`` listener: check a question's take while it records."""
        if event == "take_started" and self.interval_s <= 0:
            return  # off
        await self._takes.on_take_event(event, take)

    def on_picture(self, owner: str, camera: str, picture: Picture) -> Awaitable[None] | None:
        """``WallPictures.add_listener``: compare a recording candidate's picture when due."""
        w = self._takes.of_owner(owner)
        if w is None or camera != PRIMARY or w.busy or self._closed or picture.taken_at < w.due:
            return None
        if self._pending >= self._max_pending:
            self._skipped += 1  # the next picture, ~2.5 s later, is due too
            return None
        w.busy = True
        self._pending += 1
        task = asyncio.ensure_future(self._check(w, picture))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- checking ----------------------------------------------------------------------------

    async def _check(self, w: _Watched, picture: Picture) -> None:
        loop = asyncio.get_running_loop()
        try:
            reference = await self._reference(w)
            if reference is None:
                self._unchecked += 1
                await self._takes.unwatch(w.take_id)  # nothing to compare with: not checked
                return
            seen = await loop.run_in_executor(self._pool, self._compare, picture, reference)
        except Exception:
            self._failed += 1
            log.exception("face check: a picture of %s", w.owner)
            w.due = picture.taken_at + self.interval_s
            return
        finally:
            w.busy = False
            self._pending -= 1
        self._checks += 1
        self._cpu += seen.cpu_s
        if self._takes.of_take(w.take_id) is not w:
            return  # the take stopped meanwhile
        at = picture.taken_at
        w.due = at + self.interval_s
        detail: dict[str, Any] = {"take_id": w.take_id, "faces": seen.faces}
        if seen.faces >= 2:
            self._several += 1
            await self._raise(w, at, {**detail, "reason": "several_faces"})
        elif seen.distance is None:
            return  # no face: the no_face detector's business
        elif seen.distance > self.threshold:
            self._mismatches += 1
            w.streak += 1
            w.first_at = at if w.first_at is None else w.first_at
            if not w.raised:  # to confirm it soon; once raised, the usual pace
                w.due = at + min(RECHECK_S, self.interval_s)
            if w.streak >= MISMATCHES:
                distance = round(seen.distance, 3)
                reason = {"reason": "mismatch", "distance": distance, "threshold": self.threshold}
                await self._raise(w, w.first_at, {**detail, **reason})
        else:
            w.streak, w.first_at = 0, None
            if w.raised:
                w.raised = False
                await self._end(w.owner, at)

    def _compare(self, picture: Picture, reference: tuple[float, ...]) -> Sighting:
        """The picture as RGB (here), compared in the worker process; the CPU of both."""
        started = time.thread_time()
        seen = self._worker.compare(picture.rgb(), reference)
        return Sighting(seen.faces, seen.distance, seen.cpu_s + time.thread_time() - started)

    async def _reference(self, w: _Watched) -> tuple[float, ...] | None:
        """The take's reference embedding: the photo read once per take (a photo replaced
        counts from the next take), its embedding computed once per photo (cached)."""
        if w.reference is not _UNREAD:
            return w.reference
        photo = await self._references.get(w.owner)
        embedding = None
        if photo is not None:
            loop = asyncio.get_running_loop()
            digest = await loop.run_in_executor(self._pool, _digest, photo)
            if digest in self._embeddings:
                self._embeddings.move_to_end(digest)
                embedding = self._embeddings[digest]
            else:
                embedding, cpu = await loop.run_in_executor(
                    self._pool, self._worker.reference, photo
                )
                self._reference_cpu += cpu
                self._embedded += 1
                self._embeddings[digest] = embedding
                while len(self._embeddings) > CACHED_REFERENCES:
                    self._embeddings.popitem(last=False)
        w.reference = embedding
        return embedding

    async def _raise(self, w: _Watched, at: float, detail: dict[str, Any]) -> None:
        w.streak, w.first_at = 0, None
        if w.raised:
            return
        w.raised = True
        try:
            await self._alerts.raise_alert(
                w.owner, KIND, camera=PRIMARY, started_at=at, detail=detail
            )
        except Exception:
            log.exception("face check: %s of %s not told", KIND.value, w.owner)

    async def _end(self, owner: str, at: float) -> None:
        try:
            await self._alerts.end_alert(owner, KIND, camera=PRIMARY, ended_at=at)
        except Exception:
            log.exception("face check: the end of %s of %s not told", KIND.value, owner)

    # -- watching ----------------------------------------------------------------------------

    def _start(self, take: Take, exam: Exam) -> _Watched | None:
        if not exam.monitoring.rule(KIND).enabled:
            return None
        return _Watched(take.id, take.owner, due=self._clock(), reference=_UNREAD)

    async def _stop(self, w: _Watched) -> None:
        if w.raised:
            w.raised = False
            await self._end(w.owner, self._clock())

    # -- the rest ----------------------------------------------------------------------------

    def watching(self, owner: str) -> str | None:
        return self._takes.watching(owner)

    async def idle(self) -> None:
        """Wait until every check in work is done and its alert told."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def stats(self) -> FaceCheckStats:
        return FaceCheckStats(
            len(self._takes),
            self._checks,
            self._mismatches,
            self._several,
            self._unchecked,
            self._failed,
            self._skipped,
            self._cpu,
            self._embedded,
            self._reference_cpu,
        )

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._takes.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pool.shutdown)
        if self._own_worker:
            await loop.run_in_executor(None, self._worker.close)


def _digest(photo: bytes) -> bytes:
    return hashlib.sha256(photo).digest()

"""The vision detectors' runner: what a recording take's camera pictures show.

While a take of a question records, its candidate's cameras are pictured by the
wall (:class:`media.pictures.WallPictures`): this runner holds a ``watch``
claim on the candidate for the take's length, so pictures are taken even when
no proctor watches (no extra decoding: the wall's pictures are the ones the
proctors see). Each picture of the candidate is judged in a worker thread:

- every camera: black or covered (:mod:`.dark`), the same picture as the last
  one (:mod:`.frozen`);
- the ``primary`` camera (the one facing the candidate): how many faces
  (:mod:`.faces`): none, or more than one. The second camera shows the desk,
  where no face is expected.

A dark picture is judged dark only: it is not also "frozen" or "no face" (the
cause is the lens). Each (camera, kind) is a
:class:`exams.proctoring.conditions.Condition` with the exam's rule, read when
the take starts; what fires goes to ``Incidents.raise_alert`` with the onset
(the ``taken_at`` of the first picture that showed it: for a frozen picture,
the one before, which it repeats), what stops to ``end_alert``; a take that
stops ends them all and gives its claim back.

Bounded: one picture per camera is judged at a time and at most
``max_pending`` in all; a picture past that is skipped (``stats().skipped``),
the next one comes ~2.5 s later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take
from exams.proctoring.conditions import Change, Condition, End, Onset
from exams.proctoring.monitoring import AlertKind, Monitoring
from exams.proctoring.page_events import Alerts, ExamSource, monitoring
from exams.shared.ports import Clock
from media.detectors import dark, faces, frozen
from media.detectors.take_watch import AttemptSource, Pictures, TakeWatcher
from media.pictures import Picture

log = logging.getLogger(__name__)

PRIMARY = "primary"
KINDS = (
    AlertKind.CAMERA_DARK,
    AlertKind.PICTURE_FROZEN,
    AlertKind.NO_FACE,
    AlertKind.MANY_FACES,
)
FACE_KINDS = (AlertKind.NO_FACE, AlertKind.MANY_FACES)


@dataclass(frozen=True)
class Verdict:
    """What one picture shows (made in a worker thread)."""

    exposure: dark.Exposure
    small: Any  # the picture as :mod:`.frozen` compares it (np.ndarray)
    difference: frozen.Difference | None  # from the previous picture; None: the first
    faces: int | None  # None: not counted (not the primary camera, or a dark picture)
    cpu_s: float

    @property
    def dark(self) -> bool:
        return dark.is_dark(self.exposure)

    @property
    def frozen(self) -> bool:
        return not self.dark and self.difference is not None and frozen.is_same(self.difference)


def judge(luma: np.ndarray, previous: Any, count_faces: bool) -> Verdict:
    """Every vision detector on one picture's luma (worker thread)."""
    started = time.thread_time()
    exposure = dark.exposure(luma)
    small = frozen.small(luma)
    difference = None if previous is None else frozen.difference(previous, small)
    found = None
    if count_faces and not dark.is_dark(exposure):
        found = faces.count(luma)
    return Verdict(exposure, small, difference, found, time.thread_time() - started)


@dataclass(frozen=True)
class VisionStats:
    takes: int  # takes watched now
    judged: int  # pictures judged
    skipped: int  # pictures not judged: their camera's previous one, or too many, in work
    failed: int
    cpu_s: float  # judging, in the worker thread


@dataclass(eq=False)
class _Camera:
    conditions: dict[AlertKind, Condition]
    previous: Any = None  # the last judged picture, small
    previous_at: float | None = None
    busy: bool = False


@dataclass(eq=False)
class _Watched:
    take_id: str
    owner: str
    rules: Monitoring
    cameras: dict[str, _Camera] = field(default_factory=dict)


class VisionDetectors:
    def __init__(
        self,
        pictures: Pictures,
        attempts: AttemptSource,
        exams: ExamSource,
        alerts: Alerts,
        clock: Clock,
        *,
        threads: int = 1,
        max_pending: int = 4,
    ) -> None:
        self._alerts = alerts
        self._clock = clock
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="vision")
        self._max_pending = max_pending
        self._pending = 0
        self._takes = TakeWatcher(pictures, attempts, exams, self._start, self._stop)
        self._judged = self._skipped = self._failed = 0
        self._cpu = 0.0
        self._closed = False
        self._tasks: set[asyncio.Future[None]] = set()

    # -- listeners ---------------------------------------------------------------------------

    async def on_take_event(self, event: str, take: Take) -> None:
        """``exams.catalog.takes`` listener: watch a question's take while it records."""
        await self._takes.on_take_event(event, take)

    def on_picture(self, owner: str, camera: str, picture: Picture) -> Awaitable[None] | None:
        """``WallPictures.add_listener``: judge a recording candidate's picture."""
        w = self._takes.for_picture(owner, picture.taken_at)
        if w is None or self._closed:
            return None
        cam = w.cameras.get(camera)
        if cam is None:
            cam = w.cameras[camera] = _Camera(_conditions(w.rules, camera))
        if not cam.conditions:
            return None
        if cam.busy or self._pending >= self._max_pending:
            self._skipped += 1
            return None
        cam.busy = True
        self._pending += 1
        task = asyncio.ensure_future(self._judge(w, camera, cam, picture))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- judging -----------------------------------------------------------------------------

    async def _judge(self, w: _Watched, camera: str, cam: _Camera, picture: Picture) -> None:
        count_faces = any(k in cam.conditions for k in FACE_KINDS)
        try:
            verdict = await asyncio.get_running_loop().run_in_executor(
                self._pool, _judge_picture, picture, cam.previous, count_faces
            )
        except Exception:
            self._failed += 1
            log.exception("vision detectors: a picture of %s/%s", w.owner, camera)
            return
        finally:
            cam.busy = False
            self._pending -= 1
        self._judged += 1
        self._cpu += verdict.cpu_s
        if self._takes.of_take(w.take_id) is not w:
            return  # the take stopped meanwhile: its conditions were ended
        at, before = picture.taken_at, cam.previous_at
        cam.previous, cam.previous_at = verdict.small, at
        holds = {
            AlertKind.CAMERA_DARK: verdict.dark,
            AlertKind.PICTURE_FROZEN: verdict.frozen,
            AlertKind.NO_FACE: verdict.faces == 0,
            AlertKind.MANY_FACES: verdict.faces is not None and verdict.faces > 1,
        }
        detail: dict[str, Any] = {
            "take_id": w.take_id,
            "mean": round(verdict.exposure.mean, 1),
            "spread": round(verdict.exposure.spread, 1),
        }
        if verdict.faces is not None:
            detail["faces"] = verdict.faces
        for kind, condition in cam.conditions.items():
            if kind is AlertKind.PICTURE_FROZEN and holds[kind] and condition.since is None:
                condition.feed(True, before if before is not None else at)  # it repeats that one
            await self._tell(w.owner, kind, camera, condition.feed(holds[kind], at), detail)

    async def _tell(
        self,
        owner: str,
        kind: AlertKind,
        camera: str,
        change: Change | None,
        detail: dict[str, Any],
    ) -> None:
        try:
            if isinstance(change, Onset):
                await self._alerts.raise_alert(
                    owner, kind, camera=camera, started_at=change.started_at, detail=detail
                )
            elif isinstance(change, End):
                await self._alerts.end_alert(owner, kind, camera=camera, ended_at=change.ended_at)
        except Exception:
            log.exception("vision detectors: %s of %s/%s not told", kind.value, owner, camera)

    # -- watching ----------------------------------------------------------------------------

    def _start(self, take: Take, exam: Exam) -> _Watched | None:
        rules = monitoring(exam)
        if not any(rules.rule(k).enabled for k in KINDS):
            return None
        return _Watched(take.id, take.owner, rules)

    async def _stop(self, w: _Watched) -> None:
        now = self._clock()
        for camera, cam in w.cameras.items():
            for kind, condition in cam.conditions.items():
                await self._tell(w.owner, kind, camera, condition.clear(now), {})

    # -- the rest ----------------------------------------------------------------------------

    def watching(self, owner: str) -> str | None:
        """The take of ``owner`` being watched, if any."""
        return self._takes.watching(owner)

    def since(self, owner: str, camera: str, kind: AlertKind) -> float | None:
        """When an ongoing condition began (None: none under way)."""
        w = self._takes.of_owner(owner)
        cam = None if w is None else w.cameras.get(camera)
        found = None if cam is None else cam.conditions.get(kind)
        return None if found is None else found.since

    async def idle(self) -> None:
        """Wait until every picture in work has been judged and its alerts told."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def stats(self) -> VisionStats:
        return VisionStats(len(self._takes), self._judged, self._skipped, self._failed, self._cpu)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._takes.close()
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)


def _judge_picture(picture: Picture, previous: Any, count_faces: bool) -> Verdict:
    return judge(picture.luma(), previous, count_faces)


def _conditions(rules: Monitoring, camera: str) -> dict[AlertKind, Condition]:
    kinds = KINDS if camera == PRIMARY else (AlertKind.CAMERA_DARK, AlertKind.PICTURE_FROZEN)
    out: dict[AlertKind, Condition] = {}
    for kind in kinds:
        rule = rules.rule(kind)
        if rule.enabled:
            out[kind] = Condition(rule.after_s)
    return out

"""Fresh pictures of watched candidates' cameras for the proctors' wall.

While a candidate is *watched* (a proctor has a wall with them open), each of
their cameras (the video track of their ``primary`` and ``secondary`` media
sessions; its small preview track while the page sends one, :mod:`media.preview`)
gets a fresh picture about every ``interval_s`` (2–3 s). Its frames
are looked at as they arrive (``TrackSource.watch``, after the recorder: one
byte for most frames); a whole keyframe that comes once the camera's picture is
:data:`MIN_GAP_FRACTION` of an interval old becomes the next picture, whoever
caused it (the recorder, a live viewer, the sender itself). Only a camera
without one an interval (+ :data:`GRACE_S`) after its last picture is asked
for a keyframe (``TrackSource.request_keyframe(merge=True)``: at most one PLI a
second per track, shared with live viewers). Only that frame is decoded, in a
small shared thread pool, scaled to fit 320×240 and encoded as a JPEG. Nobody
watching: no requests, no watching of frames, no decoding.

API (stable; all on the event loop)::

    pictures = WallPictures(hub, clock, scheduler, interval_s=2.5, threads=2)
    # several nodes: remote=media.remote_cameras.RemoteCameras (what other nodes share,
    # answered by latest() for a camera not live here; media/wall_sharing.py, decision 0028)

    handle = pictures.watch(owners)       # Iterable[str] of account ids -> WatchHandle
    handle = pictures.change(handle, owners)  # the same wall, new set of candidates
    pictures.release(handle)              # idempotent; counted per owner across walls
    pictures.latest(owner, camera)        # -> Picture | None; camera "primary"/"secondary"
    await pictures.find(owner, camera)    # latest, or (cluster) the one another node shares
    pictures.watching(owner)              # -> bool: some wall watches the owner
    pictures.add_listener(on_picture)     # on_picture(owner, camera, picture); may return
                                          # an awaitable (run as a task); errors are logged
    pictures.stats()                      # -> PictureStats (counters, CPU seconds)
    pictures.ages()                       # -> list[float]: each watched live camera's
                                          # picture age in s (since its watch began if none)
    await pictures.close()                # at shutdown

``Picture``: ``owner``, ``camera``, ``jpeg`` (bytes), ``width``, ``height``,
``taken_at`` (the server clock when the keyframe arrived), ``seq`` (1, 2, … per
camera while watched), ``frame`` (the small decoded picture, an ``av.VideoFrame``
in yuv420p, for detectors; ``picture.luma()`` / ``picture.rgb()`` give numpy
arrays). A newly watched owner's first tick runs at once (the others of one
``watch`` follow :data:`STAGGER_S` apart, so their keyframes do not reach the
pool all at once), so a wall that opens gets pictures within about a second.
Pictures are forgotten when nobody watches their owner any more (a wall opened
later starts afresh). A camera whose session reconnects (new sources) or moves
is followed at the next tick; one without live video keeps its last picture
(``taken_at`` shows its age).

The pool is bounded: at most ``max_pending`` keyframes wait for or are in a
worker; past that a picture is dropped (``stats().dropped``) and the camera
tries again at its next tick. :func:`cpu_per_camera_pct` turns two
``stats()`` into the cost per camera the bench reports.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import numpy as np

from exams.shared.ports import Clock, Scheduler
from media import picture_codec, preview
from media.hub import MediaSession
from media.picture_codec import PictureError, Snapshot
from media.sources import MIN_PLI_GAP_S, TrackSource
from media.tap import EncodedFrame

log = logging.getLogger(__name__)

CAMERAS = ("primary", "secondary")  # media session roles that are cameras
DEFAULT_INTERVAL_S = 2.5
# Owners a wall starts watching at once have their ticks this far apart (at most the
# interval spread over them): 40 candidates' keyframes do not all reach the pool in the
# same moment, where most would be dropped, and stay apart at every later tick.
STAGGER_S = 0.025
# A camera's picture is kept fresh from any whole keyframe that arrives once it is this
# share of an interval old (the recorder's, a viewer's, the sender's own: none costs an
# extra keyframe); only one that reaches an interval (less TICK_SLACK_S) without one asks
# for a keyframe, GRACE_S after the interval, so a keyframe due anyway comes first (a
# preview's track, media.preview, at once: nothing else asks it for keyframes).
MIN_GAP_FRACTION = 0.8
TICK_SLACK_S = 0.05
GRACE_S = 0.2
MIN_TICK_S = 0.1  # an owner's ticks are at least this far apart
RETRY_S = 0.3  # a camera whose keyframe the full pool dropped is asked again this soon


@dataclass(frozen=True, eq=False)
class Picture:
    owner: str
    camera: str
    jpeg: bytes
    width: int
    height: int
    taken_at: float  # the server clock when its keyframe arrived
    seq: int
    # the small decoded picture; None for a picture shared by another node (media/remote_cameras)
    frame: av.VideoFrame | None = field(repr=False)
    # PyAV converts a frame with a scaler it keeps on the frame: two threads converting one
    # picture at once (a detector's worker and the loop, say) would share it and crash.
    _convert: threading.Lock = field(default_factory=threading.Lock, repr=False, init=False)

    def luma(self) -> np.ndarray:
        """The picture's luma, full range (black 0, white 255), height x width uint8."""
        with self._convert:
            return self._frame().to_ndarray(format="gray")

    def rgb(self) -> np.ndarray:
        with self._convert:
            return self._frame().to_ndarray(format="rgb24")

    def _frame(self) -> av.VideoFrame:
        if self.frame is None:
            raise ValueError("a picture shared by another node has no decoded frame")
        return self.frame


PictureListener = Callable[[str, str, Picture], "Awaitable[Any] | None"]


@dataclass(frozen=True)
class PictureStats:
    cameras: int  # cameras with a live video track among the watched owners, now
    watched_owners: int
    keyframe_requests: int  # asked (merged requests included)
    pictures: int
    dropped: int  # the pool was full
    pending: int  # keyframes in the pool (waiting or being decoded) now
    failed: int  # a keyframe that did not decode
    worker_cpu_s: float  # decode + scale + JPEG, in the pool's threads
    loop_cpu_s: float  # ticks, frame checks while waiting for a keyframe, storing
    previewed: int = 0  # of ``cameras``, those pictured from their preview (media.preview)


def cpu_per_camera_pct(before: PictureStats, after: PictureStats, wall_s: float) -> float:
    """Percent of one core per watched camera spent on pictures between two ``stats()``."""
    cameras = max(1, after.cameras)
    cpu = (after.worker_cpu_s - before.worker_cpu_s) + (after.loop_cpu_s - before.loop_cpu_s)
    return 100.0 * cpu / wall_s / cameras


class CameraSessions(Protocol):
    """Where the cameras are: :class:`media.hub.MediaHub`."""

    def sessions_of(self, owner: str) -> list[MediaSession]: ...


class RemotePictures(Protocol):
    """The pictures other nodes share (:class:`media.remote_cameras.RemoteCameras`)."""

    def has(self, owner: str) -> bool: ...

    def latest(self, owner: str, camera: str) -> Picture | None: ...

    async def fetch(self, owner: str, camera: str) -> Picture | None: ...


class WatchHandle:
    """One wall's claim on its owners; give it back with :meth:`WallPictures.release`."""

    __slots__ = ("owners", "released")

    def __init__(self, owners: frozenset[str]) -> None:
        self.owners = owners
        self.released = False


@dataclass(eq=False)
class _Camera:
    owner: str
    name: str
    source: TrackSource | None = None
    unwatch: Callable[[], None] | None = None  # set while its source is watched
    busy: bool = False  # a keyframe of it is in the pool
    seq: int = 0
    latest: Picture | None = None
    pictured: TrackSource | None = None  # the source of ``latest``


@dataclass(eq=False)
class _Owner:
    id: str
    since: float  # the clock when its watch began
    watchers: int = 0
    cancel: Callable[[], None] | None = None  # the next tick's timer
    cameras: dict[str, _Camera] = field(default_factory=dict)


class WallPictures:
    def __init__(
        self,
        hub: CameraSessions,
        clock: Clock,
        scheduler: Scheduler,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        threads: int = 2,
        max_pending: int | None = None,
        remote: RemotePictures | None = None,
    ) -> None:
        self._hub = hub
        self._remote = remote  # several nodes: the pictures of cameras hosted elsewhere
        self._clock = clock
        self._scheduler = scheduler
        self.interval_s = interval_s
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="wall-pictures")
        # keyframes that arrive together (cameras started together keep their phase) wait
        # their turn rather than being dropped: ~5 ms of decoding each
        self._max_pending = max_pending if max_pending is not None else 8 * threads
        self._pending = 0
        self._owners: dict[str, _Owner] = {}
        self._listeners: list[PictureListener] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closed = False
        self._requests = self._pictures = self._dropped = self._failed = 0
        self._worker_cpu = self._loop_cpu = 0.0

    # -- the API ----------------------------------------------------------------------------

    def watch(self, owners: Iterable[str]) -> WatchHandle:
        handle = WatchHandle(frozenset(owners))
        started: list[_Owner] = []
        for owner_id in sorted(handle.owners):
            owner = self._owners.get(owner_id)
            if owner is None:
                owner = self._owners[owner_id] = _Owner(owner_id, self._clock())
            owner.watchers += 1
            if owner.watchers == 1 and not self._closed:
                started.append(owner)
        if started:
            step = min(STAGGER_S, self.interval_s / len(started))
            now = self._clock()
            for k, owner in enumerate(started):
                if k == 0:
                    self._tick(owner)  # the first at once
                else:
                    owner.cancel = self._scheduler.call_at(
                        now + k * step, functools.partial(self._tick, owner)
                    )
        return handle

    def change(self, handle: WatchHandle, owners: Iterable[str]) -> WatchHandle:
        """A new handle for ``owners``; the old one is released (owners in both keep on)."""
        new = self.watch(owners)
        self.release(handle)
        return new

    def watched(self, owner_id: str) -> bool:
        """Whether a wall or a detector pictures ``owner_id``'s cameras now: their pages send
        the preview only then (the ``time`` heartbeat's ``preview``, decision 0031)."""
        return owner_id in self._owners

    def release(self, handle: WatchHandle) -> None:
        if handle.released:
            return
        handle.released = True
        for owner_id in handle.owners:
            owner = self._owners.get(owner_id)
            if owner is None:
                continue
            owner.watchers -= 1
            if owner.watchers <= 0:
                self._forget(owner)

    def latest(self, owner: str, camera: str) -> Picture | None:
        """The camera's latest picture: made here while it is live here; else, in a
        cluster, the one its hosting node shares (when one does)."""
        state = self._owners.get(owner)
        cam = None if state is None else state.cameras.get(camera)
        if self._remote is not None and self._remote.has(owner):
            if cam is None or cam.source is None or cam.source.ended:
                return self._remote.latest(owner, camera)
        return None if cam is None else cam.latest

    async def find(self, owner: str, camera: str) -> Picture | None:
        """:meth:`latest`, or in a cluster the picture the owner's node shares now though no
        wall here watches them (the picture URL asked of any node)."""
        found = self.latest(owner, camera)
        if found is None and self._remote is not None:
            found = await self._remote.fetch(owner, camera)
        return found

    def add_listener(self, listener: PictureListener) -> None:
        self._listeners.append(listener)

    def watching(self, owner: str) -> bool:
        return owner in self._owners

    def ages(self) -> list[float]:
        """How old each watched live camera's picture is now, in seconds (one not pictured
        yet: since its owner's watch began), for the bench's picture age."""
        now = self._clock()
        return [
            now - (cam.latest.taken_at if cam.latest is not None else owner.since)
            for owner in self._owners.values()
            for cam in owner.cameras.values()
            if cam.source is not None and not cam.source.ended
        ]

    def stats(self) -> PictureStats:
        live = [
            cam.source
            for owner in self._owners.values()
            for cam in owner.cameras.values()
            if cam.source is not None and not cam.source.ended
        ]
        return PictureStats(
            cameras=len(live),
            watched_owners=len(self._owners),
            keyframe_requests=self._requests,
            pictures=self._pictures,
            dropped=self._dropped,
            pending=self._pending,
            failed=self._failed,
            worker_cpu_s=self._worker_cpu,
            loop_cpu_s=self._loop_cpu,
            previewed=sum(source.preview for source in live),
        )

    async def close(self) -> None:
        self._closed = True
        for owner in list(self._owners.values()):
            self._forget(owner)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)

    # -- ticks ------------------------------------------------------------------------------

    def _tick(self, owner: _Owner) -> None:
        started = time.thread_time()
        owner.cancel = None
        if self._owners.get(owner.id) is not owner:
            return  # released meanwhile
        sources = self._camera_sources(owner.id)
        now = self._clock()
        due = now + self.interval_s
        for name in CAMERAS:
            source = sources.get(name)
            cam = owner.cameras.get(name)
            if cam is None:
                if source is None:
                    continue
                cam = owner.cameras[name] = _Camera(owner.id, name)
            if cam.source is not source:
                self._disarm(cam)
                cam.source = source
            if source is None:
                continue
            if cam.unwatch is None:
                cam.unwatch = source.watch(functools.partial(self._on_frame, cam), pictures=True)
            latest = cam.latest if cam.pictured is source else None
            if latest is not None and now - latest.taken_at < self.interval_s - TICK_SLACK_S:
                # a keyframe came on its own (the recorder's, a viewer's, the sender's own):
                # no request; look again when this picture is an interval old
                # (a preview's keyframes come only when asked: no grace to wait out)
                grace = 0.0 if source.preview else GRACE_S
                due = min(due, latest.taken_at + self.interval_s + grace)
            elif not cam.busy:
                self._requests += 1
                source.request_keyframe(merge=True)
                # no keyframe by the time another PLI may go: ask again then
                due = min(due, now + MIN_PLI_GAP_S + TICK_SLACK_S)
        owner.cancel = self._scheduler.call_at(
            max(due, now + MIN_TICK_S), functools.partial(self._tick, owner)
        )
        self._loop_cpu += time.thread_time() - started

    def _camera_sources(self, owner: str) -> dict[str, TrackSource]:
        """Each camera's live video track: of the owner's sessions in that role, the newest
        with one (a session left waiting for its client keeps its ended tracks); its
        preview (:mod:`media.preview`) while that sends, else the camera's own track."""
        found: dict[str, TrackSource] = {}
        now = time.monotonic()
        for session in self._hub.sessions_of(owner):
            if session.role not in CAMERAS:
                continue
            video = next((s for s in session.sources if s.kind == "video" and not s.ended), None)
            if video is not None and preview.sending(session.preview, now):
                video = session.preview
            if video is not None:
                found[session.role] = video
        return found

    def _disarm(self, cam: _Camera) -> None:
        if cam.unwatch is not None:
            cam.unwatch()
            cam.unwatch = None

    def _forget(self, owner: _Owner) -> None:
        if owner.cancel is not None:
            owner.cancel()
            owner.cancel = None
        for cam in owner.cameras.values():
            self._disarm(cam)
            cam.source = None
        if self._owners.get(owner.id) is owner:
            del self._owners[owner.id]

    # -- a keyframe caught, decoded, stored -------------------------------------------------

    def _on_frame(self, cam: _Camera, source: TrackSource, frame: EncodedFrame) -> None:
        """Every frame of a watched camera: a whole keyframe when its picture is due soon
        (at least :data:`MIN_GAP_FRACTION` of an interval old) becomes the next picture,
        whoever caused it; others cost one byte's look."""
        codec = source.codec_name
        if not picture_codec.may_be_keyframe(codec, frame.data) or cam.busy:
            return
        started = time.thread_time()
        latest = cam.latest
        if (
            cam.source is source
            and not frame.partial
            and (
                latest is None
                or cam.pictured is not source
                or self._clock() - latest.taken_at >= self.interval_s * MIN_GAP_FRACTION
            )
            and picture_codec.is_keyframe(codec, frame.data)
        ):
            self._submit(cam, source, codec or "", frame)
        self._loop_cpu += time.thread_time() - started

    def _submit(self, cam: _Camera, source: TrackSource, codec: str, frame: EncodedFrame) -> None:
        if self._pending >= self._max_pending or self._closed:
            self._dropped += 1
            self._retry_soon(cam)
            return
        taken_at = self._clock()
        self._pending += 1
        cam.busy = True
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, picture_codec.snapshot, codec, frame.data
        )
        future.add_done_callback(lambda f: self._made(cam, source, frame, taken_at, f))

    def _retry_soon(self, cam: _Camera) -> None:
        """A keyframe was dropped (the pool was full): the owner's next tick comes within
        :data:`RETRY_S` rather than an interval later (keyframes that come together, such
        as cameras started together, are spread over the next ticks)."""
        owner = self._owners.get(cam.owner)
        if owner is None or self._closed:
            return
        if owner.cancel is not None:
            owner.cancel()
        owner.cancel = self._scheduler.call_at(
            self._clock() + RETRY_S, functools.partial(self._tick, owner)
        )

    def _made(
        self,
        cam: _Camera,
        source: TrackSource,
        frame: EncodedFrame,
        taken_at: float,
        future: asyncio.Future[Snapshot],
    ) -> None:
        started = time.thread_time()
        self._pending -= 1
        cam.busy = False
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._failed += 1
            level = logging.INFO if isinstance(error, PictureError) else logging.ERROR
            log.log(level, "wall picture of %s/%s: %s", cam.owner, cam.name, error)
            return
        made = future.result()
        self._worker_cpu += made.cpu_s
        try:  # the recorder's quality meter samples it instead of decoding the keyframe again
            source.picture_made(frame, made.frame)
        except Exception:
            log.exception("a picture's recorder failed to note it")
        owner = self._owners.get(cam.owner)
        if owner is None or owner.cameras.get(cam.name) is not cam or cam.source is not source:
            return  # no longer watched, or the camera moved on meanwhile: stale
        cam.seq += 1
        picture = Picture(
            cam.owner,
            cam.name,
            made.jpeg,
            made.frame.width,
            made.frame.height,
            taken_at,
            cam.seq,
            made.frame,
        )
        cam.latest = picture
        cam.pictured = source
        self._pictures += 1
        for listener in self._listeners:
            try:
                result = listener(cam.owner, cam.name, picture)
            except Exception:
                log.exception("a wall picture listener failed")
                continue
            if isinstance(result, Awaitable):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._listener_done)
        self._loop_cpu += time.thread_time() - started

    def _listener_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a wall picture listener failed", exc_info=task.exception())

"""The live part of ``examcast bench``: viewers, then a wall, while the candidates stream.

After the candidates-only window (the recording figures), with every
candidate still sending:

1. **Viewers.** ``viewers`` viewer sessions, spread over the candidates
   (viewer *i* watches candidate *i* mod N), four to a proctor's socket (the
   server's ``max_viewers_per_account``), opened at most
   :data:`CONNECT_CONCURRENCY` at a time as proctors click tiles: each one's
   first picture is timed from its ``open_session``. Once all are up and
   :data:`SETTLE_S` has passed (a new viewer starts with the server's cached
   keyframe and the frames since, a burst), the window ``viewers`` ..
   ``viewers_end`` lasts ``seconds``. :data:`DRAIN_S` later (frames sent at
   its end can arrive), while they still watch, the wall's proctor clicks
   :data:`CLICKS` tiles one after the other: a viewer that opens alone, waits
   for its first picture and closes (the spotlight's first picture). Then
   the viewers close.
2. **The wall.** First, :data:`SETTLE_S` after the viewers closed, a window of
   ``seconds`` with nobody watching anything (``wall_alone`` ..
   ``wall_alone_end``): the candidates-only rate the wall's cost is taken
   against, measured next to it (the server's rate drifts over a run, so the
   recording window's is not it). Then one more proctor watches the exam's
   wall for ``seconds`` (``wall`` .. ``wall_end``); nobody views live meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

from bench.clip import Clip
from bench.tracks import PacedTrack
from bench.viewers import Frames, Viewer, ViewerLog
from bench.wall import WallLog, WallWatcher

log = logging.getLogger(__name__)

VIEWERS_PER_PROCTOR = 4  # the server's max_viewers_per_account
CONNECT_CONCURRENCY = 8
CONNECT_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0
SETTLE_S = 1.0
DRAIN_S = 0.5
CLICKS = 5
FIRST_PICTURE_TIMEOUT_S = 10.0


class LiveFailed(RuntimeError):
    """A simulated proctor could not do its part."""


def proctors_needed(viewers: int, wall: bool) -> int:
    return -(-viewers // VIEWERS_PER_PROCTOR) + (1 if wall else 0)


@dataclass(frozen=True)
class LivePlan:
    viewers: int
    seconds: float
    wall: bool
    exam_id: str
    cookies: Sequence[str]  # one per proctor (proctors_needed); empty strings: no log-in
    same_bytes: bool  # the server relays the frames as sent (else: read barcodes)
    # the server's CPU seconds of wall pictures so far (its /metrics); None: not known
    picture_cpu: Callable[[], Awaitable[float]] | None = None


@dataclass(frozen=True)
class Watched:
    """A candidate as the proctors know it."""

    index: int
    candidate_id: str
    video: PacedTrack


@dataclass
class LiveResult:
    viewer_logs: list[ViewerLog] = field(default_factory=list)
    viewer_window: tuple[float, float] | None = None  # time.monotonic()
    click_logs: list[ViewerLog] = field(default_factory=list)  # one viewer opening at a time
    wall_log: WallLog | None = None
    # the wall's pictures over its window, from the server's own count: (CPU s, window s)
    wall_picture_cpu: tuple[float, float] | None = None


class _Socket:
    def __init__(self, url: str, cookie: str) -> None:
        self.url = url
        self.cookie = cookie
        self.sio = socketio.AsyncClient(reconnection=False)

    async def connect(self) -> None:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        # python-socketio waits 1 s for the namespace's connect by default: too short for a
        # server busy with every candidate's media ("Unexpected connection error")
        await self.sio.connect(
            self.url, headers=headers, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT_S
        )

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self.sio.call(event, data, timeout=CALL_TIMEOUT_S)
        except socketio.exceptions.SocketIOError as exc:  # e.g. the socket was dropped
            raise LiveFailed(f"proctor: {event}: {exc!r}") from None
        if not isinstance(reply, dict) or "error" in reply:
            raise LiveFailed(f"proctor: {event} was refused: {reply}")
        return reply

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.sio.disconnect(), 10)
        except Exception:
            log.debug("disconnecting a proctor failed", exc_info=True)


async def run_live(
    plan: LivePlan,
    url: str,
    clip: Clip,
    watched: Sequence[Watched],
    on_phase: Callable[[str], None],
    progress: Callable[[str], None],
) -> LiveResult:
    result = LiveResult()
    sockets = [_Socket(url, c) for c in plan.cookies]
    try:
        await asyncio.gather(*(s.connect() for s in sockets))
        if plan.viewers:
            await _viewers(plan, clip, watched, sockets, result, on_phase, progress)
        if plan.wall:
            await _wall(plan, url, watched, sockets[-1], result, on_phase, progress)
    finally:
        await asyncio.gather(*(s.close() for s in sockets))
    return result


async def _viewers(
    plan: LivePlan,
    clip: Clip,
    watched: Sequence[Watched],
    sockets: list[_Socket],
    result: LiveResult,
    on_phase: Callable[[str], None],
    progress: Callable[[str], None],
) -> None:
    frames = Frames(clip) if plan.same_bytes else None
    viewers = []
    for i in range(plan.viewers):
        who = watched[i % len(watched)]
        proctor = sockets[i // VIEWERS_PER_PROCTOR]
        viewers.append(
            Viewer(proctor.call, plan.exam_id, who.candidate_id, who.index, who.video, frames)
        )
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(viewer: Viewer) -> None:
        async with limit:
            await viewer.open(CONNECT_TIMEOUT_S)

    try:
        try:
            await asyncio.gather(*(open_one(v) for v in viewers))
        except Exception as exc:
            raise LiveFailed(f"a viewer could not connect: {exc!r}") from exc
        progress(f"{len(viewers)} viewers connected")
        await asyncio.sleep(SETTLE_S)
        start = time.monotonic()
        on_phase("viewers")
        await asyncio.sleep(plan.seconds)
        end = time.monotonic()
        on_phase("viewers_end")
        await asyncio.sleep(DRAIN_S)
        result.click_logs = await _clicks(plan, frames, watched, sockets[-1])
    finally:
        await asyncio.gather(*(v.close() for v in viewers))
    result.viewer_logs = [v.log for v in viewers]
    result.viewer_window = (start, end)


async def _clicks(
    plan: LivePlan, frames: Frames | None, watched: Sequence[Watched], proctor: _Socket
) -> list[ViewerLog]:
    logs = []
    for k in range(CLICKS):
        who = watched[k % len(watched)]
        viewer = Viewer(proctor.call, plan.exam_id, who.candidate_id, who.index, who.video, frames)
        try:
            await viewer.open(CONNECT_TIMEOUT_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(viewer.first_picture.wait(), FIRST_PICTURE_TIMEOUT_S)
        finally:
            await viewer.close()
        logs.append(viewer.log)
    return logs


async def _wall(
    plan: LivePlan,
    url: str,
    watched: Sequence[Watched],
    proctor: _Socket,
    result: LiveResult,
    on_phase: Callable[[str], None],
    progress: Callable[[str], None],
) -> None:
    headers = {"Cookie": proctor.cookie} if proctor.cookie else {}
    await asyncio.sleep(SETTLE_S)
    on_phase("wall_alone")
    progress(f"nobody watches for {plan.seconds:g}s (the wall's reference)")
    await asyncio.sleep(plan.seconds)
    on_phase("wall_alone_end")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        watcher = WallWatcher(
            proctor.call, http, url, headers, plan.exam_id, [w.candidate_id for w in watched]
        )
        proctor.sio.on("wall_tiles", watcher.on_tiles)
        await watcher.watch()
        first = None if plan.picture_cpu is None else (await plan.picture_cpu(), time.monotonic())
        on_phase("wall")
        watcher.measure(True)
        progress(f"a proctor watches the wall of {len(watched)} cameras for {plan.seconds:g}s")
        await asyncio.sleep(plan.seconds)
        watcher.measure(False)
        on_phase("wall_end")
        if first is not None and plan.picture_cpu is not None:
            cpu = await plan.picture_cpu()
            result.wall_picture_cpu = (cpu - first[0], time.monotonic() - first[1])
        await watcher.stop()
    result.wall_log = watcher.log

"""A simulated proctor watching the exam's wall (docs/signaling.md, "The proctor wall").

It sends ``watch_wall``, keeps each camera's latest picture from the
acknowledgement and the ``wall_tiles`` pushed after it, and gets each new
picture as the wall page does: from the tile update's ``pictures`` (the JPEG
pushed with it), else fetched by its URL (so the server's work counts too).
Every :data:`SAMPLE_S` it notes each camera's picture age: now minus the
picture's ``taken_at`` (the server's clock, the same machine's), or the time
since the watch began while a camera has none yet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

SAMPLE_S = 0.25
JPEG_START = b"\xff\xd8"


@dataclass
class WallLog:
    cameras: int = 0
    pictures: int = 0  # fetched
    pushed: int = 0  # came with their tile update
    not_jpeg: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # HTTP status (or error) -> count
    ages_s: list[float] = field(default_factory=list)
    first_picture_s: list[float] = field(default_factory=list)  # per camera, from the watch


class WallWatcher:
    """``call`` is the proctor socket's acknowledged call; ``http`` carries its cookie."""

    def __init__(
        self,
        call: Callable[[str, dict[str, Any]], Any],
        http: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        exam_id: str,
        camera_ids: list[str],
    ) -> None:
        self._call = call
        self._http = http
        self._url = url
        self._headers = headers
        self.exam_id = exam_id
        self._taken: dict[str, float] = {}  # candidate id -> taken_at of the latest picture
        self._seq: dict[str, int] = {}
        self._expected = set(camera_ids)
        self._since = 0.0
        self._sampling = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetches: set[asyncio.Task[None]] = set()  # pictures being fetched
        self.log = WallLog(cameras=len(camera_ids))

    def on_tiles(self, message: dict[str, Any]) -> None:
        """A ``wall_tiles`` message (or the watch's acknowledgement)."""
        pushed = {
            p.get("tile_id"): p
            for p in message.get("pictures", [])
            if isinstance(p, dict) and p.get("camera") == "primary"
        }
        for tile in message.get("tiles", []):
            candidate = tile.get("candidate_id")
            picture = ((tile.get("cameras") or {}).get("primary") or {}).get("picture")
            if candidate not in self._expected or not picture:
                continue
            seq = int(picture["seq"])
            if seq <= self._seq.get(candidate, 0):
                continue
            self._seq[candidate] = seq
            if candidate not in self._taken:
                self.log.first_picture_s.append(time.time() - self._since)
            self._taken[candidate] = float(picture["taken_at"])
            sent = pushed.get(tile.get("tile_id"))
            if sent is not None and sent.get("seq") == seq:
                self._pushed(sent.get("jpeg"))
                continue
            task = asyncio.ensure_future(self._fetch(f"{picture['url']}?seq={seq}"))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)

    def _pushed(self, jpeg: Any) -> None:
        self.log.pushed += 1
        try:
            body = base64.b64decode(jpeg, validate=True) if isinstance(jpeg, str) else b""
        except binascii.Error:
            body = b""
        self._count("pushed")
        if not body.startswith(JPEG_START):
            self.log.not_jpeg += 1

    async def _fetch(self, path: str) -> None:
        try:
            async with self._http.get(self._url + path, headers=self._headers) as response:
                body = await response.read()
        except aiohttp.ClientError as exc:
            log.debug("fetching %s failed", path, exc_info=True)
            self._count(type(exc).__name__)
            return
        self.log.pictures += 1
        self._count(str(response.status))
        if response.status != 200 or not body.startswith(JPEG_START):
            self.log.not_jpeg += 1

    def _count(self, status: str) -> None:
        self.log.statuses[status] = self.log.statuses.get(status, 0) + 1

    async def watch(self) -> None:
        self._since = time.time()
        self.on_tiles(await self._call("watch_wall", {"exam_id": self.exam_id}))
        self._tasks.add(asyncio.ensure_future(self._sample()))

    def measure(self, on: bool) -> None:
        """Note ages from now on (True) or no more (False)."""
        self._sampling = on

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            if not self._sampling:
                continue
            now = time.time()
            for camera in self._expected:
                self.log.ages_s.append(now - self._taken.get(camera, self._since))

    async def stop(self) -> None:
        # Fetches still on their way end first: after unwatch_wall the server forgets the
        # pictures, and one fetched then is a 404 of the bench's own making.
        if self._fetches:
            await asyncio.wait(list(self._fetches), timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._call("unwatch_wall", {"exam_id": self.exam_id}), 10)
        tasks = [*self._tasks, *self._fetches]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

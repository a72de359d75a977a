"""What the tests of the server's eyes share (vision alerts, the face check all exam long): a
camera in front of a real photo, a candidate recording a formal take with it, the wall's next
picture brought by moving the server's time, and the candidate's incidents of one kind."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame

from bench import vision_fixtures as fx
from media.pictures import Picture
from tests.support.api import ApiClient
from tests.support.clock import wait_until
from tests.support.exams import Candidate
from tests.support.media import SyntheticVideo
from tests.support.proctoring import enter_formal
from tests.support.server import RunningServer
from web.keys import PICTURES

CLOCK = 90000
FPS = 15


def _yuv(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA).astype(np.uint8)
    return VideoFrame.from_ndarray(small, format="rgb24").reformat(format="yuv420p").to_ndarray()


class PhotoCamera(MediaStreamTrack):
    """Someone in front of the camera: ``face`` (a photo) in a room, moving a little, until
    ``covered``: then a finger on the lens (dark, even, sensor noise). It stands in for the
    candidate's synthetic camera on the same sender (the encoder is kept): its timestamps
    go on from that track's."""

    kind = "video"

    def __init__(self, face: np.ndarray) -> None:
        super().__init__()
        self.covered = False
        room = [
            fx.paste(fx.scene("brick"), face, 160 + dx, 40 + dy, 360)
            for dx, dy in ((0, 0), (12, 4), (24, 0), (12, -4))
        ]
        self._live = [_yuv(p) for p in room]
        rng = np.random.default_rng(5)
        self._dark = [_yuv(fx.covered(rng, 20.0, (1.0, 0.55, 0.45))) for _ in range(2)]
        self._after: SyntheticVideo | None = None
        self._offset_s = 0.0
        self._start: float | None = None
        self._index = 0

    def replace(self, c: Candidate) -> None:
        """In front of ``c``'s video sender, instead of its synthetic camera."""
        [sender] = [s for s in c.device.pcs[0].getSenders() if s.track and s.track.kind == "video"]
        synthetic = c.camera[0]
        assert isinstance(synthetic, SyntheticVideo)
        self._after = synthetic
        sender.replaceTrack(self)

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
            if self._after is not None:  # the sender's timestamps must keep rising
                self._offset_s = (self._after.frames_sent + 1) / self._after.fps
        index = self._index
        self._index += 1
        delay = self._start + index / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pictures = self._dark if self.covered else self._live
        frame = VideoFrame.from_ndarray(pictures[(index // 8) % len(pictures)], format="yuv420p")
        frame.pts = round((self._offset_s + index / FPS) * CLOCK)
        frame.time_base = fractions.Fraction(1, CLOCK)
        return frame


async def formal_take_with(
    server: RunningServer, c: Candidate, exam_id: str, camera: PhotoCamera
) -> dict[str, Any]:
    """``c`` passes the exam's identity check and enters q1 formally with ``camera`` in front
    of it; its reading time is jumped over. The take the server starts then (``take_started``),
    once half a second of the camera's media is recorded."""
    camera.replace(c)
    entered = await enter_formal(c, exam_id)
    server.advance(entered["reading"]["deadline"] - server.now())
    take: dict[str, Any] = await c.device.wait_event("take_started", purpose="formal")
    await server.recorded(take["take_id"], 0.5)
    return take


async def next_picture(
    server: RunningServer, owner: str, after: int, step_s: float | None = None
) -> Picture:
    """The wall's next picture of ``owner``'s camera (after ``after``, a ``seq``): the
    server's time moved by ``step_s`` (by default the wall's interval) to bring it."""
    pictures = server.app[PICTURES]
    server.advance(pictures.interval_s if step_s is None else step_s)

    def taken() -> bool:
        latest = pictures.latest(owner, "primary")
        return latest is not None and latest.seq > after

    await wait_until(taken, 15, "a new picture")
    found = pictures.latest(owner, "primary")
    assert found is not None
    return found


async def incidents_of(
    admin: ApiClient, exam_id: str, owner: str, kind: str
) -> list[dict[str, Any]]:
    """The candidate's incidents of ``kind`` on the proctors' timeline."""
    reply = await admin.call("GET", f"/api/proctor/exams/{exam_id}/candidates/{owner}/incidents")
    assert reply.status == 200, reply
    return [i for i in reply.body["incidents"] if i["kind"] == kind]

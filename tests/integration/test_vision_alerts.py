"""Vision alerts end to end: a real aiortc candidate records a formal take while nobody
watches; its camera (a real photo, moving) is covered mid-take; the server's wall pictures of
the take show it and a ``camera_dark`` incident appears on the candidate's timeline with its
onset (the first dark picture) and media position, then ends when the lens is uncovered.

Time is moved (``server.advance``) to bring each picture's tick; nothing waits on a
wall-clock threshold.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import cv2
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame

from bench import vision_fixtures as fx
from exams.identity.accounts import Role
from media.pictures import Picture
from tests.support.api import api_client
from tests.support.clock import wait_until
from tests.support.exams import (
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    staff,
    verify_for_exam,
)
from tests.support.server import RunningServer
from web.keys import PICTURES, VISION_DETECTORS

UNIT = "10131"
READING_S, RECORDING_S = 1, 600
CLOCK = 90000
FPS = 15


class FaceCamera(MediaStreamTrack):
    """A candidate in front of the camera (the astronaut photo, moving a little), until
    ``covered``: then a finger on the lens (dark, even, sensor noise)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.covered = False
        room = [
            fx.paste(fx.scene("brick"), fx.astronaut(), 160 + dx, 40 + dy, 360)
            for dx, dy in ((0, 0), (12, 4), (24, 0), (12, -4))
        ]
        self._live = [_yuv(p) for p in room]
        rng = np.random.default_rng(5)
        self._dark = [_yuv(fx.covered(rng, 20.0, (1.0, 0.55, 0.45))) for _ in range(2)]
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        index = self._index
        self._index += 1
        delay = self._start + index / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pictures = self._dark if self.covered else self._live
        frame = VideoFrame.from_ndarray(pictures[(index // 8) % len(pictures)], format="yuv420p")
        frame.pts = round(index / FPS * CLOCK)
        frame.time_base = fractions.Fraction(1, CLOCK)
        return frame


def _yuv(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA).astype(np.uint8)
    return VideoFrame.from_ndarray(small, format="rgb24").reformat(format="yuv420p").to_ndarray()


@pytest.fixture
def server(api_server: RunningServer) -> RunningServer:
    return api_server


async def next_picture(server: RunningServer, owner: str, after: int) -> Picture:
    """Bring the next picture tick (time moved by the wall's interval) and wait for it."""
    pictures = server.app[PICTURES]
    server.advance(pictures.interval_s)

    def taken() -> bool:
        latest = pictures.latest(owner, "primary")
        return latest is not None and latest.seq > after

    await wait_until(taken, 15, "a new picture")
    found = pictures.latest(owner, "primary")
    assert found is not None
    return found


def dark(picture: Picture) -> bool:
    return float(picture.luma().mean()) < 40


async def test_a_covered_camera_mid_take_raises_camera_dark_with_onset_and_position(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin:
        await add_unit(server, UNIT)
        await staff(server, admin, Role.UNIT_ADMIN, UNIT)
        timing = {"reading_limit_s": READING_S, "recording_limit_s": RECORDING_S}
        exam = await create_exam(
            admin, exam_body(online_question("q1", 1, **timing), now=time.time())
        )
        exam_id = exam["id"]
        q1 = f"/api/exams/{exam_id}/questions/q1"

        async with candidate_client(server, UNIT) as c:
            owner = c.account.id
            await verify_for_exam(c.api, c.account, exam_id)
            camera = FaceCamera()
            [sender] = [
                s for s in c.device.pcs[0].getSenders() if s.track and s.track.kind == "video"
            ]
            sender.replaceTrack(camera)
            entered = (await c.call("POST", q1 + "/formal")).body["question"]["attempt"]
            server.advance(entered["reading"]["deadline"] - server.now())
            take = await c.device.wait_event("take_started", purpose="formal")
            await server.recorded(take["take_id"], 0.5)  # the face camera's media is recorded
            # Nobody watches the wall: the take alone has the candidate pictured.
            vision = server.app[VISION_DETECTORS]
            assert vision.watching(owner) == take["take_id"]
            pictures = server.app[PICTURES]
            assert pictures.watching(owner)

            seq = 0
            live = None
            for _ in range(20):  # the candidate's face (not the device check's picture)
                picture = await next_picture(server, owner, seq)
                seq = picture.seq
                if not dark(picture) and float(picture.luma().std()) > 20:
                    live = picture
                    break
            assert live is not None

            camera.covered = True
            first_dark = None
            for _ in range(20):
                picture = await next_picture(server, owner, seq)
                seq = picture.seq
                if dark(picture):
                    first_dark = picture
                    break
            assert first_dark is not None

            path = f"/api/proctor/exams/{exam_id}/candidates/{owner}/incidents"

            async def incidents() -> list[dict[str, Any]]:
                reply = await admin.call("GET", path)
                assert reply.status == 200, reply
                return [i for i in reply.body["incidents"] if i["kind"] == "camera_dark"]

            assert await incidents() == []
            raised: list[dict[str, Any]] = []
            brought = 0

            async def fired() -> bool:
                """One more dark picture judged: is the incident there?"""
                nonlocal seq, brought
                # Dark pictures every 2.5 s: 5 s after the first, it fires.
                assert brought < 6, "no camera_dark after six dark pictures"
                picture = await next_picture(server, owner, seq)
                seq, brought = picture.seq, brought + 1
                assert dark(picture)
                await vision.idle()
                raised[:] = await incidents()
                return bool(raised)

            await wait_until(fired, 60, "camera_dark raised")
            [incident] = raised
            assert incident["camera"] == "primary"
            assert incident["started_at"] == pytest.approx(first_dark.taken_at)
            assert incident["raised_at"] - incident["started_at"] >= 5.0  # the rule's after_s
            assert incident["raised_at"] - incident["started_at"] <= 5.0 + 2 * pictures.interval_s
            assert incident["take_id"] == take["take_id"]
            assert incident["take_offset_s"] == pytest.approx(
                first_dark.taken_at - take["started_at"], abs=0.5
            )
            assert incident["ended_at"] is None and incident["status"] == "open"

            camera.covered = False
            for _ in range(20):
                picture = await next_picture(server, owner, seq)
                seq = picture.seq
                if not dark(picture):
                    break
            await vision.idle()
            [ended] = await incidents()
            assert ended["ended_at"] == pytest.approx(picture.taken_at)

            # The take stops: its claim is given back and, nobody watching, no more pictures.
            stopped = await c.call("POST", q1 + f"/takes/{take['take_id']}/stop")
            assert stopped.body["take"]["state"] == "stored", stopped.body["take"]
            await wait_until(lambda: vision.watching(owner) is None, 10, "the take unwatched")
            assert not pictures.watching(owner)
            assert vision.stats().takes == 0 and vision.stats().judged >= seq - 1

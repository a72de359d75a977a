"""The same person all exam long, end to end: the unit uploads the candidate's reference photo
(the astronaut) through the console API; a real aiortc candidate records a formal take with
someone else in front of the camera (an LFW face, moving a little); the take's wall pictures
are compared with the reference every ``face_check_interval_s`` and a ``face_not_recognised``
incident appears on the candidate's timeline once (not once per picture), for a proctor to
decide; the candidate is not failed, and the stopped take ends it.

Time is moved (``server.advance``) to bring each check's picture; nothing waits on a
wall-clock threshold.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame

from bench import vision_fixtures as fx
from exams.identity.accounts import Role
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
from tests.support.faces import reference_photo
from tests.support.media import SyntheticVideo
from tests.support.server import RunningServer, running_server, server_settings
from web.keys import FACE_CHECK, PICTURES

UNIT = "10171"
READING_S, RECORDING_S = 1, 900
CLOCK = 90000
FPS = 15
INTERVAL_S = 30


class StrangerCamera(MediaStreamTrack):
    """Someone else than the candidate in front of the camera: an LFW face, moving a little."""

    kind = "video"

    def __init__(self, after: SyntheticVideo) -> None:
        super().__init__()
        self._after = after  # the track it replaces: its timestamps go on from there
        self._offset_s = 0.0
        room = [
            fx.paste(fx.scene("brick"), fx.lfw_faces()[3], 160 + dx, 40 + dy, 360)
            for dx, dy in ((0, 0), (12, 4), (24, 0), (12, -4))
        ]
        self._frames = [_yuv(p) for p in room]
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
            # the sender's encoder is kept (same size): its timestamps must keep rising
            self._offset_s = (self._after.frames_sent + 1) / self._after.fps
        index = self._index
        self._index += 1
        delay = self._start + index / FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = VideoFrame.from_ndarray(
            self._frames[(index // 8) % len(self._frames)], format="yuv420p"
        )
        frame.pts = round((self._offset_s + index / FPS) * CLOCK)
        frame.time_base = fractions.Fraction(1, CLOCK)
        return frame


def _yuv(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA).astype(np.uint8)
    return VideoFrame.from_ndarray(small, format="rgb24").reformat(format="yuv420p").to_ndarray()


async def test_someone_else_at_the_camera_raises_face_not_recognised_once(
    tmp_path: Path,
) -> None:
    settings = server_settings(
        tmp_path / "data",
        password_hash_memory_kib=1024,
        verifier="id_suffix",  # this test is about the check during the exam
        face_check_interval_s=INTERVAL_S,
    )
    async with running_server(settings) as server, api_client(server) as admin:
        await run(server, admin)


async def run(server: RunningServer, admin: Any) -> None:
    await add_unit(server, UNIT)
    await staff(server, admin, Role.UNIT_ADMIN, UNIT)
    timing = {"reading_limit_s": READING_S, "recording_limit_s": RECORDING_S}
    exam = await create_exam(admin, exam_body(online_question("q1", 1, **timing), now=time.time()))
    exam_id = exam["id"]
    q1 = f"/api/exams/{exam_id}/questions/q1"

    async with candidate_client(server, UNIT) as c:
        owner = c.account.id
        photo = f"/api/admin/units/{UNIT}/reference-photos/{c.account.id_number}.jpg"
        uploaded = await admin.call(
            "POST", photo, data=reference_photo(), headers={"Content-Type": "image/jpeg"}
        )
        assert uploaded.status == 201 and uploaded.body["stored"] == 1, uploaded
        await verify_for_exam(c.api, c.account, exam_id)
        [sender] = [s for s in c.device.pcs[0].getSenders() if s.track and s.track.kind == "video"]
        synthetic = c.camera[0]
        assert isinstance(synthetic, SyntheticVideo)
        sender.replaceTrack(StrangerCamera(synthetic))
        entered = (await c.call("POST", q1 + "/formal")).body["question"]["attempt"]
        server.advance(entered["reading"]["deadline"] - server.now())
        take = await c.device.wait_event("take_started", purpose="formal")
        await server.recorded(take["take_id"], 0.5)
        check = server.app[FACE_CHECK]
        assert check.watching(owner) == take["take_id"]  # nobody watches the wall

        path = f"/api/proctor/exams/{exam_id}/candidates/{owner}/incidents"

        async def raised() -> list[dict[str, Any]]:
            reply = await admin.call("GET", path)
            assert reply.status == 200, reply
            return [i for i in reply.body["incidents"] if i["kind"] == "face_not_recognised"]

        pictures = server.app[PICTURES]
        seq = 0

        async def next_check(step_s: float) -> None:
            """Move time by ``step_s`` and wait for the picture that brings."""
            nonlocal seq
            server.advance(step_s)
            await wait_until(
                lambda: (p := pictures.latest(owner, "primary")) is not None and p.seq > seq,
                15,
                "a new picture",
            )
            latest = pictures.latest(owner, "primary")
            assert latest is not None
            seq = latest.seq
            await check.idle()

        checks = 0
        while not await raised():  # the first checks: the stranger, twice in a row
            assert checks < 12, f"no face_not_recognised after {checks} checks"
            await next_check(pictures.interval_s if checks == 0 else 5.0)
            checks += 1
        stats = check.stats()
        assert stats.mismatches >= 2 and stats.checks >= 2
        for _ in range(3):  # more checks, the same stranger: still one incident
            await next_check(INTERVAL_S)
        assert check.stats().checks >= stats.checks + 3
        [incident] = await raised()
        assert incident["camera"] == "primary" and incident["take_id"] == take["take_id"]
        assert incident["ended_at"] is None and incident["status"] == "open"

        # never an automatic fail: the take goes on recording; stopping it ends the incident
        stopped = await c.call("POST", q1 + f"/takes/{take['take_id']}/stop")
        assert stopped.body["take"]["state"] == "stored", stopped.body["take"]
        await wait_until(lambda: check.watching(owner) is None, 10, "the take unwatched")
        [ended] = await raised()
        assert ended["ended_at"] is not None

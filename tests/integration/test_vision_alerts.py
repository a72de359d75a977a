"""Vision alerts end to end: a real aiortc candidate records a formal take while nobody
watches; its camera (a real photo, moving) is covered mid-take; the server's wall pictures of
the take show it and a ``camera_dark`` incident appears on the candidate's timeline with its
onset (the first dark picture) and media position, then ends when the lens is uncovered.

Time is moved (``server.advance``) to bring each picture's tick; nothing waits on a
wall-clock threshold.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import vision_fixtures as fx
from media.pictures import Picture
from tests.support.api import api_client
from tests.support.clock import wait_until
from tests.support.exams import candidate_client, online_question, unit_exam
from tests.support.server import RunningServer, api_server_fixture
from tests.support.vision import PhotoCamera, formal_take_with, incidents_of, next_picture
from web.keys import PICTURES, VISION_DETECTORS

UNIT = "10131"
READING_S, RECORDING_S = 1, 600

server = api_server_fixture()


def dark(picture: Picture) -> bool:
    return float(picture.luma().mean()) < 40


async def test_a_covered_camera_mid_take_raises_camera_dark_with_onset_and_position(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin:
        timing = {"reading_limit_s": READING_S, "recording_limit_s": RECORDING_S}
        exam_id = await unit_exam(server, admin, UNIT, online_question("q1", 1, **timing))
        q1 = f"/api/exams/{exam_id}/questions/q1"

        async with candidate_client(server, UNIT) as c:
            owner = c.account.id
            camera = PhotoCamera(fx.astronaut())  # the candidate, until the lens is covered
            take = await formal_take_with(server, c, exam_id, camera)
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

            async def incidents() -> list[dict[str, Any]]:
                return await incidents_of(admin, exam_id, owner, "camera_dark")

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

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

from typing import Any

from bench import vision_fixtures as fx
from tests.support.api import ApiClient, api_client
from tests.support.clock import wait_until
from tests.support.exams import Candidate, candidate_client, online_question, unit_exam
from tests.support.faces import reference_photo
from tests.support.server import RunningServer, api_server_fixture
from tests.support.vision import PhotoCamera, formal_take_with, incidents_of, next_picture
from web.keys import FACE_CHECK, PICTURES

UNIT = "10171"
READING_S, RECORDING_S = 1, 900
INTERVAL_S = 30

server = api_server_fixture(
    verifier="id_suffix",  # this test is about the check during the exam
    face_check_interval_s=INTERVAL_S,
)


async def test_someone_else_at_the_camera_raises_face_not_recognised_once(
    server: RunningServer,
) -> None:
    timing = {"reading_limit_s": READING_S, "recording_limit_s": RECORDING_S}
    async with api_client(server) as admin:
        exam_id = await unit_exam(server, admin, UNIT, online_question("q1", 1, **timing))
        async with candidate_client(server, UNIT) as c:
            await run(server, admin, exam_id, c)


async def run(server: RunningServer, admin: ApiClient, exam_id: str, c: Candidate) -> None:
    owner = c.account.id
    photo = f"/api/admin/units/{UNIT}/reference-photos/{c.account.id_number}.jpg"
    uploaded = await admin.call(
        "POST", photo, data=reference_photo(), headers={"Content-Type": "image/jpeg"}
    )
    assert uploaded.status == 201 and uploaded.body["stored"] == 1, uploaded
    stranger = PhotoCamera(fx.lfw_faces()[3])  # someone else than the candidate
    take = await formal_take_with(server, c, exam_id, stranger)
    check = server.app[FACE_CHECK]
    assert check.watching(owner) == take["take_id"]  # nobody watches the wall

    async def raised() -> list[dict[str, Any]]:
        return await incidents_of(admin, exam_id, owner, "face_not_recognised")

    seq = 0

    async def next_check(step_s: float) -> None:
        """Move time by ``step_s`` and wait for the picture that brings, then its check."""
        nonlocal seq
        seq = (await next_picture(server, owner, seq, step_s)).seq
        await check.idle()

    checks = 0
    while not await raised():  # the first checks: the stranger, twice in a row
        assert checks < 12, f"no face_not_recognised after {checks} checks"
        await next_check(server.app[PICTURES].interval_s if checks == 0 else 5.0)
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
    q1 = f"/api/exams/{exam_id}/questions/q1"
    stopped = await c.call("POST", q1 + f"/takes/{take['take_id']}/stop")
    assert stopped.body["take"]["state"] == "stored", stopped.body["take"]
    await wait_until(lambda: check.watching(owner) is None, 10, "the take unwatched")
    [ended] = await raised()
    assert ended["ended_at"] is not None

"""A fair retake through the HTTP API (issue #18, M5): a real aiortc peer whose uplink goes
dark for 3 s in the middle of a formal take. The server's quality report finds the loss,
grants one more formal take beyond ``formal_count``, tells the page why and audits it;
a clean take grants nothing."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from typing import Any

from exams.identity.accounts import Role
from exams.shared.ports import Event
from tests.integration.test_recording_loss import Outage
from tests.support.api import api_client
from tests.support.clock import wait_for, wait_until
from tests.support.exams import (
    Candidate,
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    staff,
    verify_for_exam,
)
from tests.support.media import SyntheticVideo
from tests.support.server import RunningServer, api_server_fixture
from web.keys import AUDIT, HUB

OUTAGE_S = 3.0


exam_server = api_server_fixture()


async def question(c: Candidate, path: str) -> dict[str, Any]:
    reply = await c.call("GET", path)
    assert reply.status == 200, reply
    return dict(reply.body["question"])


async def formal_take(
    server: RunningServer, c: Candidate, path: str, outage_s: float = 0.0
) -> dict[str, Any]:
    """Record a formal take by hand: a second, an uplink outage of ``outage_s`` (none: 0),
    a second more, stop. The stored take's summary (with its quality report)."""
    started = await c.call("POST", path + "/takes", {"kind": "formal"})
    assert started.status in (200, 201), started
    take_id = started.body["question"]["attempt"]["recording"]["take_id"]
    await server.recorded(take_id, 1.0)
    video = next(t for t in c.camera if isinstance(t, SyntheticVideo))
    if outage_s:
        outage = Outage(c.device.pcs[0])
        outage.on = True
        sent = video.frames_sent
        await wait_until(lambda: video.frames_sent >= sent + outage_s * 30, 30, "the outage")
        outage.on = False
        assert outage.dropped > outage_s * 30
    before = server.app[HUB].written_s(take_id).get("primary", 0.0)
    await wait_until(
        lambda: server.app[HUB].written_s(take_id).get("primary", 0.0) >= before + 1.0,
        20,
        "a second recorded after the outage",
    )
    stopped = await c.call("POST", f"{path}/takes/{take_id}/stop")
    assert stopped.status == 200, stopped
    stored = await c.device.wait_event("take_stored", timeout=30, take_id=take_id)
    return dict(stored)


async def test_a_take_that_lost_3_s_to_the_network_grants_one_more_formal_take(
    exam_server: RunningServer,
) -> None:
    async with api_client(exam_server) as admin:
        await add_unit(exam_server, "10001")
        await staff(exam_server, admin, Role.UNIT_ADMIN, "10001")
        exam = await create_exam(
            admin,
            exam_body(
                online_question("q1", 1, formal_count=1, recording_limit_s=120),
                now=time.time(),
            ),
        )
        assert exam["retake"] == {
            "enabled": True,
            "lost_over_s": 2.0,
            "low_fps_over_s": 5.0,
            "audio_missing": True,
            "max_extra": 2,
        }
        path = f"/api/exams/{exam['id']}/questions/q1"
        async with candidate_client(exam_server, "10001") as c:
            await verify_for_exam(c.api, c.account, exam["id"])
            assert (await c.call("POST", path + "/formal")).status == 200

            # the damaged take: the report says what was lost, and when
            first = await formal_take(exam_server, c, path, OUTAGE_S)
            quality = first["quality"]
            assert quality is not None and quality["version"] == 1, first
            assert quality["lost_s"] > 2.0, quality  # the most any camera (or track) lost

            q = await wait_for(
                lambda: question(c, path),
                lambda q: q["attempt"]["formal"]["allowed"] == 2,
                20,
                "a retake granted for the damaged take",
            )
            a = q["attempt"]
            assert a["formal"] == {"allowed": 2, "used": 1, "remaining": 1}
            [retake] = a["retakes"]
            assert retake["take_id"] == first["take_id"]
            [damage] = retake["damage"]
            assert damage["kind"] == "lost" and damage["seconds"] > 2.0
            assert damage["text"].startswith("this take lost ")
            told = await c.device.wait_event("retake_granted", take_id=first["take_id"])
            assert told["damage"][0]["kind"] == "lost"
            entries = await exam_server.app[AUDIT].recent(50, c.account.id)
            [entry] = [e for e in entries if e.event is Event.RETAKE_GRANTED]
            assert entry.detail["take_id"] == first["take_id"]
            assert entry.detail["reasons"] == [damage["text"]]

            # the extra take, clean: it grants nothing, and the limit holds after it
            second = await formal_take(exam_server, c, path)
            assert second["quality"]["lost_s"] <= 2.0, second["quality"]
            q = await question(c, path)
            assert q["attempt"]["formal"] == {"allowed": 2, "used": 2, "remaining": 0}
            refused = await c.call("POST", path + "/takes", {"kind": "formal"})
            assert refused.status == 409, refused
            entries = await exam_server.app[AUDIT].recent(50, c.account.id)
            assert sum(e.event is Event.RETAKE_GRANTED for e in entries) == 1

            # the damaged take submitted: the university sees its report and the retake
            chosen = await c.call("POST", path + "/choice", {"take_id": first["take_id"]})
            assert chosen.status == 200, chosen
            assert (await c.call("POST", path + "/submit")).status == 200
        listed = await admin.call("GET", f"/api/admin/exams/{exam['id']}/submissions")
        [work] = listed.body["submissions"]
        assert work["take"]["quality"]["lost_s"] == quality["lost_s"]
        [granted] = work["take"]["retakes"]
        assert granted["take_id"] == first["take_id"] and granted["damage"][0]["kind"] == "lost"
        exported = await admin.call("GET", f"/api/admin/exams/{exam['id']}/export")
        assert exported.status == 200
        archive = zipfile.ZipFile(io.BytesIO(exported.body))
        [top] = {n.split("/")[0] for n in archive.namelist()}
        text = archive.read(f"{top}/manifest.csv").decode("utf-8").lstrip("\ufeff")
        [row] = [r for r in csv.DictReader(io.StringIO(text)) if r["kind"] == "recording"]
        assert row["quality"].startswith("320x240, ") and "lost " in row["quality"], row
        assert row["retake"].startswith(f"{first['take_id']}: this take lost "), row

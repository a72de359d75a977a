"""A whole exam through the API, a real aiortc peer publishing the candidate's camera.

The server records every take itself: it starts the formal takes when the
reading time runs out and stops them at the recording limit. The stored files
are opened with PyAV at the end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.analysis import segment_file
from tests.support.api import api_client
from tests.support.clock import wait_for
from tests.support.exams import (
    Candidate,
    candidate_client,
    offline_question,
    online_question,
    unit_exam,
    verify_for_exam,
)
from tests.support.server import RunningServer, api_server_fixture
from web.keys import TAKE_RECORDS

READING_S, RECORDING_S = 1, 2


exam_server = api_server_fixture()


def small_mp4(path: Path) -> bytes:
    """A 1-second MPEG-4 clip made here (no clips are committed)."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            picture = np.full((64, 64, 3), i * 20, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path.read_bytes()


def media_of(path: Path) -> tuple[str, str, int]:
    """(video codec, audio codec, decoded video frames) of a recorded file."""
    with av.open(str(path)) as f:
        video = f.streams.video[0].codec_context.name
        audio = f.streams.audio[0].codec_context.name
        frames = sum(1 for _ in f.decode(video=0))
    return video, audio, frames


async def page(c: Candidate, path: str) -> dict[str, Any]:
    reply = await c.call("GET", path)
    assert reply.status == 200, reply
    return dict(reply.body)


async def test_a_whole_exam_recorded_by_the_server(
    exam_server: RunningServer, tmp_path: Path
) -> None:
    async with api_client(exam_server) as admin:
        timing = {"reading_limit_s": READING_S, "recording_limit_s": RECORDING_S}
        exam_id = await unit_exam(
            exam_server,
            admin,
            "10001",
            online_question(
                "q1",
                1,
                rehearsal_allowed=True,
                rehearsal_count=1,
                formal_count=2,
                formal_playback_allowed=True,
                **timing,
            ),
            online_question("q2", 2, auto_submit=True, **timing),
            offline_question("q3", 3),
        )
        q1, q2, q3 = (f"/api/exams/{exam_id}/questions/{q}" for q in ("q1", "q2", "q3"))

        async with candidate_client(exam_server, "10001") as c:
            await verify_for_exam(c.api, c.account, exam_id)
            events = c.device

            # Rehearsal: the server starts it when the reading time runs out; stopped on the
            # socket; played back once.
            begun = (await c.call("POST", q1 + "/rehearsal")).body
            reading_deadline = begun["question"]["attempt"]["reading"]["deadline"]
            exam_server.advance(reading_deadline - exam_server.now())  # the reading time is over
            started = await events.wait_event("take_started", purpose="rehearsal")
            assert started["started_at"] == pytest.approx(reading_deadline, abs=0.3)
            await exam_server.recorded(started["take_id"], 0.5)  # some media to play back
            stored = await events.call("stop_take", {"take_id": started["take_id"]})
            assert stored["state"] == "stored", stored
            [rehearsal] = (await page(c, q1))["question"]["attempt"]["takes"]
            assert (rehearsal["stop_reason"], rehearsal["playback"]) == ("stopped", "available")
            segment = f"/api/takes/{rehearsal['take_id']}/segments/0"
            played = await c.call("GET", segment)
            assert played.status == 200 and played.headers["Content-Type"] == "video/webm"
            assert played.headers["Cache-Control"] == "no-store"  # played once: no cached copy
            ranged = await c.call("GET", segment, headers={"Range": "bytes=0-99"})
            assert ranged.status == 206  # the same playback, seeking
            [rehearsal] = (await page(c, q1))["question"]["attempt"]["takes"]
            assert rehearsal["playback"] == "gone"

            # Formal answer: the server starts at the reading deadline, stops at the limit.
            entered = (await c.call("POST", q1 + "/formal")).body["question"]["attempt"]
            assert (await c.call("GET", segment)).status == 404  # the rehearsal is deleted
            exam_server.advance(entered["reading"]["deadline"] - exam_server.now())
            first = await events.wait_event(
                "take_started", purpose="formal", attempt_id=entered["attempt_id"]
            )
            assert first["started_at"] == pytest.approx(entered["reading"]["deadline"], abs=0.3)
            await exam_server.recorded(first["take_id"], 0.5)  # real media, then the limit
            exam_server.advance(first["started_at"] + RECORDING_S - exam_server.now())
            first = await events.wait_event("take_stored", take_id=first["take_id"])
            assert first["stop_reason"] == "time_limit"
            # at its limit exactly, however late the timer ran (the recording ends there too)
            assert first["stopped_at"] - first["started_at"] == pytest.approx(RECORDING_S, abs=1e-6)
            # Record again by hand (two formal takes allowed), stop over HTTP.
            again = (await c.call("POST", q1 + "/takes", {"kind": "formal"})).body
            second_id = again["question"]["attempt"]["recording"]["take_id"]
            await exam_server.recorded(second_id, 0.5)
            stopped = (await c.call("POST", q1 + f"/takes/{second_id}/stop")).body
            assert stopped["take"]["state"] == "stored"
            works = await page(c, q1 + "/works")
            assert [w["take_id"] for w in works["works"]] == [first["take_id"], second_id]
            assert {w["playback"] for w in works["works"]} == {"allowed"}
            mine = await c.call("GET", f"/api/takes/{first['take_id']}/segments/0")
            assert mine.status == 200
            chosen = await c.call("POST", q1 + "/choice", {"take_id": first["take_id"]})
            assert chosen.body["question"]["attempt"]["chosen_take_id"] == first["take_id"]
            done = await c.call("POST", q1 + "/submit")
            assert done.body["question"]["phase"] == "submitted"

            # A single take that submits itself once it is stored.
            q2_attempt = (await c.call("POST", q2 + "/formal")).body["question"]["attempt"]
            exam_server.advance(q2_attempt["reading"]["deadline"] - exam_server.now())
            auto = await events.wait_event("take_started", attempt_id=q2_attempt["attempt_id"])
            assert auto["started_at"] == pytest.approx(q2_attempt["reading"]["deadline"], abs=0.3)
            await exam_server.recorded(auto["take_id"], 0.5)  # real media, then the limit
            exam_server.advance(auto["started_at"] + RECORDING_S - exam_server.now())
            auto_page = await wait_for(
                lambda: page(c, q2),
                lambda b: b["question"]["attempt"]["submitted_by"] == "auto",
                10,
                "the question submitted by the server at its limit",
            )
            [auto_take] = auto_page["question"]["attempt"]["takes"]
            assert auto_take["take_id"] == auto["take_id"] and auto_take["chosen"]
            assert (auto_take["started_by"], auto_take["stop_reason"]) == ("server", "time_limit")

            # The offline question: upload, save, submit.
            await c.call("POST", q3 + "/open")
            clip = await asyncio.to_thread(small_mp4, tmp_path / "clip.mp4")
            uploaded = await c.call("POST", q3 + "/files?name=clip.mp4", data=clip)
            assert uploaded.status == 201, uploaded
            await c.call("POST", q3 + "/save")
            assert (await c.call("POST", q3 + "/submit")).body["question"]["phase"] == "submitted"

            finished = await page(c, f"/api/exams/{exam_id}")
            assert finished["finished"] is True
            assert [x["phase"] for x in finished["questions"]] == ["submitted"] * 3

        # The unit downloads what was submitted; every recording holds frames.
        rows = (await admin.call("GET", f"/api/admin/exams/{exam_id}/submissions")).body
        by_question = {r["question_id"]: r for r in rows["submissions"]}
        assert by_question["q1"]["take"]["take_id"] == first["take_id"]
        download = await admin.call("GET", by_question["q1"]["take"]["segments"][0]["url"])
        assert download.status == 200
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        (tmp_path / "q1.webm").write_bytes(download.body)
        video, audio, frames = await asyncio.to_thread(media_of, tmp_path / "q1.webm")
        assert (video, audio) == ("vp8", "opus") and frames > 0
        for take_id in (first["take_id"], second_id, auto_take["take_id"]):
            take = await exam_server.app[TAKE_RECORDS].get(take_id)
            assert take is not None and take.manifest is not None, take_id
            path = segment_file(
                exam_server.settings.data_dir, take_id, take.manifest["segments"][0]
            )
            video, audio, frames = await asyncio.to_thread(media_of, path)
            assert (video, audio) == ("vp8", "opus") and frames > 0, take_id
        offline = await admin.call("GET", by_question["q3"]["files"][0]["url"])
        assert offline.body == clip

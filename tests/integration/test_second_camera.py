"""The second camera (二机位, M3.5) with two real aiortc peers on one account.

The candidate's first device shows a QR code; the phone (its own log-in, same
account, its own socket) redeems the token, opens a ``secondary`` media
session, sends its camera and taps Ready. Formal takes record both cameras on
one clock: both files are opened with PyAV, and a white flash shown by both
senders at the same moment lands at the same time on the take's clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from exams.shared.ports import Event
from tests.support.analysis import flash_time, segment_file, video_frames
from tests.support.api import api_client
from tests.support.exams import (
    Candidate,
    candidate_client,
    online_question,
    phone_client,
    unit_exam,
    verify_for_exam,
)
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, api_server_fixture, connected_client
from web.keys import AUDIT, HUB, PAIRING, TAKE_RECORDS

UNIT = "10005"
READING_S = 6  # time to pair the phone before the server starts recording by itself
RECORDING_S = 3


exam_server = api_server_fixture()


async def second_camera_exam(server: RunningServer) -> str:
    async with api_client(server) as admin:
        return await unit_exam(
            server,
            admin,
            UNIT,
            online_question(
                "q1",
                1,
                second_camera_required=True,
                formal_count=3,
                formal_playback_allowed=True,
                recording_limit_s=60,
            ),
            online_question(
                "q2",
                2,
                second_camera_required=True,
                reading_limit_s=READING_S,
                recording_limit_s=RECORDING_S,
            ),
            online_question("q3", 3),
            online_question(
                "q4", 4, second_camera_required=True, recording_limit_s=1, submission_limit_s=2
            ),
        )


def question(exam_id: str, qid: str) -> str:
    return f"/api/exams/{exam_id}/questions/{qid}"


async def show_qr(server: RunningServer, c: Candidate, path: str) -> dict[str, Any]:
    issued = await c.call("POST", path + "/pairing")
    assert issued.status == 201, issued
    body = dict(issued.body)
    assert body["url"].startswith(server.url + "/pair?token=")
    assert parse_qs(urlparse(body["url"]).query)["token"] == [body["token"]]
    assert body["qr_svg"].startswith("<svg") and "</svg>" in body["qr_svg"]
    assert body["expires_at"] - body["now"] == pytest.approx(120)
    # Served on 127.0.0.1: no phone can open the code, and the page is told what to do.
    reach = body["reach"]
    assert (reach["ok"], reach["problem"], reach["port"]) == (
        False,
        "loopback",
        server.settings.port,
    )
    lan = reach["lan_addresses"][0] if reach["lan_addresses"] else "<lan-ip>"
    assert reach["restart_with"] == (
        f"--host 0.0.0.0 --public-url https://{lan}:{server.settings.port} --tls self-signed"
    )
    return body


async def join(
    server: RunningServer,
    c: Candidate,
    phone: Candidate,
    path: str,
    tracks: list[Any],
    expect: str = "ready",
) -> tuple[str, str]:
    """Scan, open the secondary session, send the camera, tap Ready: (pairing, session).
    During a take, Ready joins it at once (``expect="recording"``)."""
    qr = await show_qr(server, c, path)
    redeemed = await phone.call("POST", "/api/pairing/redeem", {"token": qr["token"]})
    assert redeemed.status == 200, redeemed
    pairing_id = redeemed.body["pairing_id"]
    assert redeemed.body["attempt_id"] == qr["attempt_id"]
    me = await phone.call("GET", "/api/me")  # the same account as the first device
    assert redeemed.body["candidate_id"] == me.body["account"]["id"]  # the phone's c=
    await c.device.wait_event("secondary_state", state="paired", pairing_id=pairing_id)
    session_id, _ = await phone.device.publish(
        tracks, open_args={"role": "secondary", "pairing_id": pairing_id}
    )
    await c.device.wait_event("secondary_state", state="connected", pairing_id=pairing_id)
    ready = await phone.device.call("secondary_ready", {"session_id": session_id})
    assert ready["state"] == expect, ready
    await c.device.wait_event("secondary_state", state=expect, pairing_id=pairing_id)
    return pairing_id, session_id


async def stored_take(server: RunningServer, take_id: str) -> dict[str, Any]:
    take = await server.app[TAKE_RECORDS].get(take_id)
    assert take is not None and take.manifest is not None, take_id
    return take.manifest


def flash_on_take_clock(server: RunningServer, take_id: str, segment: dict[str, Any]) -> float:
    frames = video_frames(segment_file(server.settings.data_dir, take_id, segment))
    assert frames, segment
    return float(segment["start_s"]) + flash_time(frames)


def frames_of(server: RunningServer, take_id: str, segment: dict[str, Any]) -> int:
    return len(video_frames(segment_file(server.settings.data_dir, take_id, segment)))


async def test_both_cameras_recorded_on_one_clock_started_by_hand(
    exam_server: RunningServer,
) -> None:
    exam_id = await second_camera_exam(exam_server)
    q1 = question(exam_id, "q1")
    async with candidate_client(exam_server, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        attempt = (await c.call("POST", q1 + "/formal")).body["question"]["attempt"]
        refused = await c.call("POST", q1 + "/takes", {"kind": "formal"})
        assert refused.status == 409 and "二机位" in refused.body["error"]["message"]

        async with phone_client(exam_server, c) as phone:
            phone_video = SyntheticVideo()
            _, session_id = await join(exam_server, c, phone, q1, [phone_video, SyntheticAudio()])
            state = await phone.call("GET", q1 + "/pairing")
            assert (state.body["state"], state.body["attempt_id"]) == (
                "ready",
                attempt["attempt_id"],
            )
            refused = await phone.device.call(
                "start_take", {"session_id": session_id, "purpose": "device_check"}
            )
            assert refused["error"]["code"] == "conflict"

            started = await c.call("POST", q1 + "/takes", {"kind": "formal"})
            assert started.status == 200, started
            take_id = started.body["question"]["attempt"]["recording"]["take_id"]
            await c.device.wait_event("secondary_state", state="recording", take_id=take_id)
            await phone.device.wait_event("take_started", take_id=take_id)
            # Both senders turn white at the same moment.
            flash = time.monotonic() + 1.5
            primary_video = c.camera[0]
            assert isinstance(primary_video, SyntheticVideo)
            for video in (primary_video, phone_video):
                video.flash_at(flash)
            await asyncio.sleep(3.0)
            stopped = await c.call("POST", q1 + f"/takes/{take_id}/stop")
            assert stopped.body["take"]["state"] == "stored", stopped
            await phone.device.wait_event("take_stored", take_id=take_id)
            after = await c.device.wait_event(
                "secondary_state", state="connected", reason="take_stopped"
            )
            assert after["warning"] is False and after["take_id"] is None
            [work] = (await c.call("GET", q1 + "/works")).body["works"]
            assert work["secondary_ready"] is True

            manifest = stopped.body["take"]["manifest"]
            [primary] = manifest["segments"]
            [secondary] = manifest["cameras"]["secondary"]["segments"]
            assert secondary["file"].startswith("secondary/")
            assert (primary["reason"], secondary["reason"]) == ("start", "start")
            assert manifest["cameras"]["secondary"]["gaps"] == []
            assert await asyncio.to_thread(frames_of, exam_server, take_id, primary) > 0
            assert await asyncio.to_thread(frames_of, exam_server, take_id, secondary) > 0
            first = await asyncio.to_thread(flash_on_take_clock, exam_server, take_id, primary)
            second = await asyncio.to_thread(flash_on_take_clock, exam_server, take_id, secondary)
            assert abs(first - second) < 0.1, f"cameras {abs(first - second) * 1000:.0f} ms apart"

            # Side by side: each camera's segments play for the owner.
            base = f"/api/takes/{take_id}/segments/0"
            for path in (base, base + "?camera=secondary"):
                played = await c.call("GET", path)
                assert played.status == 200 and played.headers["Content-Type"] == "video/webm"
            assert (await c.call("GET", base + "?camera=tertiary")).status == 404
            assert (await phone.call("GET", base + "?camera=secondary")).status == 200

            # The next take needs Ready again.
            again = await c.call("POST", q1 + "/takes", {"kind": "formal"})
            assert again.status == 409, again

            # Submitting ends the pairing: both devices are told, the phone's camera closes.
            await c.call("POST", q1 + "/choice", {"take_id": take_id})
            assert (await c.call("POST", q1 + "/submit")).status == 200
            done = await phone.device.wait_event("secondary_state", state="done")
            assert done["reason"] == "submitted"
            await c.device.wait_event("secondary_state", state="done")
            assert exam_server.app[HUB].get(session_id) is None


async def test_server_starts_both_cameras_at_the_reading_deadline(
    exam_server: RunningServer,
) -> None:
    exam_id = await second_camera_exam(exam_server)
    q2 = question(exam_id, "q2")
    async with candidate_client(exam_server, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        attempt = (await c.call("POST", q2 + "/formal")).body["question"]["attempt"]
        async with phone_client(exam_server, c) as phone:
            await join(exam_server, c, phone, q2, [SyntheticVideo(), SyntheticAudio()])
            exam_server.advance(attempt["reading"]["deadline"] - exam_server.now())  # paired
            started = await c.device.wait_event(
                "take_started", timeout=READING_S + 5, attempt_id=attempt["attempt_id"]
            )
            assert started["started_at"] == pytest.approx(attempt["reading"]["deadline"], abs=0.3)
            take_id = started["take_id"]
            await c.device.wait_event("secondary_state", state="recording", take_id=take_id)
            await exam_server.recorded(take_id, 0.5, "primary", "secondary")  # then the limit
            exam_server.advance(started["started_at"] + RECORDING_S - exam_server.now())
            stored = await phone.device.wait_event(
                "take_stored", timeout=RECORDING_S + 5, take_id=take_id
            )
            assert stored["stop_reason"] == "time_limit"
            manifest = stored["manifest"]
            [primary] = manifest["segments"]
            [secondary] = manifest["cameras"]["secondary"]["segments"]
            assert await asyncio.to_thread(frames_of, exam_server, take_id, primary) > 0
            assert await asyncio.to_thread(frames_of, exam_server, take_id, secondary) > 0
            page = (await c.call("GET", q2)).body["question"]["attempt"]
            [take] = page["takes"]
            assert (take["started_by"], take["secondary_ready"]) == ("server", True)


async def test_the_phone_drops_and_rejoins_the_same_take(exam_server: RunningServer) -> None:
    exam_id = await second_camera_exam(exam_server)
    q1 = question(exam_id, "q1")
    async with candidate_client(exam_server, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        await c.call("POST", q1 + "/formal")
        async with phone_client(exam_server, c) as phone:
            first_pairing, _ = await join(
                exam_server, c, phone, q1, [SyntheticVideo(), SyntheticAudio()]
            )
            started = await c.call("POST", q1 + "/takes", {"kind": "formal"})
            take_id = started.body["question"]["attempt"]["recording"]["take_id"]
            await c.device.wait_event("secondary_state", state="recording", take_id=take_id)
            # frames before the drop (and of the page's camera, or the take fails)
            await exam_server.recorded(take_id, 0.5, "primary", "secondary")
        # The phone is gone (peer connection and socket closed): the first device is told
        # at once, not when the camera's reconnect grace (10 s) runs out.
        lost = await c.device.wait_event("secondary_state", timeout=8, state="lost")
        assert (lost["warning"], lost["take_id"], lost["pairing_id"]) == (
            True,
            take_id,
            first_pairing,
        )
        await asyncio.sleep(0.5)
        # A new scan: the phone continues the same take in a new segment.
        async with phone_client(exam_server, c) as phone:
            pairing_id, _ = await join(
                exam_server, c, phone, q1, [SyntheticVideo(), SyntheticAudio()], "recording"
            )
            back = await c.device.wait_event(
                "secondary_state", state="recording", pairing_id=pairing_id
            )
            assert (back["take_id"], back["warning"]) == (take_id, False)
            before = exam_server.app[HUB].written_s(take_id)["secondary"]
            await exam_server.recorded(take_id, before + 0.5, "secondary")  # frames after
            stopped = await c.call("POST", q1 + f"/takes/{take_id}/stop")
        manifest = stopped.body["take"]["manifest"]
        camera = manifest["cameras"]["secondary"]
        segments = camera["segments"]
        assert [s["reason"] for s in segments] == ["start", "reconnect"]
        assert segments[0]["peer"] != segments[1]["peer"]
        [gap] = camera["gaps"]
        assert gap["reason"] == "connection_lost"
        first_end = segments[0]["start_s"] + segments[0]["duration_s"]
        assert first_end <= gap["start_s"] + 0.1 and gap["end_s"] == segments[1]["start_s"]
        for segment in segments:
            assert await asyncio.to_thread(frames_of, exam_server, take_id, segment) > 0
        [primary] = manifest["segments"]  # the first device recorded on, untouched
        assert primary["reason"] == "start" and manifest["gaps"] == []


async def test_stopping_the_phone_while_recording_keeps_its_video(
    exam_server: RunningServer,
) -> None:
    exam_id = await second_camera_exam(exam_server)
    q1 = question(exam_id, "q1")
    async with candidate_client(exam_server, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        await c.call("POST", q1 + "/formal")
        async with phone_client(exam_server, c) as phone:
            pairing_id, session_id = await join(
                exam_server, c, phone, q1, [SyntheticVideo(), SyntheticAudio()]
            )
            started = await c.call("POST", q1 + "/takes", {"kind": "formal"})
            take_id = started.body["question"]["attempt"]["recording"]["take_id"]
            await c.device.wait_event("secondary_state", state="recording", take_id=take_id)
            # a segment over 1 s from the phone; the page's camera too, or the take fails
            await exam_server.recorded(take_id, 1.2, "primary", "secondary")
            closed = await phone.device.call("close_session", {"session_id": session_id})
            assert closed["closed"] is True
            # at the close, not at the reconnect grace's end (10 s)
            stopped_event = await c.device.wait_event("secondary_state", timeout=8, state="stopped")
            assert (stopped_event["warning"], stopped_event["take_id"]) == (True, take_id)
            reopened = await phone.device.call(
                "open_session", {"role": "secondary", "pairing_id": pairing_id}
            )
            assert reopened["error"]["code"] == "conflict"  # a new scan is needed
            await asyncio.sleep(1.0)
            stopped = await c.call("POST", q1 + f"/takes/{take_id}/stop")
            assert stopped.body["take"]["state"] == "stored"
        camera = stopped.body["take"]["manifest"]["cameras"]["secondary"]
        [segment] = camera["segments"]
        assert segment["duration_s"] > 1.0
        assert await asyncio.to_thread(frames_of, exam_server, take_id, segment) > 0
        [gap] = camera["gaps"]
        assert gap["reason"] == "camera_stopped"


async def test_a_phone_paired_first_during_a_take_joins_it_when_ready(
    exam_server: RunningServer,
) -> None:
    """No phone in the reading time: the server starts the take with the first camera only.
    A phone paired for the first time then records in that take from its Ready on."""
    q1_settings = {"second_camera_required": True, "reading_limit_s": 30, "recording_limit_s": 60}
    async with api_client(exam_server) as admin:
        exam_id = await unit_exam(exam_server, admin, UNIT, online_question("q1", 1, **q1_settings))
    q1 = question(exam_id, "q1")
    async with candidate_client(exam_server, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        attempt = (await c.call("POST", q1 + "/formal")).body["question"]["attempt"]
        exam_server.advance(attempt["reading"]["deadline"] - exam_server.now())
        started = await c.device.wait_event(
            "take_started", timeout=10, attempt_id=attempt["attempt_id"]
        )
        take_id = started["take_id"]
        await exam_server.recorded(take_id, 0.5, "primary")  # before the phone is there
        async with phone_client(exam_server, c) as phone:
            pairing_id, _ = await join(
                exam_server, c, phone, q1, [SyntheticVideo(), SyntheticAudio()], "recording"
            )
            joined = await c.device.wait_event(
                "secondary_state", state="recording", pairing_id=pairing_id
            )
            assert (joined["take_id"], joined["warning"]) == (take_id, False)
            state = await phone.call("GET", q1 + "/pairing")
            assert (state.body["state"], state.body["take_id"]) == ("recording", take_id)
            await exam_server.recorded(take_id, 0.5, "secondary")
            stopped = await c.call("POST", q1 + f"/takes/{take_id}/stop")
            assert stopped.body["take"]["state"] == "stored", stopped
            await phone.device.wait_event("take_stored", take_id=take_id)
        manifest = stopped.body["take"]["manifest"]
        [primary] = manifest["segments"]
        [secondary] = manifest["cameras"]["secondary"]["segments"]
        assert secondary["file"].startswith("secondary/") and secondary["reason"] == "start"
        # On the take's clock: the phone's picture begins after the first camera's first half
        # second (nothing of the second camera before it is ready).
        assert secondary["start_s"] > primary["start_s"] + 0.4, (primary, secondary)
        assert await asyncio.to_thread(frames_of, exam_server, take_id, primary) > 0
        assert await asyncio.to_thread(frames_of, exam_server, take_id, secondary) > 0


async def test_tokens_are_single_use_short_lived_and_the_candidates_own(
    exam_server: RunningServer,
) -> None:
    exam_id = await second_camera_exam(exam_server)
    q1, q3, q4 = (question(exam_id, q) for q in ("q1", "q3", "q4"))
    async with candidate_client(exam_server, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        before = await c.call("POST", q1 + "/pairing")
        assert before.status == 409  # no answer under way yet
        no_camera = await c.call("POST", q3 + "/pairing")
        assert no_camera.status == 409 and "二机位" in no_camera.body["error"]["message"]

        async with phone_client(exam_server, c) as phone:
            # An answer whose submission time is over can no longer be joined.
            await c.call("POST", q4 + "/formal")
            qr4 = await show_qr(exam_server, c, q4)
            exam_server.advance(2.1)  # its submission time is over
            closed = await phone.call("POST", "/api/pairing/redeem", {"token": qr4["token"]})
            assert (closed.status, closed.code) == (409, "deadline_passed")

            # Replay: the second scan of a code is refused.
            await c.call("POST", q1 + "/formal")
            qr = await show_qr(exam_server, c, q1)
            first = await phone.call("POST", "/api/pairing/redeem", {"token": qr["token"]})
            assert first.status == 200, first
            replay = await phone.call("POST", "/api/pairing/redeem", {"token": qr["token"]})
            assert (replay.status, replay.code) == (409, "pairing_used")
            unknown = await phone.call("POST", "/api/pairing/redeem", {"token": "x" * 32})
            assert unknown.status == 404

            # Expiry.
            exam_server.app[PAIRING].ttl_s = 0.5
            qr = (await c.call("POST", q1 + "/pairing")).body
            exam_server.advance(0.6)
            late = await phone.call("POST", "/api/pairing/redeem", {"token": qr["token"]})
            assert (late.status, late.code) == (409, "pairing_expired")
            exam_server.app[PAIRING].ttl_s = 120

            # Another candidate cannot use this candidate's code or pairing.
            qr = await show_qr(exam_server, c, q1)
            async with connected_client(exam_server) as other:
                headers = {"Origin": exam_server.url}
                async with other.http.post(
                    exam_server.url + "/api/pairing/redeem",
                    json={"token": qr["token"]},
                    headers=headers,
                ) as response:
                    assert response.status == 403
                    assert (await response.json())["error"]["code"] == "pairing_not_yours"
                mine = await phone.call("POST", "/api/pairing/redeem", {"token": qr["token"]})
                assert mine.status == 200  # the refused try did not use it up
                taken = await other.call(
                    "open_session", {"role": "secondary", "pairing_id": mine.body["pairing_id"]}
                )
                assert taken["error"]["code"] == "not_found"
                bare = await other.call("open_session", {"role": "secondary"})
                assert bare["error"]["code"] == "invalid_input"
                audit = await exam_server.app[AUDIT].recent(50)
                denied = [e for e in audit if e.event is Event.ACCESS_DENIED]
                assert any(e.detail.get("what") == "pairing_redeem" for e in denied)
                assert all(qr["token"] not in str(e.detail) for e in audit)

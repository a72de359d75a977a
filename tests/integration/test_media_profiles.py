"""Each exam's sound and picture in the answer a camera gets (issue #18), over a real server,
real Socket.IO clients and real aiortc offers; and the device check's live figures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from exams.identity.accounts import Role
from tests.support.api import ApiClient, api_client
from tests.support.exams import (
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    staff,
)
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer
from tests.unit.media.test_sdp import fmtp_of

UNIT, OTHER_UNIT = "30018", "30019"


async def offer_sdp() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SyntheticVideo(), direction="sendonly")
    pc.addTransceiver(SyntheticAudio(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def exams_of(server: RunningServer, admin: ApiClient, unit: str, *media: Any) -> list[str]:
    await add_unit(server, unit)
    await staff(server, admin, Role.UNIT_ADMIN, unit)
    ids = []
    for m in media:
        body = exam_body(online_question(), now=time.time(), media=m)
        ids.append((await create_exam(admin, body))["id"])
    return ids


async def test_each_offer_is_answered_with_its_exams_opus_and_the_page_told(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as other_admin:
        voice, music = await exams_of(
            server, admin, UNIT, {"audio": "voice"}, {"audio": "music", "audio_kbps": 256}
        )
        [elsewhere] = await exams_of(server, other_admin, OTHER_UNIT, {"audio": "voice"})
        async with candidate_client(server, UNIT) as candidate:
            opened = await candidate.device.call("open_session", {"role": "primary"})
            sdp = await offer_sdp()

            async def answer(exam_id: str | None) -> dict[str, Any]:
                msg = {"session_id": opened["session_id"], "type": "offer", "sdp": sdp}
                if exam_id is not None:
                    msg["exam_id"] = exam_id
                reply: dict[str, Any] = await candidate.device.call("offer", msg)
                assert "sdp" in reply, reply
                return reply

            # one after another: each answer replaces the session's peer connection
            named = {
                "voice": voice,
                "music": music,
                "unit": None,
                "elsewhere": elsewhere,
                "unknown": "no-such-exam",
            }
            got = {k: await answer(e) for k, e in named.items()}

    assert fmtp_of(got["voice"]["sdp"], "opus") == {"useinbandfec": "1"}
    assert got["voice"]["media"]["audio"] == "voice"
    assert got["voice"]["media"]["stereo"] is False
    music_fmtp = {
        "stereo": "1",
        "maxplaybackrate": "48000",
        "maxaveragebitrate": "256000",
        "usedtx": "0",
        "useinbandfec": "1",
    }
    assert fmtp_of(got["music"]["sdp"], "opus") == music_fmtp
    assert got["music"]["media"]["audio_kbps"] == 256
    assert (got["music"]["media"]["width"], got["music"]["media"]["height"]) == (1280, 720)
    # the device check names no exam: the unit's most demanding one
    assert fmtp_of(got["unit"]["sdp"], "opus") == music_fmtp
    # an exam the candidate does not reach tunes nothing of its own: the default profile
    for name in ("elsewhere", "unknown"):
        assert fmtp_of(got[name]["sdp"], "opus")["maxaveragebitrate"] == "128000", got[name]
        assert got[name]["media"]["audio"] == "music"
    for reply in got.values():
        assert "x-google-min-bitrate" in fmtp_of(reply["sdp"], "VP8")


async def test_the_device_check_hears_what_the_server_receives_against_the_exam(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin:
        await exams_of(server, admin, UNIT, {"audio": "music", "audio_kbps": 160, "min_fps": 10})
        async with candidate_client(server, UNIT) as candidate:
            device = candidate.device
            session_id, _ = await device.publish([SyntheticVideo(), SyntheticAudio()])
            idle = await device.call("media_received", {"session_id": session_id})
            assert idle["received"] is None and idle["short"] == [], idle
            assert idle["needs"]["audio_kbps"] == 160
            take = await device.call(
                "start_take", {"session_id": session_id, "purpose": "device_check"}
            )
            await server.recorded(take["take_id"], 2.5)
            asked = await asyncio.gather(
                *(device.call("media_received", {"session_id": session_id}) for _ in range(3))
            )
            for reply in asked:
                received = reply["received"]
                assert received["video"]["frames"] > 0 and received["audio"]["present"], reply
                # aiortc's synthetic camera is 320x240: short of an exam at 720p
                assert "small_picture" in reply["short"], reply
                assert received["audio"]["channels"] in (1, 2), reply
                assert received["audio"]["bitrate_kbps"] > 0, reply
                assert "no_sound" not in reply["short"] and "no_picture" not in reply["short"]
            await device.call("stop_take", {"take_id": take["take_id"]})

        # someone else's session: refused, nothing told
        async with candidate_client(server, UNIT) as stranger:
            refused = await stranger.device.call("media_received", {"session_id": session_id})
            assert refused["error"]["code"] == "not_found", refused
            bad = await stranger.device.call("media_received", {"session": 1})
            assert bad["error"]["code"] == "invalid_input", bad

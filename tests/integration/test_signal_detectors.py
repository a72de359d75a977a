"""Signal detectors on a real server: real aiortc candidate peers, real Socket.IO clients,
time moved over the rules' durations instead of waited out.

- a microphone muted mid-take: a ``silence`` incident, its onset the last sound;
- a camera whose RTP stops (its senders send nothing): ``camera_lost`` 2 s later;
- page events over the candidate's socket: incidents timed by the server; a reload during
  a take; nothing outside a question; a proctor cannot send them; bad payloads refused.

Latencies (raised minus onset) are printed for the report (``-s``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exams.identity.accounts import Role
from exams.proctoring.monitoring import AlertKind
from tests.support.api import ApiClient, api_client
from tests.support.clock import wait_until
from tests.support.exams import Candidate, candidate_client, online_question, staff, unit_exam
from tests.support.media import SyntheticAudio
from tests.support.proctoring import enter_formal, socket_of
from tests.support.server import RunningServer, api_server_fixture
from web.keys import SIGNAL_DETECTORS

UNIT = "10081"


server = api_server_fixture()


async def an_exam(server: RunningServer, admin: ApiClient) -> str:
    timing = {"reading_limit_s": 300, "recording_limit_s": 900}
    return await unit_exam(server, admin, UNIT, online_question("q1", 1, formal_count=2, **timing))


async def incidents(admin: ApiClient, exam_id: str, who: str) -> list[dict[str, Any]]:
    reply = await admin.call("GET", f"/api/proctor/exams/{exam_id}/candidates/{who}/incidents")
    assert reply.status == 200, reply
    found: list[dict[str, Any]] = reply.body["incidents"]
    return found


async def incident(
    admin: ApiClient, exam_id: str, who: str, kind: AlertKind, ended: bool = False
) -> dict[str, Any]:
    """The first incident of ``kind`` (ended, if asked), waited for with a bound."""
    found: list[dict[str, Any]] = []

    async def seen() -> bool:
        found[:] = [
            i
            for i in await incidents(admin, exam_id, who)
            if i["kind"] == kind and (not ended or i["ended_at"] is not None)
        ]
        return bool(found)

    await wait_until(seen, 20, f"a {kind} incident{' ended' if ended else ''}")
    return found[0]


async def formal_take(server: RunningServer, c: Candidate, exam_id: str) -> dict[str, Any]:
    await enter_formal(c, exam_id)
    started = await c.call("POST", f"/api/exams/{exam_id}/questions/q1/takes", {"kind": "formal"})
    assert started.status == 200, started
    take = await c.device.wait_event("take_started", purpose="formal")
    await server.recorded(take["take_id"], 1.0)
    return dict(take)


async def test_a_muted_microphone_is_silence_from_its_last_sound(server: RunningServer) -> None:
    async with api_client(server) as admin:
        exam_id = await an_exam(server, admin)
        async with candidate_client(server, UNIT) as c:
            me = c.account.id
            take = await formal_take(server, c, exam_id)
            detectors = server.app[SIGNAL_DETECTORS]
            [audio] = [t for t in c.camera if isinstance(t, SyntheticAudio)]
            muted_at = server.now()
            audio.muted = True  # the track sends digital silence: level 127

            def noticed() -> bool:
                return detectors.since(take["take_id"], AlertKind.SILENCE, "primary") is not None

            await wait_until(noticed, 15, "the silence noticed")
            onset = detectors.since(take["take_id"], AlertKind.SILENCE, "primary")
            assert onset is not None and muted_at - 0.5 <= onset <= server.now()
            assert not [i for i in await incidents(admin, exam_id, me) if i["kind"] == "silence"]

            server.advance(20)  # the exam's rule: 20 s of silence
            found = await incident(admin, exam_id, me, AlertKind.SILENCE)
            assert found["started_at"] == pytest.approx(onset, abs=1e-3)
            assert (found["camera"], found["take_id"]) == ("primary", take["take_id"])
            assert found["take_offset_s"] == pytest.approx(onset - take["started_at"], abs=0.01)
            assert found["ended_at"] is None

            audio.muted = False  # sound again: the incident ends
            ended = await incident(admin, exam_id, me, AlertKind.SILENCE, ended=True)
            assert ended["ended_at"] > onset + 20
            print(f"silence: raised {found['raised_at'] - onset - 20:.2f}s after its time")


async def test_a_camera_whose_rtp_stops_is_lost_after_two_seconds(server: RunningServer) -> None:
    async with api_client(server) as admin:
        exam_id = await an_exam(server, admin)
        async with candidate_client(server, UNIT) as c:
            me = c.account.id
            take = await formal_take(server, c, exam_id)
            pc = c.device.pcs[-1]
            senders = [(s, s.track) for s in pc.getSenders()]
            stopped_at = server.now()
            for sender, _ in senders:
                sender.replaceTrack(None)  # the connection stays; no RTP is sent
            found = await incident(admin, exam_id, me, AlertKind.CAMERA_LOST)
            assert stopped_at - 0.5 <= found["started_at"] <= stopped_at + 0.5
            assert found["raised_at"] - found["started_at"] >= 2.0
            assert (found["camera"], found["take_id"]) == ("primary", take["take_id"])
            latency = found["raised_at"] - found["started_at"]
            for sender, track in senders:
                sender.replaceTrack(track)
            ended = await incident(admin, exam_id, me, AlertKind.CAMERA_LOST, ended=True)
            assert ended["ended_at"] >= found["raised_at"]
            print(f"camera_lost: raised {latency:.2f}s after the last frame (rule 2 s)")


async def test_page_events_are_timed_by_the_server(server: RunningServer) -> None:
    async with api_client(server) as admin:
        exam_id = await an_exam(server, admin)
        async with candidate_client(server, UNIT) as c:
            me = c.account.id
            # Not in a question: answered, not counted.
            idle = await c.device.call("page_event", {"kind": "hidden"})
            assert idle["counted"] is False, idle
            await c.device.call("page_event", {"kind": "visible"})

            q1 = f"/api/exams/{exam_id}/questions/q1"
            await enter_formal(c, exam_id)  # reading
            before = server.now()
            hidden = await c.device.call("page_event", {"kind": "hidden"})
            assert hidden["counted"] is True and before <= hidden["at"] <= server.now()
            found = await incident(admin, exam_id, me, AlertKind.PAGE_HIDDEN)
            assert found["started_at"] == pytest.approx(hidden["at"], abs=1e-3)
            assert found["camera"] is None and found["attempt_id"] is not None
            server.advance(7)
            visible = await c.device.call("page_event", {"kind": "visible"})
            ended = await incident(admin, exam_id, me, AlertKind.PAGE_HIDDEN, ended=True)
            assert ended["ended_at"] == pytest.approx(visible["at"], abs=1e-3)

            for start, end, kind in (
                ("window_left", "window_back", AlertKind.WINDOW_LEFT),
                ("fullscreen_left", "fullscreen_back", AlertKind.FULLSCREEN_LEFT),
            ):
                left = await c.device.call("page_event", {"kind": start})
                back = await c.device.call("page_event", {"kind": end})
                done = await incident(admin, exam_id, me, kind, ended=True)
                assert (done["started_at"], done["ended_at"]) == pytest.approx(
                    (left["at"], back["at"]), abs=1e-3
                )

            # A reload: counted only while a take records.
            early = await c.device.call("page_event", {"kind": "reloaded"})
            assert early["counted"] is False
            started = await c.call("POST", q1 + "/takes", {"kind": "formal"})
            assert started.status == 200, started
            reloaded = await c.device.call("page_event", {"kind": "reloaded"})
            assert reloaded["counted"] is True
            moment = await incident(admin, exam_id, me, AlertKind.PAGE_RELOADED)
            assert (
                moment["started_at"]
                == moment["ended_at"]
                == pytest.approx(reloaded["at"], abs=1e-3)
            )
            assert moment["take_id"] == started.body["question"]["attempt"]["recording"]["take_id"]
            kinds = [i["kind"] for i in await incidents(admin, exam_id, me)]
            assert kinds.count("page_hidden") == 1  # the one outside the question is not there


async def test_bad_page_events_and_other_roles_are_refused(server: RunningServer) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        await an_exam(server, admin)
        await staff(server, proctor, Role.PROCTOR, None)
        async with candidate_client(server, UNIT) as c, socket_of(server, proctor) as watcher:
            for bad in (
                None,
                "hidden",
                {},
                {"kind": "minimised"},
                {"kind": 3},
                {"kind": "hidden", "at": 1.0},
                {"kind": ""},
            ):
                reply = await c.device.call("page_event", bad)
                assert reply["error"]["code"] == "invalid_input", (bad, reply)
                assert "Traceback" not in str(reply)
            refused = await watcher.call("page_event", {"kind": "hidden"})
            assert refused["error"]["code"] == "forbidden", refused

            # A flood spends the account's message budget like any other event.
            acks = await asyncio.gather(
                *(c.device.call("page_event", {"kind": "hidden"}) for _ in range(80))
            )
            limited = [a for a in acks if "error" in a]
            assert {a["error"]["code"] for a in limited} == {"rate_limited"}
            assert len(limited) >= 10
            assert all(a["counted"] is False for a in acks if "error" not in a)

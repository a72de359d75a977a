"""Proctors watch a candidate live: real aiortc candidate peers sending barcoded frames,
real aiortc viewer peers, real Socket.IO clients, a real server.

The server relays the candidate's encoded frames (aiortc only re-packetises them): the
tests count the codec's encode/decode calls, read each frame's barcode at the viewer,
measure glass-to-glass latency (reported, not asserted), and check the recording made
meanwhile with PyAV.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiortc.codecs.h264 as h264
import aiortc.codecs.vpx as vpx
import pytest
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from exams.identity.accounts import Account, Role
from exams.shared.ports import Event
from media import ice
from media.load import STALL_S
from media.relay import VIDEO_QUEUE_FRAMES, RelayTrack
from signaling.viewers import RECHECK_S
from storage.exams import SqliteExams
from tests.integration.test_second_camera import UNIT as SECOND_CAMERA_UNIT
from tests.integration.test_second_camera import join, question, second_camera_exam
from tests.support.analysis import decode_strictly, segment_file
from tests.support.api import ApiClient, signed_up
from tests.support.clock import wait_until
from tests.support.exams import (
    add_unit,
    admit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    open_socket,
    phone_client,
    staff,
    verify_for_exam,
)
from tests.support.media import SyntheticAudio, SyntheticVideo, read_barcode
from tests.support.server import Client, RunningServer, running_server, server_settings
from web.keys import AUDIT, DATABASE, HUB, VIEWERS

UNIT = "10001"
OTHER_UNIT = "20002"
ARTIFACTS = Path(__file__).parents[2] / "artifacts"
_serials = itertools.count(500)


@dataclass
class Person:
    account: Account
    api: ApiClient
    client: Client

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.client.call(event, data)


@dataclass
class Scene:
    server: RunningServer
    exam_id: str
    other_exam_id: str
    admin: Person
    other_admin: Person


@asynccontextmanager
async def candidate(scene: Scene, unit: str = UNIT) -> AsyncIterator[Person]:
    """A candidate on the unit's admitted list, with its socket open."""
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    api = ApiClient(scene.server)
    serial = next(_serials)
    who = await signed_up(api, f"136{serial:08d}", "张三", serial=serial)
    await admit(scene.server, unit, who)
    client = await open_socket(scene.server, api)
    try:
        yield Person(who, api, client)
    finally:
        await client.close()


@asynccontextmanager
async def staff_member(
    scene: Scene, role: Role, unit: str | None = None, assign: str | None = None
) -> AsyncIterator[Person]:
    """A proctor (assigned to ``assign``) or unit admin, logged in, socket open."""
    api = ApiClient(scene.server)
    who = await staff(scene.server, api, role, unit)
    if assign is not None:
        await SqliteExams(scene.server.app[DATABASE]).assign_proctor(assign, who.id, 0.0)
    client = await open_socket(scene.server, api)
    try:
        yield Person(who, api, client)
    finally:
        await client.close()


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    async with running_server(server_settings(tmp_path, max_viewers_per_account=3)) as server:
        await add_unit(server, UNIT)
        await add_unit(server, OTHER_UNIT)
        admin_api, other_api = ApiClient(server), ApiClient(server)
        admin = await staff(server, admin_api, Role.UNIT_ADMIN, UNIT)
        other = await staff(server, other_api, Role.UNIT_ADMIN, OTHER_UNIT)
        exam = await create_exam(admin_api, exam_body(online_question(), now=server.now()))
        other_exam = await create_exam(other_api, exam_body(online_question(), now=server.now()))
        admin_client = await open_socket(server, admin_api)
        other_client = await open_socket(server, other_api)
        try:
            yield Scene(
                server,
                exam["id"],
                other_exam["id"],
                Person(admin, admin_api, admin_client),
                Person(other, other_api, other_client),
            )
        finally:
            await admin_client.close()
            await other_client.close()


@dataclass
class Seen:
    """What a viewer's peer decoded of one camera: barcode, monotonic arrival, pts."""

    indices: list[int] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    audio_frames: int = 0


@dataclass
class Viewer:
    person: Person
    session_id: str
    pc: RTCPeerConnection
    answer: dict[str, Any]
    seen: dict[str, Seen]  # camera -> what arrived
    tasks: list[asyncio.Task[None]]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pc.close()


async def _consume(track: MediaStreamTrack, seen: Seen) -> None:
    try:
        while True:
            frame = await track.recv()
            if track.kind == "audio":
                seen.audio_frames += 1
                continue
            luma = frame.to_ndarray()[: frame.height]  # type: ignore[union-attr]
            seen.indices.append(read_barcode(luma))
            seen.arrived.append(time.monotonic())
            seen.pts.append(int(frame.pts or 0))
    except MediaStreamError:
        return


async def watch(person: Person, exam_id: str, candidate_id: str) -> Viewer:
    """Open a viewer session and connect a receive-only peer (2 video + 2 audio sections)."""
    opened = await person.call(
        "open_session", {"role": "viewer", "exam_id": exam_id, "candidate_id": candidate_id}
    )
    assert opened.get("session_id"), opened
    return await connect(person, opened["session_id"])


async def connect(person: Person, session_id: str) -> Viewer:
    """A new receive-only peer connection for the viewer session (its first offer, or again)."""
    # max-bundle: aiortc's default would leave a second section of a kind on a transport
    # that BUNDLE discards (browsers bundle everything anyway).
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    for kind in ("video", "audio", "video", "audio"):
        pc.addTransceiver(kind, direction="recvonly")
    seen = {"primary": Seen(), "secondary": Seen()}
    tasks: list[asyncio.Task[None]] = []
    cameras: dict[str, str] = {}  # mid -> camera

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        mid = next(t.mid for t in pc.getTransceivers() if t.receiver.track is track)
        tasks.append(asyncio.ensure_future(_consume(track, seen[cameras.get(str(mid), "?")])))

    await pc.setLocalDescription(await pc.createOffer())
    answer = await person.call(
        "offer",
        {"session_id": session_id, "type": "offer", "sdp": pc.localDescription.sdp},
    )
    assert "sdp" in answer, answer
    cameras.update({t["mid"]: t["camera"] for t in answer["tracks"]})
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await wait_until(lambda: pc.connectionState == "connected", 10, "viewer peer connected")
    return Viewer(person, session_id, pc, answer, seen, tasks)


async def publish(
    cand: Person, *, session_id: str | None = None, codec: str | None = None
) -> tuple[str, SyntheticVideo]:
    video = SyntheticVideo()
    session_id, _ = await cand.client.publish(
        [video, SyntheticAudio()], session_id=session_id, video_codec=codec
    )
    return session_id, video


def server_tracks(scene: Scene, viewer: Viewer) -> dict[tuple[str, str], RelayTrack]:
    session = scene.server.app[VIEWERS].get(viewer.session_id)
    assert session is not None
    return session.tracks


def gaps(indices: list[int]) -> list[tuple[int, int]]:
    return [(a, b) for a, b in itertools.pairwise(indices) if b != a + 1]


async def recorded_whole(scene: Scene, cand: Person, take_id: str, video: SyntheticVideo) -> None:
    """Three seconds recorded, stop the take and decode it (PyAV, strictly): one segment, every
    frame in order with none missing, at least 95% of what the camera sent from the first
    until the stop was asked (it goes on sending while the stop is stored and the file is
    decoded: on a loaded machine that took long enough to count 8 frames more)."""
    await scene.server.recorded(take_id, 3.0)
    sent = video.frames_sent
    stored = await cand.call("stop_take", {"take_id": take_id})
    assert stored.get("state") == "stored", stored
    manifest = stored["manifest"]
    assert len(manifest["segments"]) == 1 and not manifest["gaps"], manifest
    path = segment_file(scene.server.settings.data_dir, take_id, manifest["segments"][0])
    indices = [f.index for f in (await asyncio.to_thread(decode_strictly, path)).video]
    assert indices and not gaps(indices), gaps(indices)
    assert len(indices) >= 0.95 * (sent - indices[0])


class CodecCalls:
    """Which VP8 encoder/decoder objects did what: by ``id``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.encoded: dict[int, int] = {}
        self.packed: dict[int, int] = {}
        self.decoders = 0
        encode, pack, init = vpx.Vp8Encoder.encode, vpx.Vp8Encoder.pack, vpx.Vp8Decoder.__init__

        def counting(table: dict[int, int], method: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(this: Any, *args: Any, **kwargs: Any) -> Any:
                table[id(this)] = table.get(id(this), 0) + 1
                return method(this, *args, **kwargs)

            return wrapper

        def decoder_init(this: Any) -> None:
            self.decoders += 1
            init(this)

        monkeypatch.setattr(vpx.Vp8Encoder, "encode", counting(self.encoded, encode))
        monkeypatch.setattr(vpx.Vp8Encoder, "pack", counting(self.packed, pack))
        monkeypatch.setattr(vpx.Vp8Decoder, "__init__", decoder_init)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_every_frame_is_relayed_in_order_without_decoding(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = CodecCalls(monkeypatch)
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        _, video = await publish(cand)
        viewer = await watch(proctor, scene.exam_id, cand.account.id)
        assert [t["camera"] for t in viewer.answer["tracks"]] == [
            "primary",
            "primary",
            "secondary",
            "secondary",
        ]
        assert viewer.answer["tracks"][0]["codec"] == "VP8"
        seen = viewer.seen["primary"]
        await wait_until(lambda: len(seen.indices) >= 90, 30, "90 frames at the viewer")
        await wait_until(lambda: seen.audio_frames >= 50, 10, "sound at the viewer")
        tracks = server_tracks(scene, viewer)
        relayed = tracks[("primary", "video")]
        # In order, none missing, from the first picture on.
        assert seen.indices == sorted(seen.indices) and not gaps(seen.indices), gaps(seen.indices)
        assert relayed.queue.stats.dropped == 0 and relayed.queue.stats.skips == 0
        # Not decoded, not encoded: the server's senders only packed (the candidate's own
        # sender is the one encoder; the viewer's receiver the one decoder).
        session = scene.server.app[VIEWERS].get(viewer.session_id)
        assert session is not None and session.peer is not None
        encoders = [
            getattr(s, "_RTCRtpSender__encoder", None)
            for s in session.peer.getSenders()
            if s.track is relayed
        ]
        assert encoders and encoders[0] is not None
        assert id(encoders[0]) not in calls.encoded
        assert calls.packed[id(encoders[0])] >= len(seen.indices)
        assert len(calls.encoded) == 1  # the candidate's camera
        assert calls.decoders == 1  # the viewer's; the server decoded nothing
        # Glass to glass: the candidate's frame handed to its sender -> decoded at the viewer.
        latency = [
            (arrived - video.sent_at[index]) * 1000
            for index, arrived in zip(seen.indices, seen.arrived, strict=True)
        ]
        figures = {
            "frames": len(latency),
            "glass_to_glass_p50_ms": round(statistics.median(latency), 1),
            "glass_to_glass_p95_ms": round(percentile(latency, 0.95), 1),
            "glass_to_glass_max_ms": round(max(latency), 1),
        }
        print("spotlight relay latency:", json.dumps(figures))
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "spotlight-latency.json").write_text(json.dumps(figures))
        await viewer.close()


async def test_a_viewer_joining_mid_gop_starts_at_the_cached_keyframe(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        _, video = await publish(cand)
        first = await watch(proctor, scene.exam_id, cand.account.id)
        await wait_until(lambda: len(first.seen["primary"].indices) >= 20, 30, "first viewer")
        started = first.seen["primary"].indices[0]  # the keyframe the first viewer asked for
        assert started + 20 < VIDEO_QUEUE_FRAMES  # still cached when the second one joins
        joined_at = video.frames_sent
        second = await watch(scene.admin, scene.exam_id, cand.account.id)  # the unit's admin
        await wait_until(lambda: len(second.seen["primary"].indices) >= 10, 30, "second viewer")
        shown = second.seen["primary"].indices
        # A picture at once: the cached keyframe, which the candidate sent before the join
        # (within 1 s of media time = 30 frames: here it is even earlier).
        assert shown[0] <= joined_at + 30, (shown[0], joined_at)
        assert shown[0] <= joined_at and shown[0] >= started, (shown[0], started, joined_at)
        assert not gaps(shown)
        await second.close()
        await first.close()


async def test_a_stalled_viewer_stays_within_its_bound_and_others_go_on(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        await publish(cand)
        slow = await watch(proctor, scene.exam_id, cand.account.id)
        fast = await watch(proctor, scene.exam_id, cand.account.id)
        await wait_until(lambda: len(slow.seen["primary"].indices) >= 5, 30, "slow: a picture")
        await wait_until(lambda: len(fast.seen["primary"].indices) >= 5, 30, "fast: a picture")
        # Stall the slow viewer's server-side sending (as a blocked socket would).
        session = scene.server.app[VIEWERS].get(slow.session_id)
        assert session is not None and session.peer is not None
        transport = session.peer.getSenders()[0].transport
        gate = asyncio.Event()
        send_rtp = transport._send_rtp

        async def stalled(data: bytes) -> None:
            await gate.wait()
            await send_rtp(data)

        transport._send_rtp = stalled  # type: ignore[method-assign]
        relayed = server_tracks(scene, slow)[("primary", "video")]
        fast_before = len(fast.seen["primary"].indices)
        await wait_until(lambda: relayed.queue.stats.skips >= 2, 30, "the slow viewer skipped")
        assert relayed.queue.stats.peak <= relayed.queue.limit
        assert len(relayed.queue) <= relayed.queue.limit
        # The other viewer got every frame meanwhile.
        fast_seen = fast.seen["primary"].indices
        assert len(fast_seen) - fast_before >= 2 * relayed.queue.limit
        assert not gaps(fast_seen)
        assert server_tracks(scene, fast)[("primary", "video")].queue.stats.dropped == 0
        # Unstalled, the slow one shows a picture again (from a keyframe).
        slow_before = len(slow.seen["primary"].indices)
        gate.set()
        await wait_until(
            lambda: len(slow.seen["primary"].indices) > slow_before + 10, 30, "slow: again"
        )
        await fast.close()
        await slow.close()


async def test_the_recording_is_complete_while_viewers_come_and_go(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        session_id, video = await publish(cand)
        started = await cand.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert started.get("state") == "recording", started
        for _ in range(3):
            viewer = await watch(proctor, scene.exam_id, cand.account.id)
            shown = viewer.seen["primary"].indices
            await wait_until(lambda: len(shown) >= 10, 30, "a picture")  # noqa: B023
            closed = await proctor.call("close_session", {"session_id": viewer.session_id})
            assert closed == {"session_id": viewer.session_id, "closed": True}
            await viewer.close()
        await recorded_whole(scene, cand, started["take_id"], video)
        audits = await scene.server.app[AUDIT].recent(200, proctor.account.id)
        assert [e.event for e in audits].count(Event.VIEWER_OPENED) == 3
        assert [e.event for e in audits].count(Event.VIEWER_CLOSED) == 3


async def test_unauthorised_viewers_are_refused_and_audited(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        candidate(scene) as other_cand,
        staff_member(scene, Role.PROCTOR, assign=scene.other_exam_id) as other_proctor,
        staff_member(scene, Role.PROCTOR) as unassigned,
    ):
        ask = {"role": "viewer", "exam_id": scene.exam_id, "candidate_id": cand.account.id}
        for who in (other_proctor, unassigned, other_cand, cand, scene.other_admin):
            refused = await who.call("open_session", ask)
            assert refused["error"]["code"] == "forbidden", refused
        # A proctor or admin opens nothing but viewer sessions.
        refused = await scene.admin.call("open_session", {"role": "primary"})
        assert refused["error"]["code"] == "forbidden", refused
        bad = await scene.admin.call("open_session", {"role": "viewer", "exam_id": scene.exam_id})
        assert bad["error"]["code"] == "invalid_input", bad
        missing = await scene.admin.call("open_session", {**ask, "exam_id": "no-such-exam"})
        assert missing["error"]["code"] == "not_found", missing
        entries = await scene.server.app[AUDIT].recent(500)
        denied = [
            e
            for e in entries
            if e.event is Event.ACCESS_DENIED and e.detail.get("what") == "watch_candidate"
        ]
        assert {e.account_id for e in denied} == {
            other_proctor.account.id,
            unassigned.account.id,
            other_cand.account.id,
            cand.account.id,
            scene.other_admin.account.id,
        }
        assert not [e for e in entries if e.event is Event.VIEWER_OPENED]
        # A candidate's offer cannot reach a viewer session that is not theirs.
        opened = await scene.admin.call("open_session", ask)
        stolen = await cand.call(
            "offer", {"session_id": opened["session_id"], "type": "offer", "sdp": "v=0"}
        )
        assert stolen["error"]["code"] in ("not_found", "invalid_input"), stolen
        closed = await cand.call("close_session", {"session_id": opened["session_id"]})
        assert closed == {"session_id": opened["session_id"], "closed": False}


async def test_a_proctor_removed_from_the_exam_stops_watching_within_the_recheck(
    scene: Scene,
) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        await publish(cand)
        viewer = await watch(proctor, scene.exam_id, cand.account.id)
        kept = await watch(scene.admin, scene.exam_id, cand.account.id)  # still allowed
        shown, kept_shown = viewer.seen["primary"].indices, kept.seen["primary"].indices
        await wait_until(lambda: len(shown) >= 5 and len(kept_shown) >= 5, 30, "pictures")
        relayed = server_tracks(scene, viewer)[("primary", "video")]
        exams = SqliteExams(scene.server.app[DATABASE])
        assert await exams.unassign_proctor(scene.exam_id, proctor.account.id)
        scene.server.advance(RECHECK_S + 1)  # the next sweep re-checks the open views
        closed = await proctor.client.wait_event(
            "viewer_closed", session_id=viewer.session_id, timeout=20
        )
        assert closed["exam_id"] == scene.exam_id and closed["candidate_id"] == cand.account.id
        assert closed["error"]["code"] == "forbidden", closed
        assert scene.server.app[VIEWERS].get(viewer.session_id) is None
        assert relayed.readyState == "ended"
        # No more frames reach the removed proctor's peer, while the admin's view goes on
        # (a frame in flight at the close has landed after a second of the admin's frames).
        mark = len(kept_shown)
        await wait_until(lambda: len(kept_shown) >= mark + 30, 30, "the admin: frames")
        stopped_at, mark = len(shown), len(kept_shown)
        await wait_until(lambda: len(kept_shown) >= mark + 30, 30, "the admin: more frames")
        assert len(shown) == stopped_at
        assert not [e for e, _ in scene.admin.client.events if e == "viewer_closed"]
        assert scene.server.app[VIEWERS].get(kept.session_id) is not None
        # Audited: the refusal of the re-check and the closing, with its reason.
        audits = await scene.server.app[AUDIT].recent(200, proctor.account.id)
        denied = [e.detail for e in audits if e.event is Event.ACCESS_DENIED]
        assert [(d["what"], d["why"], d["exam_id"]) for d in denied] == [
            ("watch_candidate", "not_assigned", scene.exam_id)
        ]
        ended = [e.detail for e in audits if e.event is Event.VIEWER_CLOSED]
        assert [(d["watch_id"], d["reason"]) for d in ended] == [
            (viewer.session_id, "access_withdrawn")
        ]
        # Closing it again from the page finds nothing; opening again is refused.
        again = await proctor.call("close_session", {"session_id": viewer.session_id})
        assert again == {"session_id": viewer.session_id, "closed": False}
        ask = {"role": "viewer", "exam_id": scene.exam_id, "candidate_id": cand.account.id}
        assert (await proctor.call("open_session", ask))["error"]["code"] == "forbidden"
        await kept.close()
        await viewer.close()


async def test_the_viewer_limit_per_account_holds_under_parallel_opens(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        second = await open_socket(scene.server, proctor.api)
        ask = {"role": "viewer", "exam_id": scene.exam_id, "candidate_id": cand.account.id}
        sockets = [proctor.client, second] * 5
        results = await asyncio.gather(*(c.call("open_session", ask) for c in sockets))
        opened = [(r, c) for r, c in zip(results, sockets, strict=True) if "session_id" in r]
        assert len(opened) == 3  # max_viewers_per_account
        assert {r["error"]["code"] for r in results if "error" in r} == {"conflict"}
        # A socket going away ends its viewer sessions at once: their places come free.
        viewers = scene.server.app[VIEWERS]
        on_second = [r["session_id"] for r, c in opened if c is second]
        await second.sio.disconnect()
        await wait_until(
            lambda: all(viewers.get(s) is None for s in on_second), 10, "closed with the socket"
        )
        again = await asyncio.gather(
            *(proctor.call("open_session", ask) for _ in range(len(on_second) + 2))
        )
        assert sum("session_id" in r for r in again) == len(on_second)
        await second.http.close()


async def test_a_candidate_reconnecting_keeps_the_viewer_playing(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        session_id, _ = await publish(cand)
        viewer = await watch(proctor, scene.exam_id, cand.account.id)
        seen = viewer.seen["primary"]
        await wait_until(lambda: len(seen.indices) >= 30, 30, "a picture before")
        before = len(seen.indices)
        # The candidate's page opens a new peer connection for the same session: new
        # sources, whose frames count from 0 again.
        await publish(cand, session_id=session_id)
        await wait_until(
            lambda: any(b < a for a, b in itertools.pairwise(seen.indices[before - 1 :])),
            30,
            "the new connection's frames at the viewer",
        )
        restart = next(
            i for i in range(before, len(seen.indices)) if seen.indices[i] < seen.indices[i - 1]
        )
        await wait_until(lambda: len(seen.indices) >= restart + 30, 30, "the picture goes on")
        assert not gaps(seen.indices[restart:])
        assert seen.pts == sorted(seen.pts) and len(set(seen.pts)) == len(seen.pts)
        states = [d for e, d in proctor.client.events if e == "viewer_state"]
        assert states and states[-1]["session_id"] == viewer.session_id
        assert states[-1]["cameras"][0] == {
            "camera": "primary",
            "connected": True,
            "video_codec": "VP8",
            "audio": True,
        }
        await viewer.close()


async def test_both_cameras_play_side_by_side_and_the_phone_joins_later(scene: Scene) -> None:
    server = scene.server
    exam_id = await second_camera_exam(server)
    async with (
        candidate_client(server, SECOND_CAMERA_UNIT) as c,
        staff_member(scene, Role.PROCTOR, assign=exam_id) as proctor,
    ):
        # The candidate's device check is still publishing: that is the primary camera.
        viewer = await watch(proctor, exam_id, c.account.id)
        primary, secondary = viewer.seen["primary"], viewer.seen["secondary"]
        await wait_until(lambda: len(primary.indices) >= 10, 30, "the primary camera")
        assert secondary.indices == []
        await verify_for_exam(c.api, c.account, exam_id)
        q1 = question(exam_id, "q1")
        assert (await c.call("POST", q1 + "/formal")).status == 200
        async with phone_client(server, c) as phone:
            await join(server, c, phone, q1, [SyntheticVideo(), SyntheticAudio()])
            # The phone's picture starts on the viewer's existing tracks: no new offer.
            await wait_until(lambda: len(secondary.indices) >= 30, 30, "the second camera")
            await wait_until(lambda: secondary.audio_frames >= 25, 10, "its sound")
            assert not gaps(secondary.indices)
            state = next(
                d
                for e, d in reversed(proctor.client.events)
                if e == "viewer_state" and d["cameras"][1]["connected"]
            )
            assert state["cameras"][1] == {
                "camera": "secondary",
                "connected": True,
                "video_codec": "VP8",
                "audio": True,
            }
            assert state["reoffer"] is False
        await viewer.close()


async def test_h264_is_relayed_as_h264_and_a_codec_change_asks_for_a_new_offer(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[int] = []
    encode = h264.H264Encoder.encode

    def counting(this: Any, *args: Any, **kwargs: Any) -> Any:
        encoded.append(id(this))
        return encode(this, *args, **kwargs)

    monkeypatch.setattr(h264.H264Encoder, "encode", counting)
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        session_id, _ = await publish(cand)  # VP8 first
        viewer = await watch(proctor, scene.exam_id, cand.account.id)
        await wait_until(lambda: len(viewer.seen["primary"].indices) >= 10, 30, "VP8 picture")
        # The candidate comes back sending H.264: the viewer is told to offer again.
        await publish(cand, session_id=session_id, codec="video/H264")
        await proctor.client.wait_event("viewer_state", timeout=30, reoffer=True)
        again = await connect(proctor, viewer.session_id)
        await viewer.close()
        assert again.answer["tracks"][0]["codec"] == "H264"
        seen = again.seen["primary"]
        await wait_until(lambda: len(seen.indices) >= 30, 30, "H.264 picture")
        assert not gaps(seen.indices)
        session = scene.server.app[VIEWERS].get(again.session_id)
        assert session is not None and session.peer is not None
        track = session.tracks[("primary", "video")]
        sender = next(s for s in session.peer.getSenders() if s.track is track)
        encoder = getattr(sender, "_RTCRtpSender__encoder", None)
        assert isinstance(encoder, h264.H264Encoder) and id(encoder) not in encoded
        assert len(set(encoded)) == 1  # the candidate's camera alone encoded
        await again.close()


async def test_viewers_keyframe_requests_reach_the_candidate_merged(scene: Scene) -> None:
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        session_id, _ = await publish(cand)
        viewers = [await watch(proctor, scene.exam_id, cand.account.id) for _ in range(2)]
        for viewer in viewers:
            shown = viewer.seen["primary"].indices
            await wait_until(lambda: len(shown) >= 5, 30, "a picture")  # noqa: B023
        # What the candidate's sender hears of keyframe requests (RTCP PLI/FIR).
        pc = cand.client.pcs[-1]
        sender = next(s for s in pc.getSenders() if s.track and s.track.kind == "video")
        asked: list[float] = []
        send_keyframe = sender._send_keyframe

        def counted() -> None:
            asked.append(time.monotonic())
            send_keyframe()

        sender._send_keyframe = counted  # type: ignore[method-assign]
        hub_session = scene.server.app[HUB].get(session_id)
        assert hub_session is not None
        source = next(s for s in hub_session.sources if s.kind == "video")
        source._last_pli = None  # forget the PLIs of the viewers' start (merged for 1 s)
        heard: list[int] = []  # requests the server's viewer senders received
        for viewer in viewers:
            session = scene.server.app[VIEWERS].get(viewer.session_id)
            assert session is not None and session.peer is not None
            track = session.tracks[("primary", "video")]
            relay_sender = next(s for s in session.peer.getSenders() if s.track is track)
            forward = relay_sender._send_keyframe

            def heard_one(forward: Callable[[], None] = forward) -> None:
                heard.append(1)
                forward()

            relay_sender._send_keyframe = heard_one  # type: ignore[method-assign]
        # Each viewer's browser asks for a keyframe three times, at once (real RTCP PLIs).
        for viewer in viewers:
            receiver = next(t.receiver for t in viewer.pc.getTransceivers() if t.mid == "0")
            ssrc = receiver.getSynchronizationSources()[0].source
            for _ in range(3):
                await receiver._send_rtcp_pli(ssrc)
        await wait_until(lambda: len(heard) == 6, 10, "six PLIs at the server")
        await wait_until(lambda: len(asked) >= 1, 10, "a PLI at the candidate")
        # The other five were merged into it (within a second of the first).
        assert len(asked) == 1, asked
        for viewer in viewers:
            await viewer.close()


async def test_viewer_offers_that_are_not_receive_only_are_refused(scene: Scene) -> None:
    async with candidate(scene) as cand:
        ask = {"role": "viewer", "exam_id": scene.exam_id, "candidate_id": cand.account.id}
        opened = await scene.admin.call("open_session", ask)
        session_id = opened["session_id"]

        async def offered(pc: RTCPeerConnection) -> dict[str, Any]:
            await pc.setLocalDescription(await pc.createOffer())
            sdp = pc.localDescription.sdp
            await pc.close()
            return dict(
                await scene.admin.call(
                    "offer", {"session_id": session_id, "type": "offer", "sdp": sdp}
                )
            )

        sending = RTCPeerConnection()
        sending.addTrack(SyntheticVideo())
        three = RTCPeerConnection()
        for _ in range(3):
            three.addTransceiver("video", direction="recvonly")
        for pc, words in ((sending, "recvonly"), (three, "two video")):
            refused = await offered(pc)
            assert refused["error"]["code"] == "invalid_input", refused
            assert words in refused["error"]["message"]
        garbage = await scene.admin.call(
            "offer", {"session_id": session_id, "type": "offer", "sdp": "v=0\r\nnonsense"}
        )
        assert garbage["error"]["code"] == "invalid_input", garbage
        assert "Traceback" not in json.dumps(garbage)
        # The session is still usable.
        viewer = await connect(scene.admin, session_id)
        await wait_until(lambda: viewer.pc.connectionState == "connected", 10, "connected")
        await viewer.close()


async def test_a_lagging_loop_sheds_viewers_never_the_recording(scene: Scene) -> None:
    """The loop's lag figures are injected (no wall clock): viewers go keyframe-only, new
    ones are refused ``busy``, the recording goes on whole; calm again, all resumes."""
    load = scene.server.app[VIEWERS].load
    async with (
        candidate(scene) as cand,
        staff_member(scene, Role.PROCTOR, assign=scene.exam_id) as proctor,
    ):
        session_id, video = await publish(cand)
        started = await cand.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert started.get("state") == "recording", started
        viewer = await watch(proctor, scene.exam_id, cand.account.id)
        seen = viewer.seen["primary"]
        await wait_until(lambda: len(seen.indices) >= 10, 30, "a picture")
        relayed = server_tracks(scene, viewer)[("primary", "video")]
        assert relayed.queue.stats.shed == 0

        load.note_lag(STALL_S)  # the loop stalls for a second
        assert load.shedding and load.refusing
        ask = {"role": "viewer", "exam_id": scene.exam_id, "candidate_id": cand.account.id}
        refused = await asyncio.gather(*(proctor.call("open_session", ask) for _ in range(3)))
        assert {r["error"]["code"] for r in refused} == {"busy"}, refused
        assert all("try again" in r["error"]["message"] for r in refused)
        await wait_until(lambda: relayed.queue.stats.shed >= 30, 30, "viewer frames shed")
        audits = await scene.server.app[AUDIT].recent(200, proctor.account.id)
        assert [e.event for e in audits].count(Event.VIEWER_OPENED) == 1  # refusals open none

        for _ in range(load.calm_samples):
            load.note_lag(0.0)
        assert not load.shedding and not load.refusing
        shown = len(seen.indices)
        await wait_until(lambda: len(seen.indices) >= shown + 30, 30, "every frame again")
        tail = seen.indices[-20:]
        assert not gaps(tail), tail  # whole frames in order once calm
        second = await watch(proctor, scene.exam_id, cand.account.id)  # admitted again
        await wait_until(lambda: len(second.seen["primary"].indices) >= 5, 30, "new viewer")

        await recorded_whole(scene, cand, started["take_id"], video)  # lost nothing
        await second.close()
        await viewer.close()

"""Back fast after a drop (#14): the server notices a silent device by its media, starts its
reconnect grace then (not at the socket's ping timeout), tells the pages and the wall, and a
new peer connection continues the take in a new segment placed on the take's clock.

Real aiortc peers and a real Socket.IO client against a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection
from av import AudioFrame, VideoFrame

from media.live_cameras import LiveCameras
from tests.support.analysis import segment_file, video_frames
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import (
    Client,
    RunningServer,
    connected_client,
    running_server,
    server_settings,
)
from web.keys import HUB

FRAME_S = 1 / 30


class PausableVideo(SyntheticVideo):
    """Stops sending while ``paused`` is clear (a silent drop: the peer connection stays)."""

    def __init__(self) -> None:
        super().__init__()
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def recv(self) -> VideoFrame:
        await self.flowing.wait()
        return await super().recv()


class PausableAudio(SyntheticAudio):
    def __init__(self, video: PausableVideo) -> None:
        super().__init__()
        self._video = video

    async def recv(self) -> AudioFrame:
        await self._video.flowing.wait()
        return await super().recv()


class LateFirstFrames(SyntheticVideo):
    """A new connection's first frames leave late (queued while it set up, as a browser's
    do), then the stream catches up: their RTP times are their capture times."""

    def __init__(self, late_s: float = 0.15) -> None:
        super().__init__()
        self.late_s = late_s

    async def recv(self) -> VideoFrame:
        frame = await super().recv()
        if self.frames_sent == 1:
            await asyncio.sleep(self.late_s)
        return frame


async def start_take(client: Client, session_id: str) -> dict[str, Any]:
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    assert take.get("state") == "recording", take
    return take


async def take_state(client: Client, server: RunningServer, take_id: str) -> dict[str, Any]:
    async with client.http.get(f"{server.url}/api/takes/{take_id}") as response:
        body: dict[str, Any] = await response.json()
        return body


def first_frame_offset(
    server: RunningServer, take_id: str, segment: dict[str, Any], video: SyntheticVideo
) -> float:
    """Where the segment places its first frame on the take's clock, minus when that frame
    was captured (monotonic): the same for every segment of a take whose segments sit on
    its clock (the origin and the path's delay are common to all)."""
    path = segment_file(server.settings.data_dir, take_id, segment)
    frames = video_frames(path)
    assert frames, segment
    first = frames[0]
    return float(segment["start_s"]) + first.pts_s - video.captured_at(first.index)


async def test_a_new_segment_after_a_reconnect_sits_on_the_take_clock(
    server: RunningServer,
) -> None:
    first_video = SyntheticVideo()
    async with connected_client(server) as client:
        session_id, first_pc = await client.publish([first_video, SyntheticAudio()])
        take = await start_take(client, session_id)
        await server.recorded(take["take_id"], 2.0)
        await first_pc.close()  # the network dropped; the page makes a new connection
        await asyncio.sleep(0.5)
        second_video = LateFirstFrames()
        await client.publish([second_video, SyntheticAudio()], session_id=session_id)
        before = server.app[HUB].written_s(take["take_id"])["primary"]
        await server.recorded(take["take_id"], before + 2.0)
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
    first, second = stored["manifest"]["segments"]
    assert second["reason"] == "reconnect"
    at_start = first_frame_offset(server, take["take_id"], first, first_video)
    after = first_frame_offset(server, take["take_id"], second, second_video)
    # Within a frame or two: the clock of the new connection's packets is not the
    # arrival of its first (late) packet.
    assert abs(after - at_start) < 2 * FRAME_S, (at_start, after)


@dataclass
class SilentTake:
    """A take recording a camera that can go silent, and the pages' ``session_state``."""

    server: RunningServer
    client: Client
    video: PausableVideo
    session_id: str
    pc: RTCPeerConnection
    take: dict[str, Any]
    states: list[dict[str, Any]]


@contextlib.asynccontextmanager
async def silent_take(tmp_path: Path) -> AsyncIterator[SilentTake]:
    """A take with a second of media recorded (reconnect grace 60 s)."""
    settings = server_settings(tmp_path / "data", reconnect_grace_s=60)
    async with running_server(settings) as server, connected_client(server) as client:
        video = PausableVideo()
        states: list[dict[str, Any]] = []
        client.sio.on("session_state", states.append)
        session_id, pc = await client.publish([video, PausableAudio(video)])
        take = await start_take(client, session_id)
        await server.recorded(take["take_id"], 1.0)
        yield SilentTake(server, client, video, session_id, pc, take, states)


async def test_a_silent_device_is_lost_in_seconds_and_its_grace_starts(tmp_path: Path) -> None:
    async with silent_take(tmp_path) as t:
        server, client, video, take, states = t.server, t.client, t.video, t.take, t.states
        session_id, settings = t.session_id, server.settings
        hub = server.app[HUB]
        beat = await client.call("time", {})
        [mine] = beat["sessions"]
        assert mine["media"] == "flowing" and mine["take_id"] == take["take_id"]
        assert mine["recorded_s"] >= 1.0
        assert abs(beat["now"] - server.now()) < 1.0

        video.flowing.clear()  # packets vanish; the socket stays open
        silenced, paused_at = time.monotonic(), server.now()
        session = hub.get(session_id)
        assert session is not None
        await wait_until(lambda: session.silent_since is not None, 10, "the silence noticed")
        print(f"silence noticed {time.monotonic() - silenced:.2f}s after the last frame")
        # The silence is dated by the last frame (a frame or two was on its way).
        assert session.silent_since is not None and session.silent_since <= paused_at + 0.2
        assert session.attached  # its socket never closed
        await wait_until(
            lambda: any(s.get("state") == "media_silent" for s in states), 5, "the page told"
        )
        beat = await client.call("time", {})
        assert beat["sessions"][0]["media"] == "silent"
        frozen = beat["sessions"][0]["recorded_s"]
        await asyncio.sleep(0.5)
        beat = await client.call("time", {})
        assert beat["sessions"][0]["recorded_s"] == frozen  # the counter stops counting

        # The grace runs from the last frame, socket or not: over it, the take is stopped.
        server.advance(settings.reconnect_grace_s)

        async def stored() -> bool:
            body = await take_state(client, server, take["take_id"])
            return body.get("state") == "stored"

        await wait_until(stored, 15, "the take stored once the grace was over")
        body = await take_state(client, server, take["take_id"])
        assert body["stop_reason"] == "connection_lost"
        assert hub.get(session_id) is None
        # What it holds, not the wall time from start to stop (the grace and the silence).
        assert body["recorded_s"] <= frozen + 0.1, (body["recorded_s"], frozen)
        wall = body["stopped_at"] - body["started_at"]
        assert wall >= body["recorded_s"] + settings.reconnect_grace_s


async def test_media_back_on_a_new_connection_ends_the_grace(tmp_path: Path) -> None:
    async with silent_take(tmp_path) as t:
        server, client, video, take, states = t.server, t.client, t.video, t.take, t.states
        session_id, pc, settings = t.session_id, t.pc, server.settings
        hub = server.app[HUB]
        video.flowing.clear()
        session = hub.get(session_id)
        assert session is not None
        await wait_until(lambda: session.silent_since is not None, 10, "the silence noticed")
        await pc.close()
        await client.publish([SyntheticVideo(), SyntheticAudio()], session_id=session_id)
        await wait_until(lambda: session.silent_since is None, 10, "the media back")
        await wait_until(
            lambda: any(s.get("state") == "media_back" for s in states), 5, "the page told"
        )
        server.advance(settings.reconnect_grace_s + 1)  # past the grace: nothing happens
        before = hub.written_s(take["take_id"])["primary"]
        await server.recorded(take["take_id"], before + 1.0)
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
        assert stored["stop_reason"] == "stopped", stored
        reasons = [s["reason"] for s in stored["manifest"]["segments"]]
        assert reasons == ["start", "reconnect"]


class NoPictures:
    def latest(self, owner: str, camera: str) -> None:
        return None


async def test_the_wall_shows_a_silent_camera_reconnecting(tmp_path: Path) -> None:
    settings = server_settings(tmp_path / "data", reconnect_grace_s=60)
    async with running_server(settings) as server, connected_client(server) as client:
        hub = server.app[HUB]
        live = LiveCameras(hub, NoPictures(), lambda attempt_id: None)
        hub.on_state.append(live.session_state)  # as the composition root wires it
        video = PausableVideo()
        session_id, _pc = await client.publish([video, PausableAudio(video)])
        session = hub.get(session_id)
        assert session is not None
        owner = session.owner

        def state() -> str:
            return str(live.cameras(owner, None)["primary"].state)

        await wait_until(lambda: state() == "connected", 10, "connected on the wall")
        video.flowing.clear()
        await wait_until(lambda: state() == "reconnecting", 10, "reconnecting on the wall")
        video.flowing.set()
        await wait_until(lambda: state() == "connected", 10, "back on the wall")

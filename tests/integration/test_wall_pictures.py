"""The proctors' wall pictures from real aiortc candidate peers through the real server.

A candidate sends a barcoded test picture (tests/support/media.py); the server asks
its sender for keyframes (the sender's own ``RTCRtpSender`` counts the PLIs it gets),
decodes only those, and keeps a JPEG of at most 320x240 that PyAV reads back to the
sender's barcode and colour. The server's time is moved (``server.advance``) to bring
the next picture's tick; nothing waits on a wall-clock threshold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from media import picture_codec, sources, tap
from media.picture_codec import Snapshot
from media.pictures import Picture, WallPictures
from tests.support.analysis import decode_strictly, segment_file
from tests.support.clock import wait_until
from tests.support.media import BARCODE_ROWS, SyntheticAudio, SyntheticVideo, read_barcode
from tests.support.quality import sample_decodes
from tests.support.server import (
    Client,
    RunningServer,
    connected_client,
    running_server,
    server_settings,
)
from web.keys import HUB, PICTURES


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The integration tests' server with a long reconnect grace: these tests move the
    server's clock 2.5 s at a time, which must not run out the grace of a camera whose
    frames paused for 2 s on a starved machine (the hub takes it for lost and would
    close it when the grace is over)."""
    settings = server_settings(tmp_path / "data", reconnect_grace_s=3600)
    async with running_server(settings) as running:
        yield running


def read_jpeg(picture: Picture) -> np.ndarray:
    """The JPEG's luma plane, decoded by PyAV."""
    [frame] = av.CodecContext.create("mjpeg", "r").decode(av.Packet(picture.jpeg))
    assert (frame.width, frame.height) == (picture.width, picture.height)
    assert frame.width <= 320 and frame.height <= 240
    return frame.to_ndarray(format="gray")


def body(luma: np.ndarray) -> float:
    """Mean brightness below the barcode: ~128 for the moving gradient, ~255 for white."""
    return float(luma[BARCODE_ROWS + 4 :].mean())


def count_plis(sender: RTCRtpSender) -> list[float]:
    """The monotonic times the candidate's sender was asked for a keyframe."""
    seen: list[float] = []
    ask = sender._send_keyframe

    def counted() -> None:
        seen.append(time.monotonic())
        ask()

    sender._send_keyframe = counted  # type: ignore[method-assign]
    return seen


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every frame the server decoded for a picture."""
    sizes: list[int] = []
    real = picture_codec.snapshot

    def counting(codec: str, data: bytes, *args: Any) -> Snapshot:
        sizes.append(len(data))
        return real(codec, data, *args)

    monkeypatch.setattr(picture_codec, "snapshot", counting)
    return sizes


def video_sender(pc: RTCPeerConnection) -> RTCRtpSender:
    return next(s for s in pc.getSenders() if s.track is not None and s.track.kind == "video")


async def candidate(
    client: Client, server: RunningServer, video: SyntheticVideo, codec: str | None = None
) -> tuple[str, str, RTCPeerConnection]:
    """Publish a camera; (owner, session id, peer connection) once its media arrives."""
    session_id, pc = await client.publish([video, SyntheticAudio()], video_codec=codec)
    session = server.app[HUB].get(session_id)
    assert session is not None
    await wait_until(
        lambda: any(s.kind == "video" and s.frames_received > 0 for s in session.sources),
        what="the camera's frames at the server",
    )
    return session.owner, session_id, pc


async def next_picture(
    server: RunningServer, owner: str, after: Picture | None, camera: str = "primary"
) -> Picture:
    """The picture after ``after``: the server's time moved to the next tick."""
    pictures = server.app[PICTURES]
    if after is not None:
        server.advance(pictures.interval_s)

    def fresh() -> bool:
        latest = pictures.latest(owner, camera)
        return latest is not None and (after is None or latest.seq > after.seq)

    await wait_until(fresh, what=f"a new picture of {owner}/{camera}")
    picture = pictures.latest(owner, camera)
    assert picture is not None
    return picture


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_a_watched_camera_gets_fresh_small_pictures_of_what_it_sends(
    server: RunningServer, decoded: list[int], codec: str
) -> None:
    pictures: WallPictures = server.app[PICTURES]
    video = SyntheticVideo(640, 480)
    async with connected_client(server) as client:
        owner, _, pc = await candidate(client, server, video, codec)
        handle = pictures.watch([owner])
        first = await next_picture(server, owner, None)
        assert (first.width, first.height) == (320, 240)
        luma = read_jpeg(first)
        index = read_barcode(luma)
        assert 0 < index <= video.frames_sent  # a frame the candidate sent
        assert 100 < body(luma) < 180  # the gradient, not white
        assert read_barcode(first.luma()) == index  # the kept frame is the same picture

        # The candidate's picture changes (white): so does the next one on the wall.
        turned = video.frames_sent
        video.mark_at, video.mark_len = turned / video.fps, 3600.0
        await wait_until(lambda: video.frames_sent > turned + 5, what="white frames sent")
        second = await next_picture(server, owner, first)
        assert second.seq > first.seq and second.taken_at > first.taken_at
        white = read_jpeg(second)
        assert body(white) > 200 and read_barcode(white) > index

        # Keyframes only: one decode per picture, far fewer than the frames received.
        await wait_until(lambda: pictures.stats().pending == 0, what="no decode under way")
        stats = pictures.stats()
        assert len(decoded) == stats.pictures + stats.failed and stats.failed == 0
        assert video.frames_sent > 10 * len(decoded)
        assert stats.cameras == 1 and stats.worker_cpu_s > 0
        pictures.release(handle)
        assert pictures.latest(owner, "primary") is None  # forgotten when nobody watches
        await pc.close()


async def test_only_watched_candidates_are_asked_and_decoded(
    server: RunningServer, decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    pictures: WallPictures = server.app[PICTURES]
    asked: list[sources.TrackSource] = []  # the tracks the wall asked for a keyframe
    request = sources.TrackSource.request_keyframe

    def counted(self: sources.TrackSource, *, merge: bool = False) -> bool:
        if merge:
            asked.append(self)
        return request(self, merge=merge)

    monkeypatch.setattr(sources.TrackSource, "request_keyframe", counted)
    async with connected_client(server) as a, connected_client(server) as b:
        watched, _, pc_a = await candidate(a, server, SyntheticVideo())
        other, _, pc_b = await candidate(b, server, SyntheticVideo())
        asked_a, asked_b = count_plis(video_sender(pc_a)), count_plis(video_sender(pc_b))
        handle = pictures.watch([watched])
        picture: Picture | None = None
        for _ in range(3):
            picture = await next_picture(server, watched, picture)
        assert pictures.latest(other, "primary") is None
        # (a keyframe the sender made of its own, e.g. on a bitrate change, serves too)
        assert asked_b == [] and len(asked_a) >= 1
        [session] = server.app[HUB].sessions_of(watched)
        source = next(s for s in session.sources if s.kind == "video")
        assert set(asked) == {source}

        # The wall closes: at once nothing more is asked or decoded.
        pictures.release(handle)
        assert pictures.stats().watched_owners == 0 and not source.watched
        await wait_until(lambda: pictures.stats().pending == 0, what="no decode under way")
        requests, decodes = len(asked), len(decoded)
        for _ in range(3):
            server.advance(pictures.interval_s)
        received = source.frames_received
        await wait_until(lambda: source.frames_received > received + 30, what="more frames")
        assert (len(asked), len(decoded)) == (requests, decodes)
        assert pictures.latest(watched, "primary") is None


async def test_keyframe_requests_reach_the_sender_at_most_once_a_second(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ticks brought faster than a second apart (time moved), and two walls watching: the
    PLIs the server sends stay a second apart, and each one reaches the sender."""
    pictures: WallPictures = server.app[PICTURES]
    sent_at: list[float] = []
    request = tap.request_keyframe

    def counted(receiver: Any) -> list[asyncio.Task[None]]:
        tasks = request(receiver)
        if tasks:
            sent_at.append(time.monotonic())
        return tasks

    monkeypatch.setattr(tap, "request_keyframe", counted)
    async with connected_client(server) as client:
        owner, _, pc = await candidate(client, server, SyntheticVideo())
        asked = count_plis(video_sender(pc))
        walls = [pictures.watch([owner]), pictures.watch([owner])]
        deadline = time.monotonic() + 20
        while len(sent_at) < 3:  # ticks brought every 50 ms
            assert time.monotonic() < deadline, f"only {len(sent_at)} PLIs within 20 s"
            server.advance(pictures.interval_s)
            await asyncio.sleep(0.05)  # the tick runs; a keyframe may come back
        requests = pictures.stats().keyframe_requests
        gaps = np.diff(sent_at)
        assert min(gaps) >= sources.MIN_PLI_GAP_S, gaps
        assert requests > len(sent_at), "the ticks' requests were not merged"
        await wait_until(lambda: len(asked) >= len(sent_at), what="every PLI at the sender")
        for wall in walls:
            pictures.release(wall)


async def test_the_recording_is_complete_while_pictures_are_taken(
    server: RunningServer, decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the take's quality report samples the wall's pictures: no keyframe decoded twice
    decoded_for_report = sample_decodes(monkeypatch)
    pictures: WallPictures = server.app[PICTURES]
    video = SyntheticVideo()
    async with connected_client(server) as client:
        owner, session_id, _ = await candidate(client, server, video)
        handle = pictures.watch([owner])
        started = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert started.get("state") == "recording", started
        picture: Picture | None = None
        for _ in range(4):
            picture = await next_picture(server, owner, picture)
        await server.recorded(started["take_id"], 2.0)
        stopped = await client.call("stop_take", {"take_id": started["take_id"]})
        pictures.release(handle)
    assert stopped.get("state") == "stored", stopped
    assert len(decoded) >= 4
    [segment] = stopped["manifest"]["segments"]
    path = segment_file(server.settings.data_dir, stopped["take_id"], segment)
    frames = (await asyncio.to_thread(decode_strictly, path)).video
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    # Every frame from the first recorded one to the last is there: none lost to pictures.
    assert indices[-1] - indices[0] + 1 == len(indices), "frames missing from the recording"
    assert len(indices) > 45
    assert stopped["manifest"]["gaps"] == []
    assert stopped["quality"]["cameras"]["primary"]["video"]["samples"] >= 1, stopped["quality"]
    assert decoded_for_report == []


async def test_a_reconnect_and_a_second_camera_are_followed(
    server: RunningServer,
) -> None:
    pictures: WallPictures = server.app[PICTURES]
    hub = server.app[HUB]
    async with connected_client(server) as client:
        owner, session_id, first_pc = await candidate(client, server, SyntheticVideo())
        handle = pictures.watch([owner])
        before = await next_picture(server, owner, None)
        session = hub.get(session_id)
        assert session is not None
        old = next(s for s in session.sources if s.kind == "video")
        assert body(read_jpeg(before)) < 180

        # The page's network dropped: a new peer connection for the same session,
        # whose camera now shows white.
        await first_pc.close()
        white = SyntheticVideo(mark_at=0.0, mark_len=3600.0)
        await client.publish([white, SyntheticAudio()], session_id=session_id)
        after = await next_picture(server, owner, before)
        while body(read_jpeg(after)) < 200:  # a picture of the old track, caught before
            after = await next_picture(server, owner, after)
        assert not old.watched

        # A second camera (a phone's own session) joins: it gets pictures of its own.
        phone = hub.open(owner, "secondary")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        phone_video = SyntheticVideo(480, 640)
        pc.addTransceiver(phone_video, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        answer = await hub.offer(phone.id, owner, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        try:
            server.advance(pictures.interval_s)
            upright = await next_picture(server, owner, None, "secondary")
            assert (upright.width, upright.height) == (180, 240)
            # the phone's picture: a frame it sent (the barcode's 16 rows scaled to 6), the
            # moving gradient below it
            luma = read_jpeg(upright)
            assert read_barcode(luma, rows=BARCODE_ROWS * 240 // 640) < phone_video.frames_sent
            assert 40 < body(luma) < 200
        finally:
            await pc.close()
        pictures.release(handle)
        await hub.close(phone.id)

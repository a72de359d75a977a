"""Real aiortc peers record takes through a real server; the files are read back with PyAV."""

from __future__ import annotations

import asyncio
import bisect
import time
from pathlib import Path
from typing import Any, NamedTuple

import av
import pytest
from aiortc import MediaStreamTrack

from tests.support.analysis import (
    audio_samples,
    beep_time,
    flash_time,
    segment_file,
    sha256,
    video_frames,
)
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

MARK_AT = 2.5  # seconds into the stream: white picture + beep, to measure sync


class Timing(NamedTuple):
    """How long a take recorded, as the shortest and longest it can have been (from the
    start's answer to the stop's sending, and from the start's sending to the stop's
    answer: a busy machine delays the answers), and when its stop was sent (monotonic)."""

    shortest: float
    longest: float
    stop_sent: float


async def record(
    client: Client,
    video: SyntheticVideo,
    audio: SyntheticAudio | None,
    seconds: float,
    codec: str | None = None,
) -> tuple[dict[str, Any], Timing]:
    """Publish, record ``seconds``, stop; the stored take and its :class:`Timing`."""
    tracks: list[MediaStreamTrack] = [t for t in (video, audio) if t is not None]
    session_id, _ = await client.publish(tracks, video_codec=codec)
    asked = time.monotonic()
    started = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    answered = time.monotonic()
    assert started.get("state") == "recording", started
    await asyncio.sleep(seconds)
    stopping = time.monotonic()
    stopped = await client.call("stop_take", {"take_id": started["take_id"]})
    assert stopped.get("state") == "stored", stopped
    return stopped, Timing(stopping - answered, time.monotonic() - asked, stopping)


def sent_before(video: SyntheticVideo, when: float) -> int:
    """How many frames ``video`` handed to its sender before ``when`` (monotonic): those
    after the stop was sent are not the take's, however long the stop took."""
    return bisect.bisect_right(video.sent_at, when)


def check_sync_and_frames(
    path: Path,
    video: SyntheticVideo,
    segment: dict[str, Any],
    stop_sent: float,
    min_frames_ratio: float = 0.99,
) -> list[Any]:
    frames = video_frames(path)
    assert frames, "no video frames decoded"
    indices = [f.index for f in frames]
    assert indices == sorted(indices), "frames out of order"
    assert len(set(indices)) == len(indices), "a frame was written twice"
    # Every frame the client sent from the first recorded one until the stop must be there.
    expected = sent_before(video, stop_sent) - indices[0]
    assert len(frames) >= min_frames_ratio * expected, (len(frames), expected)
    stream = next(s for s in segment["streams"] if s["kind"] == "video")
    assert stream["frames"] == len(frames)
    samples, first_audio = audio_samples(path)
    assert len(samples) > 48000, "audio missing"
    assert abs(first_audio - frames[0].pts_s) < 0.05, "audio and video start apart"
    skew = beep_time(samples, first_audio) - flash_time(frames)
    assert abs(skew) < 0.05, f"audio/video out of sync by {skew * 1000:.0f} ms"
    return frames


@pytest.mark.parametrize("codec,container", [("video/VP8", "webm"), ("video/H264", "mkv")])
async def test_take_is_stored_complete_in_sync_and_hashed(
    server: RunningServer, codec: str, container: str
) -> None:
    async with connected_client(server) as client:
        video, audio = SyntheticVideo(mark_at=MARK_AT), SyntheticAudio(mark_at=MARK_AT)
        take, timing = await record(client, video, audio, 5.0, codec)

    [segment] = take["manifest"]["segments"]
    assert segment["container"] == container
    path = segment_file(server.settings.data_dir, take["take_id"], segment)
    assert sha256(path) == segment["sha256"]
    with av.open(str(path)) as f:
        assert f.streams.video[0].codec_context.name == codec.split("/")[1].lower()
        assert f.streams.audio[0].codec_context.name == "opus"
        assert f.duration is not None
        duration = f.duration / av.time_base
    # The file covers the take from its first keyframe to the stop.
    recorded = duration + segment["start_s"]
    assert 0.98 * timing.shortest < recorded < 1.02 * timing.longest, (duration, timing)
    frames = check_sync_and_frames(path, video, segment, timing.stop_sent)
    assert frames[0].pts_s == 0
    if codec == "video/H264":
        playback = path.with_suffix(".mp4")
        assert segment["playback_file"] == playback.name
        assert sha256(playback) == segment["playback_sha256"]
        assert len(video_frames(playback)) == len(frames)


async def test_take_starts_promptly_with_a_keyframe_request(server: RunningServer) -> None:
    """aiortc's encoder, as a browser's, sends no keyframe unless asked: the take's first
    picture is the one the server asked for at the start, early in the take (how early
    depends on the machine's load: reported, bounded only where it would be broken)."""
    async with connected_client(server) as client:
        take, timing = await record(client, SyntheticVideo(), SyntheticAudio(), 3.0)
    [segment] = take["manifest"]["segments"]
    assert take["manifest"]["stats"]["keyframe_requests"] >= 1
    print(f"recording began {segment['start_s']:.3f} s into the take")
    assert segment["start_s"] < timing.shortest / 2, "recording began long after the take started"


async def test_resolution_change_starts_a_new_segment(server: RunningServer) -> None:
    video = SyntheticVideo(320, 240, resize_at=2.0, resize_to=(640, 480))
    async with connected_client(server) as client:
        take, timing = await record(client, video, SyntheticAudio(), 4.0)
    segments = take["manifest"]["segments"]
    assert [s["reason"] for s in segments] == ["start", "resolution_change"]
    sizes = [(s["streams"][0]["width"], s["streams"][0]["height"]) for s in segments]
    assert sizes == [(320, 240), (640, 480)]
    total = 0
    first_index = None
    for segment in segments:
        frames = video_frames(segment_file(server.settings.data_dir, take["take_id"], segment))
        assert {f.size for f in frames} == {sizes[segment["index"]]}
        first_index = frames[0].index if first_index is None else first_index
        total += len(frames)
    assert first_index is not None
    assert total >= 0.99 * (sent_before(video, timing.stop_sent) - first_index)
    # The second segment starts where the first ends, on the take's clock.
    first_end = segments[0]["start_s"] + segments[0]["duration_s"]
    assert abs(segments[1]["start_s"] - first_end) < 0.1


async def test_audio_arriving_before_video(server: RunningServer) -> None:
    """aiortc's MediaRecorder writes an empty video stream here; we must not."""
    video = SyntheticVideo(start_delay=1.0, mark_at=MARK_AT)
    audio = SyntheticAudio(mark_at=MARK_AT + 1.0)  # the audio clock started 1 s earlier
    async with connected_client(server) as client:
        take, timing = await record(client, video, audio, 5.0)
    [segment] = take["manifest"]["segments"]
    path = segment_file(server.settings.data_dir, take["take_id"], segment)
    check_sync_and_frames(path, video, segment, timing.stop_sent)


async def test_what_was_captured_before_the_stop_is_kept_though_it_arrives_after(
    server: RunningServer,
) -> None:
    """A camera whose uplink queue grew by a second during the take (its clock was
    anchored before) delivers the take's last second after the stop: the stop waits for
    it, so the last picture and words are in the file, in sync; nothing captured after
    the stop is. Fails without the recorder's wait (media/recorder.py ``_catch_up``):
    the flash and the beep, captured 0.4 s before the stop, are not in the file."""
    late_s = 1.0
    video, audio = SyntheticVideo(), SyntheticAudio()
    async with connected_client(server) as client:
        session_id, _ = await client.publish([video, audio])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert take.get("state") == "recording", take
        await server.recorded(take["take_id"], 1.0)
        video.fall_behind(late_s)
        audio.fall_behind(late_s)
        await server.recorded(take["take_id"], 1.5)  # it records on, a second late
        # Flash and beep 0.4 s ago: captured then, and not yet sent (a second behind).
        mark = time.monotonic() - 0.4
        for track in (video, audio):
            assert track.captured_at(track.frames_sent) <= mark, "the track is not behind"
        video.flash_at(mark)
        audio.beep_at(mark)
        stop_sent = time.monotonic()
        stopped = await client.call("stop_take", {"take_id": take["take_id"]})
        answered = time.monotonic()
    assert stopped.get("state") == "stored", stopped
    [segment] = stopped["manifest"]["segments"]
    path = segment_file(server.settings.data_dir, take["take_id"], segment)
    frames = video_frames(path)
    assert any(f.body_luma > 200 for f in frames), "the picture captured before the stop is lost"
    samples, first_audio = audio_samples(path)
    skew = beep_time(samples, first_audio) - flash_time(frames)
    assert abs(skew) < 0.05, f"audio/video out of sync by {skew * 1000:.0f} ms"
    last = video.captured_at(frames[-1].index)
    assert stop_sent - 0.1 < last < answered, (last - stop_sent, answered - stop_sent)
    # the take ends at its stop, not when the late frames were in: so says its report
    took = stopped["stopped_at"] - stopped["started_at"]
    assert abs(stopped["quality"]["duration_s"] - took) < 0.5, (stopped["quality"], took)


async def test_new_peer_connection_continues_the_take_in_a_new_segment(
    server: RunningServer,
) -> None:
    async with connected_client(server) as client:
        session_id, first_pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await server.recorded(take["take_id"], 1.5)
        await first_pc.close()  # the network dropped; the page makes a new connection
        await asyncio.sleep(0.5)  # a real gap in the media, measured below
        await client.publish([SyntheticVideo(), SyntheticAudio()], session_id=session_id)
        before = server.app[HUB].written_s(take["take_id"])["primary"]
        await server.recorded(take["take_id"], before + 1.5)
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
    segments = stored["manifest"]["segments"]
    assert [s["reason"] for s in segments] == ["start", "reconnect"]
    assert segments[0]["peer"] != segments[1]["peer"]
    [gap] = stored["manifest"]["gaps"]
    assert gap["end_s"] - gap["start_s"] >= 0.4
    for segment in segments:
        path = segment_file(server.settings.data_dir, stored["take_id"], segment)
        assert len(video_frames(path)) > 30


async def test_client_vanishing_mid_take_still_stores_a_playable_take(tmp_path: Path) -> None:
    # A grace longer than any wait below (shorter than the device check's limit, 120 s):
    # it ends because the test moves the server's time.
    settings = server_settings(tmp_path / "data", reconnect_grace_s=60)
    async with running_server(settings) as server, connected_client(server) as client:
        session_id, pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await server.recorded(take["take_id"], 1.8)  # about 2 s of media, then it vanishes
        await client.sio.disconnect()
        await pc.close()
        url = f"{server.url}/api/takes/{take['take_id']}"
        hub = server.app[HUB]

        def detached() -> bool:
            session = hub.get(session_id)
            return session is not None and not session.attached

        await wait_until(detached, what="the server saw the client go")
        server.advance(server.settings.reconnect_grace_s)  # the client does not come back
        summary: dict[str, Any] = {}

        async def stored() -> bool:
            nonlocal summary
            async with client.http.get(url) as response:
                summary = await response.json()
            return summary["state"] == "stored"

        await wait_until(stored, what="the take stored")
    assert summary["stop_reason"] == "connection_lost"
    [segment] = summary["manifest"]["segments"]
    path = segment_file(server.settings.data_dir, take["take_id"], segment)
    assert sha256(path) == segment["sha256"]
    with av.open(str(path)) as f:
        assert f.duration is not None and 1.5 < f.duration / av.time_base < 2.5
    assert len(video_frames(path)) > 45


async def test_a_stopped_take_cannot_be_continued(server: RunningServer) -> None:
    async with connected_client(server) as client:
        take, _ = await record(client, SyntheticVideo(), SyntheticAudio(), 1.0)
        again = await client.call("stop_take", {"take_id": take["take_id"]})
        assert again["error"]["code"] == "conflict"
        # The session itself can record a new take.
        new = await client.call(
            "start_take", {"session_id": take["session_id"], "purpose": "device_check"}
        )
        assert new["state"] == "recording" and new["take_id"] != take["take_id"]
        busy = await client.call(
            "start_take", {"session_id": take["session_id"], "purpose": "device_check"}
        )
        assert busy["error"]["code"] == "conflict"


async def test_server_stops_a_take_at_its_time_limit(tmp_path: Path) -> None:
    settings = server_settings(tmp_path / "data", device_check_limit_s=2)
    async with running_server(settings) as server, connected_client(server) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert take["deadline"] == pytest.approx(take["started_at"] + 2)
        await server.recorded(take["take_id"], 0.5)  # some real media, then the limit
        server.advance(take["deadline"] - server.now())
        stored = await client.wait_event("take_stored", take_id=take["take_id"])
    assert stored["stop_reason"] == "time_limit"
    assert 1.9 < stored["stopped_at"] - stored["started_at"] < 2.5


async def test_second_take_on_the_same_connection_keeps_its_timing(server: RunningServer) -> None:
    """Reading the jitter buffer at stop must not disturb aiortc's timestamp unwrapping."""
    async with connected_client(server) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        for _ in range(2):
            asked = time.monotonic()
            take = await client.call(
                "start_take", {"session_id": session_id, "purpose": "device_check"}
            )
            await asyncio.sleep(1.5)
            stored = await client.call("stop_take", {"take_id": take["take_id"]})
            longest = time.monotonic() - asked  # the take can have been no longer
            [segment] = stored["manifest"]["segments"]
            assert segment["reason"] == "start"
            # A broken unwrap puts the media seconds or hours off; a busy machine only late.
            assert segment["start_s"] < 0.75, segment
            assert 0.5 < segment["duration_s"]
            assert segment["start_s"] + segment["duration_s"] < longest + 0.1, (segment, longest)
            for stream in segment["streams"]:
                assert stream["last_pts_ms"] < 1000 * longest + 100, (stream, longest)

"""A track's clock (media/sources.py) between real aiortc peers, across takes.

A take places each frame by its track's clock: the sender's RTP time mapped to the
server's clock at the earliest packet arrival, and fixed while a recorder writes with it.
A sender's RTP clock that lost time since (its capture stalled, or it was starved of CPU,
and went on from the frame it had reached) made every frame of the next take on the same
connection look captured that much before the take started: all dropped, a camera
connected and sending that never recorded (seen as the three-node test's formal takes,
after the device checks on the same connections, recording 0 s for 30 s).
"""

from __future__ import annotations

from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client
from web.keys import HUB

STALL_S = 4.0  # the sender's clock falls this far behind ours
WATCHED_FRAMES = 90  # the second take is stopped after 3 s of video (< STALL_S)


async def test_a_take_records_after_the_senders_clock_lost_time_since_the_last_take(
    server: RunningServer,
) -> None:
    video, audio = SyntheticVideo(), SyntheticAudio()
    hub = server.app[HUB]
    async with connected_client(server) as client:
        session_id, _ = await client.publish([video, audio])
        first = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await server.recorded(first["take_id"], 1.0)  # its recorder fixed the track clocks
        stored = await client.call("stop_take", {"take_id": first["take_id"]})
        assert stored["state"] == "stored", stored

        video.fall_behind(STALL_S)  # it goes on from the frame it reached, 4 s late
        audio.fall_behind(STALL_S)
        sent = video.frames_sent
        await wait_until(lambda: video.frames_sent > sent + 5, 2 * STALL_S, "video again")

        second = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert second.get("state") == "recording", second
        session = hub.get(session_id)
        assert session is not None
        [camera] = [s for s in session.sources if s.kind == "video"]
        received, sent = camera.frames_received, video.frames_sent
        try:
            await wait_until(
                lambda: camera.frames_received >= received + WATCHED_FRAMES,
                15,
                f"{WATCHED_FRAMES} frames of the second take at the server",
            )
        except AssertionError as exc:  # say where the frames stopped (seen once under load)
            now = hub.get(session_id)
            raise AssertionError(
                f"{exc}; sent {video.frames_sent - sent}, received"
                f" {camera.frames_received - received}, packets {camera.packets_seen},"
                f" session {now.media_stage() if now else 'gone'}"
            ) from None
        stored = await client.call("stop_take", {"take_id": second["take_id"]})
    assert stored["state"] == "stored", stored
    manifest = stored["manifest"]
    # Frames captured after the take started, every one, were dropped as captured before it.
    assert manifest["segments"] and manifest["recorded_s"] > 0, manifest
    assert all(s["start_s"] >= 0 for s in manifest["segments"]), manifest["segments"]

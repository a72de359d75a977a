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

import logging
import time
from collections.abc import Callable

import pytest
from aiortc import RTCPeerConnection

from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client
from web.keys import HUB

STALL_S = 4.0  # the sender's clock falls this far behind ours
WATCHED_FRAMES = 90  # the second take is stopped after 3 s of video (< STALL_S)


def _counter(pc: RTCPeerConnection | None, name: str) -> int:
    """A peer connection's DTLS transport's packets sent or received (``tx``/``rx``)."""
    if pc is None or not pc.getTransceivers():
        return -1
    dtls = pc.getTransceivers()[0].receiver.transport
    return int(getattr(dtls, f"_RTCDtlsTransport__{name}_packets", -1))


class Timeline:
    """What ``sample()`` says, noted at most every 0.5 s by the test's polls (for the
    failure message)."""

    def __init__(self, sample: Callable[[], str]) -> None:
        self.sample = sample
        self.lines: list[str] = []
        self._start = time.monotonic()
        self._noted = -1.0

    def polling(self, predicate: Callable[[], bool]) -> Callable[[], bool]:
        """``predicate``, noting the sample first each time it is polled."""

        def noted() -> bool:
            now = time.monotonic() - self._start
            if now - self._noted >= 0.5:
                self._noted = now
                self.lines.append(f"{now:.1f}s {self.sample()}")
            return predicate()

        return noted


async def test_a_take_records_after_the_senders_clock_lost_time_since_the_last_take(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="media")
    caplog.set_level(logging.INFO, logger="signaling")
    caplog.set_level(logging.INFO, logger="aioice")
    video, audio = SyntheticVideo(), SyntheticAudio()
    hub = server.app[HUB]
    async with connected_client(server) as client:
        session_id, client_pc = await client.publish([video, audio])
        first = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await server.recorded(first["take_id"], 1.0)  # its recorder fixed the track clocks
        stored = await client.call("stop_take", {"take_id": first["take_id"]})
        assert stored["state"] == "stored", stored

        def sample() -> str:  # where the media stops, if it does (the failure says)
            now = hub.get(session_id)
            pc = now.peer if now else None
            frames = [s.frames_received for s in now.sources] if now else []
            return (
                f"sent {video.frames_sent}/{audio.frames_sent} tx {_counter(client_pc, 'tx')}"
                f" {client_pc.connectionState}/{client_pc.iceConnectionState}"
                f" | rx {_counter(pc, 'rx')} frames {frames}"
                f" {pc.connectionState if pc else 'no peer'}"
                f"/{pc.iceConnectionState if pc else '-'}"
                f" {now.media_stage() if now else 'gone'}"
            )

        timeline = Timeline(sample)
        video.fall_behind(STALL_S)  # it goes on from the frame it reached, 4 s late
        audio.fall_behind(STALL_S)
        sent = video.frames_sent
        await wait_until(
            timeline.polling(lambda: video.frames_sent > sent + 5), 2 * STALL_S, "video again"
        )

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
                timeline.polling(lambda: camera.frames_received >= received + WATCHED_FRAMES),
                15,
                f"{WATCHED_FRAMES} frames of the second take at the server",
            )
        except AssertionError as exc:  # say where the frames stopped, and what was logged
            logged = [
                f"{r.created - time.time():.1f}s {r.name}: {r.getMessage()}"
                for r in caplog.records
                if r.name.startswith(("media", "signaling", "aioice"))
            ][-40:]
            raise AssertionError(
                f"{exc}; sent {video.frames_sent - sent}, received"
                f" {camera.frames_received - received}; timeline (from the stall):\n"
                + "\n".join(timeline.lines)
                + "\nlogged (seconds ago):\n"
                + "\n".join(logged)
            ) from None
        stored = await client.call("stop_take", {"take_id": second["take_id"]})
    assert stored["state"] == "stored", stored
    manifest = stored["manifest"]
    # Frames captured after the take started, every one, were dropped as captured before it.
    assert manifest["segments"] and manifest["recorded_s"] > 0, manifest
    assert all(s["start_s"] >= 0 for s in manifest["segments"]), manifest["segments"]

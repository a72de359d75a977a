"""A network blip in the middle of a take, between real aiortc peers and a real server.

The client's peer connection keeps going (the same one, as a browser's does after a
short Wi-Fi drop) while everything it sends over RTP/RTCP is lost for a while; its
sender keeps encoding, so the server sees a real sequence and timestamp jump, and
answers with the PLI the client's aiortc sender turns into a keyframe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcrtpsender import RTP_HISTORY_SIZE as SENDER_HISTORY  # packets kept to resend
from aiortc.rtp import is_rtcp

from tests.support.analysis import (
    audio_samples,
    beep_time,
    decode_strictly,
    flash_time,
    segment_file,
    video_frames,
)
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client
from web.keys import HUB

until = wait_until  # the name test_fills, test_quality_report and test_receive_path import


class Outage:
    """Drops what ``pc`` sends over SRTP/SRTCP while on: the uplink of a blip.

    It notes the RTP timestamps of the media it dropped, so a test can compare what the
    server reports lost with what was lost (on a loaded machine the frames counted as sent
    during the cut are not exactly those the cut dropped: encoding runs behind).
    """

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.on = False
        self.dropped = 0
        self.packets = {"audio": 0, "video": 0}  # RTP packets of each kind's track dropped
        self._clocks = {  # SSRC: the kind and the clock of the track it sends
            s._ssrc: (s.track.kind, 90_000 if s.track.kind == "video" else 48_000)
            for s in pc.getSenders()
            if s.track is not None
        }
        self._spans: dict[int, tuple[int, int]] = {}  # SSRC: first and newest unwrapped ts
        self._stamps: dict[int, list[int]] = {}  # SSRC: each dropped packet's unwrapped ts
        for transport in {s.transport for s in pc.getSenders()}:
            transport._send_rtp = self._wrap(transport._send_rtp)  # type: ignore[method-assign,assignment]

    def _wrap(self, send: Callable[[bytes], Awaitable[None]]) -> Callable[[bytes], Any]:
        async def lossy(data: bytes) -> None:
            if self.on:
                self.dropped += 1
                if not is_rtcp(data):
                    self._note(data)
                return
            await send(data)

        return lossy

    def _note(self, rtp: bytes) -> None:
        ts, ssrc = int.from_bytes(rtp[4:8], "big"), int.from_bytes(rtp[8:12], "big")
        if ssrc in self._clocks:
            self.packets[self._clocks[ssrc][0]] += 1
        first, newest = self._spans.get(ssrc, (ts, ts))
        step = (ts - newest) % 2**32  # forward from the newest, across a wrap
        if step < 2**31:
            newest += step
        self._spans[ssrc] = (first, newest)
        self._stamps.setdefault(ssrc, []).append(newest)

    def resendable_s(self, kind: str, history: int) -> float:
        """How much of the end of the cut (media seconds) the sender could still resend when
        the cut ended: its last ``history`` dropped packets of ``kind``."""
        for ssrc, (k, clock) in self._clocks.items():
            if k == kind and self._stamps.get(ssrc):
                stamps = self._stamps[ssrc]
                return (stamps[-1] - stamps[max(0, len(stamps) - history)]) / clock
        return 0.0

    def dropped_s(self, kind: str) -> float:
        """From the first to the last frame of ``kind`` the cut dropped, in media seconds."""
        for ssrc, (k, clock) in self._clocks.items():
            if k == kind and ssrc in self._spans:
                first, newest = self._spans[ssrc]
                return (newest - first) / clock
        return 0.0


async def record_with_outage(
    server: RunningServer, outage_s: float, mark_at: float, *, for_good: bool = False
) -> tuple[dict[str, Any], Outage]:
    """Record, cut the client's uplink for ``outage_s`` two seconds in (``for_good``: and
    until it dropped more video packets than the sender keeps to resend), record on until
    a second past ``mark_at`` (a flash and a beep), stop; the stored take."""
    video = SyntheticVideo(mark_at=mark_at)
    audio = SyntheticAudio(mark_at=mark_at)
    hub = server.app[HUB]
    async with connected_client(server) as client:
        session_id, pc = await client.publish([video, audio])
        outage = Outage(pc)
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        recorder = hub._takes[take["take_id"]]["primary"]  # what the server has recorded
        await wait_until(lambda: recorder._current is not None, 10, "the first segment")
        sent = video.frames_sent
        await wait_until(lambda: video.frames_sent >= sent + 60, 10, "two seconds recorded")
        outage.on = True
        sent = video.frames_sent
        await wait_until(
            lambda: (
                video.frames_sent >= sent + outage_s * 30
                and (not for_good or outage.packets["video"] > SENDER_HISTORY + 32)
            ),
            20,
            "the outage",
        )
        outage.on = False
        if video.frames_sent / 30 > mark_at - 1.0:  # a cut made longer: the mark after it
            mark_at = video.mark_at = audio.mark_at = video.frames_sent / 30 + 1.5
        await wait_until(lambda: video.frames_sent / 30 >= mark_at + 1.0, 20, "the mark")
        stored: dict[str, Any] = await client.call("stop_take", {"take_id": take["take_id"]})
    assert outage.dropped > outage_s * 30
    return stored, outage


def check_segments(server: RunningServer, stored: dict[str, Any]) -> None:
    """Every file decodes without an error, each picture in order with none missing, the
    sound beside it; picture and sound in step after the hole (the last segment)."""
    segments = stored["manifest"]["segments"]
    for segment in segments:
        path = segment_file(server.settings.data_dir, stored["take_id"], segment)
        d = decode_strictly(path)
        indices = [f.index for f in d.video]
        assert indices == list(range(indices[0], indices[0] + len(indices))), "a frame is missing"
        assert d.video_packets == len(d.video) == segment["streams"][0]["frames"]
        assert abs(d.audio_pts_s[0] - d.video[0].pts_s) < 0.05
    path = segment_file(server.settings.data_dir, stored["take_id"], segments[-1])
    samples, first = audio_samples(path)
    skew = beep_time(samples, first) - flash_time(video_frames(path))
    assert abs(skew) < 0.05, f"audio/video out of sync by {skew * 1000:.0f} ms after the hole"
    # What is shown as recorded counts what the files hold, not the take's wall time.
    manifest = stored["manifest"]
    assert manifest["recorded_s"] == round(sum(s["picture_s"] for s in segments), 3)
    assert (stored["recorded_s"], stored["gaps"]) == (manifest["recorded_s"], manifest["gaps"])


async def test_a_blip_that_loses_the_picture_is_a_gap_between_two_playable_segments(
    server: RunningServer,
) -> None:
    """Five seconds: more than the sender can retransmit (aiortc keeps 128 packets)."""
    stored, outage = await record_with_outage(server, 5.0, mark_at=8.5, for_good=True)
    manifest = stored["manifest"]
    segments = manifest["segments"]
    assert [s["reason"] for s in segments] == ["start", "resumed"], segments
    [gap] = manifest["gaps"]
    assert gap["reason"] == "media_lost"
    one, two = segments
    assert gap["start_s"] == round(one["start_s"] + one["duration_s"], 3)
    assert gap["end_s"] == two["start_s"]
    # from the picture's last frame, or the sound's, before the cut (the sound, not encoded
    # behind, may end a few frames later) to the keyframe after the frames it dropped
    assert gap["end_s"] - gap["start_s"] >= outage.dropped_s("video") - 0.2 >= 4.0 - 0.2
    await asyncio.to_thread(check_segments, server, stored)  # decoding: off the loop
    wall = stored["stopped_at"] - stored["started_at"]
    assert manifest["recorded_s"] <= wall - (gap["end_s"] - gap["start_s"]) + 0.05


async def test_a_blip_whose_picture_is_retransmitted_keeps_one_segment_in_sync(
    server: RunningServer,
) -> None:
    """A second and a half: the video comes back by NACK/retransmission, the sound (not
    retransmitted) is silence there, and stays in step with the picture after it."""
    stored, outage = await record_with_outage(server, 1.5, mark_at=5.0)
    manifest = stored["manifest"]
    assert [s["reason"] for s in manifest["segments"]] == ["start"]
    assert manifest["gaps"] == []
    # silence where the sound was dropped: its frames, first to last, and the last one's 20 ms
    dropped = outage.dropped_s("audio")
    assert abs(manifest["stats"]["silence_filled"] * 0.02 - (dropped + 0.02)) <= 0.045, dropped
    assert dropped >= 1.0
    await asyncio.to_thread(check_segments, server, stored)  # decoding: off the loop

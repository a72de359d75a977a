"""bench/fast_sender.py: the bench's send loop puts on the wire what aiortc's own would.

Two real aiortc peers in this process, the sender's packets read where the far one takes
SRTP off: the same frames through aiortc's ``_run_rtp`` and through the bench's loop give
the same packets but for what aiortc draws at random (sequence and timestamp origins, the
first picture id) and the send time; a NACK is answered over RTX and a PLI reaches the
track.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any

import aioice.ice
import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, clock
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtp import (
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

from bench import fast_sender
from bench.clip import AUDIO_FRAME, AUDIO_RATE, Sample
from bench.tracks import VIDEO_CLOCK, PacedTrack
from tests.support.clock import wait_until
from tests.support.encoded import opus_packets
from tests.support.rtp import Camera

FRAMES = 4


@pytest.fixture(scope="module")
def frames() -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
    camera = Camera(640, 480)  # a keyframe of several packets, then smaller frames
    video = tuple(Sample(camera.next(), i == 0) for i in range(FRAMES))
    audio = tuple(Sample(p, True) for p in opus_packets(FRAMES))
    return video, audio


@dataclass
class Sent:
    packets: list[bytes]  # as they arrived, SRTP taken off
    video: RTCRtpSender
    audio: RTCRtpSender
    track: PacedTrack
    pcs: tuple[RTCPeerConnection, RTCPeerConnection]

    def of(self, sender: RTCRtpSender) -> list[bytes]:
        return [p for p in self.packets if struct.unpack_from("!L", p, 8)[0] == sender._ssrc]


def private(sender: RTCRtpSender, name: str) -> Any:
    """aiortc's sender keeps these in double-underscore (name-mangled) attributes."""
    return getattr(sender, "_RTCRtpSender__" + name)


def _loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


async def send(frames: Any, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Sent:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", _loopback)
    video_samples, audio_samples = frames
    video = PacedTrack("video", video_samples, 1 / 30, VIDEO_CLOCK // 30, VIDEO_CLOCK)
    audio = PacedTrack("audio", audio_samples, AUDIO_FRAME / AUDIO_RATE, AUDIO_FRAME, AUDIO_RATE)
    pc, far = RTCPeerConnection(RTCConfiguration([])), RTCPeerConnection(RTCConfiguration([]))
    audio_sender = pc.addTransceiver(audio, direction="sendonly").sender
    video_sender = pc.addTransceiver(video, direction="sendonly").sender
    video.route_keyframe_requests(video_sender)
    if fast:  # as bench/loadgen.py does
        fast_sender.install(audio_sender, audio)
        fast_sender.install(video_sender, video)
    await pc.setLocalDescription(await pc.createOffer())
    await far.setRemoteDescription(pc.localDescription)
    await far.setLocalDescription(await far.createAnswer())
    await pc.setRemoteDescription(far.localDescription)
    connected = (pc, far)
    await wait_until(lambda: all(p.connectionState == "connected" for p in connected))
    # What arrives, as the far end reads it after SRTP.
    packets: list[bytes] = []
    session = far.getReceivers()[0].transport._rx_srtp
    unprotect = session.unprotect

    def keep(packet: bytes) -> bytes:
        packets.append(unprotect(packet))
        return packets[-1]

    session.unprotect = keep  # type: ignore[method-assign]
    past = time.monotonic() - 60  # due long ago: no pacing waits
    video.start(past, FRAMES)
    audio.start(past, FRAMES)
    expected = sum(-(-len(s.data) // 1296) for s in video_samples) + len(audio_samples)
    await wait_until(lambda: len(packets) >= expected, what=f"{expected} packets")
    return Sent(packets, video_sender, audio_sender, video, (pc, far))


def normalised(packets: list[bytes], sender: RTCRtpSender) -> list[tuple[Any, ...]]:
    """What does not depend on aiortc's random draws or on when a packet went."""
    extensions = private(sender, "rtp_header_extensions_map")
    parsed = [RtpPacket.parse(p, extensions) for p in packets]
    first = parsed[0]
    picture_id: int | None = None
    out = []
    for raw, p in zip(packets, parsed, strict=True):
        payload: Any = p.payload
        if sender.kind == "video":
            descriptor, rest = VpxPayloadDescriptor.parse(p.payload)
            assert descriptor.picture_id is not None
            picture_id = descriptor.picture_id if picture_id is None else picture_id
            payload = (
                descriptor.partition_start,
                descriptor.partition_id,
                (descriptor.picture_id - picture_id) % (1 << 15),
                descriptor.tl0picidx,
                descriptor.tid,
                descriptor.keyidx,
                rest,
            )
        out.append(
            (
                len(raw),
                p.payload_type,
                p.marker,
                (p.sequence_number - first.sequence_number) % (1 << 16),
                (p.timestamp - first.timestamp) % (1 << 32),
                p.ssrc == sender._ssrc,
                p.extensions.mid,
                p.extensions.abs_send_time is not None,
                p.extensions.audio_level,
                payload,
            )
        )
    return out


async def close(sent: Sent) -> None:
    for pc in sent.pcs:
        await pc.close()


async def test_the_bench_loop_sends_what_aiortcs_loop_sends(
    frames: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = await send(frames, False, monkeypatch)
    try:
        before = clock.current_ntp_time()
        ours = await send(frames, True, monkeypatch)
        after = clock.current_ntp_time()
    finally:
        await close(theirs)
    try:
        for kind in ("video", "audio"):
            aiortcs = normalised(theirs.of(getattr(theirs, kind)), getattr(theirs, kind))
            assert len(aiortcs) >= FRAMES
            assert normalised(ours.of(getattr(ours, kind)), getattr(ours, kind)) == aiortcs
        assert len(ours.of(ours.video)) > FRAMES  # the keyframe took several packets
        # abs-send-time is aiortc's clock: 6.18 fixed-point seconds, read as each went
        extensions = private(ours.video, "rtp_header_extensions_map")
        sent = ours.of(ours.video)
        stamps = [RtpPacket.parse(p, extensions).extensions.abs_send_time for p in sent]
        assert None not in stamps
        low, span = (before >> 14) & 0xFFFFFF, ((after - before) >> 14) + 1
        assert all((s - low) % (1 << 24) <= span for s in stamps if s is not None)
        # the sender report's counters are kept
        assert private(ours.video, "packet_count") == len(sent)
        last = RtpPacket.parse(sent[-1], extensions)
        assert private(ours.video, "rtp_timestamp") == last.timestamp
        ntp = private(ours.video, "ntp_timestamp")
        assert before <= ntp <= after
    finally:
        await close(ours)


async def test_a_nack_is_answered_over_rtx_and_a_pli_reaches_the_track(
    frames: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = await send(frames, True, monkeypatch)
    try:
        extensions = private(sent.video, "rtp_header_extensions_map")
        lost = RtpPacket.parse(sent.of(sent.video)[1], extensions)
        count = len(sent.packets)
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sent.video._ssrc)
        nack.lost = [lost.sequence_number]
        await sent.video._handle_rtcp_packet(nack)
        await wait_until(lambda: len(sent.packets) > count, what="the retransmission")
        [again] = sent.packets[count:]
        rtx = RtpPacket.parse(again, extensions)
        assert rtx.ssrc == sent.video._rtx_ssrc
        assert rtx.payload_type == private(sent.video, "rtx_payload_type")
        assert (rtx.timestamp, rtx.marker) == (lost.timestamp, lost.marker)
        assert rtx.payload == struct.pack("!H", lost.sequence_number) + lost.payload
        assert rtx.extensions.abs_send_time == lost.extensions.abs_send_time
        assert not sent.track._want_keyframe
        pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sent.video._ssrc)
        await sent.video._handle_rtcp_packet(pli)
        assert sent.track._want_keyframe
    finally:
        await close(sent)


async def test_an_aiortc_that_moved_what_the_loop_uses_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pc = RTCPeerConnection(RTCConfiguration([]))
    try:
        sender = pc.addTransceiver("video", direction="sendonly").sender
        fast_sender.check(sender)
        monkeypatch.delattr(sender, "_RTCRtpSender__rtp_history")
        with pytest.raises(RuntimeError, match=r"moved RTCRtpSender\._RTCRtpSender__rtp_hist"):
            fast_sender.check(sender)
        monkeypatch.setattr(aiortc, "__version__", "1.17.0")
        with pytest.raises(RuntimeError, match=r"not aiortc 1\.17\.0"):
            fast_sender.check(sender)
    finally:
        await pc.close()


def test_the_clock_is_aiortcs_without_the_datetimes() -> None:
    before = clock.current_ntp_time()
    ntp = fast_sender.ntp_time()
    stamp = fast_sender.abs_send_time()
    after = clock.current_ntp_time()
    assert before <= ntp <= after
    low = (before >> 14) & 0xFFFFFF
    assert (stamp - low) % (1 << 24) <= ((after - before) >> 14) + 1

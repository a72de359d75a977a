"""Real RTP into real aiortc receivers, without a network: what packet loss does.

A :class:`Camera` encodes a moving, numbered picture frame by frame with
libvpx (PyAV) and makes a keyframe when a PLI has arrived, as a browser does;
:class:`Link` packetises its frames and Opus packets the way a sender does
(RFC 7741 VP8 descriptors, one Opus frame a packet), drops the packets that
fall in a hole, and hands the rest to real ``RTCRtpReceiver``s tapped by
:mod:`media.tap`, started through their public ``receive``. What the
receivers send back (RTCP: PLI, NACK) is kept.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import av
from aiortc import RTCRtpReceiver
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPacket, RtcpPsfbPacket, RtpPacket
from av.video.frame import PictureType

from media import tap
from media.sources import TrackSource
from tests.support.encoded import opus_packets
from tests.support.media import _picture

VP8_PT, OPUS_PT = 96, 111
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=VP8_PT)
OPUS = RTCRtpCodecParameters(
    mimeType="audio/opus", clockRate=48000, channels=2, payloadType=OPUS_PT
)
FPS = 30
AUDIO_FRAME_S = 0.02


class Camera:
    """A VP8 sender's encoder: keyframes only at the start and when asked (PLI)."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        enc = av.CodecContext.create("libvpx", "w")
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.time_base = fractions.Fraction(1, FPS)
        enc.framerate = fractions.Fraction(FPS)
        enc.gop_size = 1 << 20  # never on its own
        enc.bit_rate = 600_000
        enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        self._enc = enc
        self.size = (width, height)
        self.index = 0
        self.key_wanted = True
        self.keyframes: list[int] = []  # frame indices encoded as keyframes

    def next(self) -> bytes:
        frame = av.VideoFrame.from_ndarray(_picture(*self.size, self.index, False), "yuv420p")
        frame.pts = self.index
        if self.key_wanted:
            frame.pict_type = PictureType.I
            self.key_wanted = False
        [packet] = self._enc.encode(frame)
        if packet.is_keyframe:
            self.keyframes.append(self.index)
        self.index += 1
        return bytes(packet)


class _Transport:
    """Where a receiver sends its RTCP; stands for the DTLS transport."""

    state = "new"

    def __init__(self) -> None:
        self.rtcp = 0
        self.pli_count = 0

    async def _send_rtp(self, data: bytes) -> None:
        self.rtcp += 1
        self.pli_count += sum(
            isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_PLI for p in RtcpPacket.parse(data)
        )

    def _register_rtp_receiver(self, receiver: object, parameters: object) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver: object) -> None:
        pass


@dataclass
class Receiver:
    kind: str
    receiver: RTCRtpReceiver
    source: TrackSource
    transport: _Transport
    ssrc: int
    codec: RTCRtpCodecParameters
    seq: int
    ts0: int
    sent: int = 0
    dropped: int = 0
    history: list[RtpPacket] = field(default_factory=list)  # every packet made, in order

    async def send(
        self, payloads: list[bytes], timestamp: int, lost: Callable[[int], bool]
    ) -> None:
        """One frame's packets; ``lost(i)`` says whether packet ``i`` of it is lost."""
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=VP8_PT if self.kind == "video" else OPUS_PT,
                marker=int(i == len(payloads) - 1 or self.kind == "audio"),
                sequence_number=self.seq,
                timestamp=(self.ts0 + timestamp) & 0xFFFFFFFF,
                ssrc=self.ssrc,
                payload=payload,
            )
            self.seq = (self.seq + 1) & 0xFFFF
            self.history.append(packet)
            if lost(i):
                self.dropped += 1
                continue
            self.sent += 1
            await self.receiver._handle_rtp_packet(packet, int(time.monotonic() * 1000))

    async def resend(self, back: int, count: int = 10) -> None:
        """``count`` packets from the one made ``back`` packets ago, again: a late burst
        of retransmissions."""
        start = len(self.history) - back
        for packet in self.history[start : start + count]:
            await self.receiver._handle_rtp_packet(packet, int(time.monotonic() * 1000))


async def tapped_receiver(kind: str, ssrc: int, seq: int, ts0: int) -> Receiver:
    transport = _Transport()
    receiver = RTCRtpReceiver(kind, transport)  # type: ignore[arg-type]
    receiver._track = RemoteStreamTrack(kind=kind)  # what RTCPeerConnection sets
    source = TrackSource(kind, receiver, "peer-0")
    tap.install(receiver, source)
    codec = VP8 if kind == "video" else OPUS
    await receiver.receive(
        RTCRtpReceiveParameters(
            codecs=[codec],
            encodings=[
                RTCRtpDecodingParameters(
                    ssrc=ssrc, payloadType=VP8_PT if kind == "video" else OPUS_PT
                )
            ],
        )
    )
    receiver._set_rtcp_ssrc(1000 + ssrc)
    return Receiver(kind, receiver, source, transport, ssrc, codec, seq, ts0)


def vp8_payloads(frame: bytes, picture_id: int, size: int = 120) -> list[bytes]:
    """RFC 7741 packets of at most ``size`` bytes of frame each (S set on the first)."""
    payloads = []
    for n, pos in enumerate(range(0, len(frame), size)):
        descriptor = VpxPayloadDescriptor(
            partition_start=int(n == 0), partition_id=0, picture_id=picture_id & 0x7FFF
        )
        payloads.append(bytes(descriptor) + frame[pos : pos + size])
    return payloads


@dataclass
class Hole:
    """Packets sent from ``start_s`` to ``end_s`` (media time) are lost; the video hole
    starts after the first packet of its first frame and ends after the first packet of
    the frame at ``end_s``, so frames on both edges are cut."""

    start_s: float
    end_s: float
    kinds: tuple[str, ...] = ("video", "audio")


@dataclass
class Link:
    video: Receiver
    audio: Receiver
    camera: Camera = field(default_factory=Camera)
    holes: list[Hole] = field(default_factory=list)
    late: dict[int, int] = field(default_factory=dict)  # video frame -> resend packets
    # from that many back just before it
    plis_at: list[float] = field(default_factory=list)  # media time each new PLI was seen
    now: float = 0.0  # media time of what is being sent: when it "arrives" (see arrival_clock)
    _plis: int = 0
    _audio: list[bytes] = field(default_factory=list)

    async def run(self, seconds: float, on_tick: Callable[[float], None] | None = None) -> None:
        """Send ``seconds`` of media, audio and video interleaved by time, as fast as the
        receivers take it; the camera answers a PLI with its next frame."""
        self._audio = opus_packets(round(seconds / AUDIO_FRAME_S) + 10)
        ticks = [(i / FPS, "video", i) for i in range(round(seconds * FPS))]
        ticks += [(i * AUDIO_FRAME_S, "audio", i) for i in range(round(seconds / AUDIO_FRAME_S))]
        for at, kind, i in sorted(ticks):
            self.now = at
            if kind == "video":
                await self._video_frame(at, i)
            else:
                hole = self._in_hole(at, "audio")
                await self.audio.send([self._audio[i]], i * 960, _all_or_none(hole))
            await asyncio.sleep(0)  # what the receivers scheduled (their RTCP) goes out
            self._note_plis(at)
            if on_tick is not None:
                on_tick(at)

    async def _video_frame(self, at: float, i: int) -> None:
        if i in self.late:
            await self.video.resend(self.late[i])
        frame = self.camera.next()
        payloads = vp8_payloads(frame, i)
        for hole in (h for h in self.holes if "video" in h.kinds):
            first, last = round(hole.start_s * FPS), round(hole.end_s * FPS)
            if i == first:  # the hole opens after this frame's first packet
                await self.video.send(payloads, i * 3000, lambda n: n > 0)
                return
            if first < i < last:
                await self.video.send(payloads, i * 3000, lambda n: True)
                return
            if i == last:  # and closes after this one's first packet: it arrives cut
                await self.video.send(payloads, i * 3000, lambda n: n == 0)
                return
        await self.video.send(payloads, i * 3000, lambda n: False)

    def _in_hole(self, at: float, kind: str) -> bool:
        return any(kind in h.kinds and h.start_s <= at < h.end_s for h in self.holes)

    def _note_plis(self, at: float) -> None:
        plis = self.video.transport.pli_count
        if plis > self._plis:
            self._plis = plis
            self.plis_at.append(at)
            self.camera.key_wanted = True  # the browser answers with its next frame


def arrival_clock(link: Link, start: float) -> SimpleNamespace:
    """A stand-in for the ``time`` module :mod:`media.tap` stamps packet arrivals with:
    each packet arrives at ``start`` plus its media time, as on an ideal network, however
    long the test machine takes to send it."""
    return SimpleNamespace(monotonic=lambda: start + link.now)


def _all_or_none(lost: bool) -> Callable[[int], bool]:
    """Every packet of a frame lost, or none."""
    return lambda _index: lost

"""The receive path's packet handler does what aiortc's ``_handle_rtp_packet`` does, packet
for packet: the same frames to the decoder queue, the same RTCP (REMB, NACK, PLI) sent,
the same statistics and sources; and it needs no coroutine per packet. Where it differs
on purpose, a video packet that stays lost (NACKed again, then given up with a PLI
instead of holding every later frame back), it is tested on its own."""

from __future__ import annotations

import asyncio
import queue
import random
from typing import Any

import pytest
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import (
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensions,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

from media import receive_handler, receive_path, tap
from media.receive_handler import PacketHandler, vp8_payload

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
RTX = RTCRtpCodecParameters(
    mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
SSRC, RTX_SSRC = 0x1111, 0x2222


class Transport:
    """What a receiver needs of its DTLS transport: a state, and somewhere to send RTCP."""

    state = "connected"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


def receiver(kind: str) -> tuple[RTCRtpReceiver, Transport, queue.Queue[Any]]:
    transport = Transport()
    r = RTCRtpReceiver(kind, transport)  # type: ignore[arg-type]
    state = vars(r)
    codecs = state["_RTCRtpReceiver__codecs"]
    for codec in (VP8, RTX) if kind == "video" else (OPUS,):
        codecs[codec.payloadType] = codec
    state["_RTCRtpReceiver__rtx_ssrc"][RTX_SSRC] = SSRC
    state["_RTCRtpReceiver__decoder_thread"] = True  # frames go to the queue
    frames: queue.Queue[Any] = queue.Queue()
    state["_RTCRtpReceiver__decoder_queue"] = frames
    r._set_rtcp_ssrc(0xABCD)
    return r, transport, frames


Sent = tuple[int, int, int, int, bytes, int | None, int]


def video_traffic(seed: int) -> list[Sent]:
    """(payload type, sequence, timestamp, SSRC, payload, abs-send-time, arrival ms) of a
    camera, with losses, retransmissions over RTX, a truncated descriptor and an unknown
    payload type on the way."""
    rnd = random.Random(seed)
    out: list[Sent] = []
    sent: list[tuple[int, int, bytes]] = []
    sequence, rtx_sequence, timestamp, now = 65000, 5000, 1000, 10_000  # wraps on the way
    for frame in range(300):
        for i in range(rnd.choice((1, 2, 3, 8, 40)) if frame % 30 else 40):
            descriptor = bytes([0x90 if i == 0 else 0x80, 0x80, frame & 0x7F])
            payload = descriptor + rnd.randbytes(rnd.randrange(20, 200))
            sent.append((sequence, timestamp, payload))
            now += rnd.choice((0, 1, 1, 2, 5))
            send_time = int(now / 1000 * (1 << 18)) & 0xFFFFFF
            roll = rnd.random()
            if roll < 0.03:
                pass  # lost
            elif roll < 0.05:  # an older one sent again over RTX
                seq, ts, old = sent[max(0, len(sent) - 5)]
                rtx = seq.to_bytes(2, "big") + old
                out.append((97, rtx_sequence, ts, RTX_SSRC, rtx, send_time, now))
                rtx_sequence += 1
            elif roll < 0.06:
                out.append((96, sequence, timestamp, SSRC, b"\x80", send_time, now))
            elif roll < 0.065:
                out.append((100, sequence, timestamp, SSRC, payload, send_time, now))
            else:
                arrival = now + rnd.randrange(0, 3)
                out.append((96, sequence, timestamp, SSRC, payload, send_time, arrival))
            sequence = (sequence + 1) & 0xFFFF
        timestamp += 3000
    return out


def packets(seed: int) -> list[tuple[RtpPacket, int]]:
    """The traffic as packets (new objects at each call), with their arrival times."""
    made = []
    for pt, seq, ts, ssrc, payload, send_time, ms in video_traffic(seed):
        p = RtpPacket(
            payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload
        )
        p.extensions = HeaderExtensions(abs_send_time=send_time)
        made.append((p, ms))
    return made


@pytest.fixture
def aiortcs_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost packet waited for as aiortc does: NACKed once, never given up."""
    monkeypatch.setattr(receive_handler, "NACK_AGAIN_MS", 10**9)
    monkeypatch.setattr(receive_handler, "HOLE_WAIT_MS", 10**9)


def run_both(
    kind: str, traffic: list[tuple[RtpPacket, int]], again: list[tuple[RtpPacket, int]]
) -> Any:
    async def main() -> Any:
        theirs, theirs_sent, theirs_frames = receiver(kind)
        ours, ours_sent, ours_frames = receiver(kind)
        handler = PacketHandler(ours, receive_path.run)
        for (a, ms), (b, _) in zip(traffic, again, strict=True):
            await theirs._handle_rtp_packet(a, arrival_time_ms=ms)
            handler.rtp(b, ms)
        return (theirs, theirs_sent, theirs_frames), (ours, ours_sent, ours_frames)

    return asyncio.run(main())


def drained(frames: queue.Queue[Any]) -> list[tuple[int, bytes, int]]:
    out = []
    while not frames.empty():
        codec, frame = frames.get_nowait()
        out.append((codec.payloadType, frame.data, frame.timestamp))
    return out


def figures(r: RTCRtpReceiver) -> Any:
    streams = vars(r)["_RTCRtpReceiver__remote_streams"]
    nacks = vars(r)["_RTCRtpReceiver__nack_generator"]
    # (not the jitter: aiortc's statistics read the wall clock at each packet)
    return {
        ssrc: (s.packets_received, s.max_seq, s.cycles, s.base_seq, s.packets_lost)
        for ssrc, s in streams.items()
    }, nacks and (nacks.max_seq, sorted(nacks.missing))


@pytest.mark.usefixtures("aiortcs_rules")
@pytest.mark.parametrize("seed", range(4))
def test_video_is_handled_as_aiortc_does(seed: int) -> None:
    (theirs, theirs_sent, theirs_frames), (ours, ours_sent, ours_frames) = run_both(
        "video", packets(seed), packets(seed)
    )
    frames = drained(theirs_frames)
    assert len(frames) > 100
    assert drained(ours_frames) == frames
    assert len(theirs_sent.sent) > 5  # REMBs and NACKs
    assert ours_sent.sent == theirs_sent.sent
    assert figures(ours) == figures(theirs)
    sources = {s.source for s in theirs.getSynchronizationSources()}
    assert {s.source for s in ours.getSynchronizationSources()} == sources == {SSRC, RTX_SSRC}


def test_audio_is_handled_as_aiortc_does() -> None:
    def opus(n: int) -> list[tuple[RtpPacket, int]]:
        rnd = random.Random(n)
        out = []
        for i in range(500):
            if rnd.random() < 0.05:
                continue
            p = RtpPacket(
                payload_type=111,
                sequence_number=i,
                timestamp=960 * i,
                ssrc=SSRC,
                payload=bytes([0xFC]) + rnd.randbytes(60),
            )
            p.extensions = HeaderExtensions(audio_level=(False, 30))
            out.append((p, 20 * i))
        return out

    (_, theirs_sent, theirs_frames), (_, ours_sent, ours_frames) = run_both(
        "audio", opus(1), opus(1)
    )
    frames = drained(theirs_frames)
    assert len(frames) > 300
    assert drained(ours_frames) == frames
    assert ours_sent.sent == theirs_sent.sent


def test_a_disabled_receiver_takes_nothing() -> None:
    async def main() -> None:
        r, sent, frames = receiver("video")
        r._enabled = False
        handler = PacketHandler(r, receive_path.run)
        for p, ms in packets(0)[:50]:
            handler.rtp(p, ms)
        assert frames.empty() and not sent.sent and figures(r) == ({}, (None, []))

    asyncio.run(main())


@pytest.mark.parametrize("seed", range(3))
def test_the_vp8_payload_is_aiortcs(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(5000):
        size = rnd.choice((0, 1, 2, 3, 4, 5, 6, 30))
        data = bytes(
            rnd.choice((0x00, 0x10, 0x80, 0x90, 0xFF, rnd.randrange(256))) for _ in range(size)
        )
        try:
            expected: bytes | str = vp8_depayload(data)
        except ValueError as e:
            expected = str(e)
        try:
            got: bytes | str = vp8_payload(data)
        except ValueError as e:
            got = str(e)
        assert got == expected, data


FRAME_MS = 33


def camera(frames: int, sizes: tuple[int, ...] = (3,)) -> list[tuple[RtpPacket, int]]:
    """A VP8 camera's packets and arrival times: frame ``i`` has ``sizes[i % len(sizes)]``
    packets, a keyframe (VP8's P bit clear) each 30 frames, 33 ms apart."""
    out = []
    sequence, now = 65500, 10_000  # wraps on the way
    for frame in range(frames):
        count = sizes[frame % len(sizes)]
        for i in range(count):
            descriptor = bytes([0x90 if i == 0 else 0x80, 0x80, frame & 0x7F])
            vp8 = bytes([0x00 if frame % 30 == 0 else 0x01]) if i == 0 else b""
            p = RtpPacket(
                payload_type=96,
                sequence_number=sequence,
                timestamp=3000 * frame,
                ssrc=SSRC,
                payload=descriptor + vp8 + bytes([frame & 0xFF, i]) * 20,
                marker=i == count - 1,
            )
            out.append((p, now + i))
            sequence = (sequence + 1) & 0xFFFF
        now += FRAME_MS
    return out


def rtcp_sent(transport: Transport) -> list[tuple[str, tuple[int, ...]]]:
    """("nack", lost sequence numbers) or ("pli", ()) for each NACK and PLI sent."""
    out: list[tuple[str, tuple[int, ...]]] = []
    for data in transport.sent:
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                out.append(("nack", tuple(packet.lost)))
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                out.append(("pli", ()))
    return out


def frame_numbers(frames: queue.Queue[Any]) -> list[int]:
    """The camera's frame numbers released (their timestamps count from the first)."""
    return [timestamp // 3000 for _, _, timestamp in drained(frames)]


def feed(handler: PacketHandler, traffic: list[tuple[RtpPacket, int]]) -> None:
    async def main() -> None:
        for packet, ms in traffic:
            handler.rtp(packet, ms)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_a_frame_that_did_not_decode_asks_for_a_keyframe_with_the_next_frame(kind: str) -> None:
    """aiortc's decoder thread flags a frame it could not decode; the PLI goes out with the
    next frame released (video), not at every packet's look; the flag is cleared either
    way, so one error asks once."""
    r, transport, frames = receiver(kind)
    handler = PacketHandler(r, receive_path.run)
    if kind == "video":
        traffic = camera(4)  # three packets a frame
    else:
        traffic = [
            (
                RtpPacket(
                    payload_type=111,
                    sequence_number=n,
                    timestamp=960 * n,
                    ssrc=SSRC,
                    payload=b"\xfc" + bytes([n]) * 40,
                ),
                10_000 + 20 * n,
            )
            for n in range(12)
        ]
    error = vars(r)["_RTCRtpReceiver__decoder_error"]
    feed(handler, traffic[:4])  # (video: frame 0, released, and frame 1's first packet)
    error.set()
    if kind == "video":
        feed(handler, traffic[4:5])  # frame 1's second packet: no frame released with it
        assert error.is_set() and not rtcp_sent(transport)
    feed(handler, traffic[5:] if kind == "video" else traffic[4:])
    assert not error.is_set() and not frames.empty()
    assert rtcp_sent(transport) == ([("pli", ())] if kind == "video" else [])


@pytest.mark.parametrize("lost", [0, 1], ids=["first-of-a-frame", "inside-a-frame"])
def test_a_packet_that_stays_lost_is_nacked_again_then_given_up_for_a_keyframe(
    lost: int,
) -> None:
    """Frame 10's packet is lost for good: NACKed when the hole shows and every
    NACK_AGAIN_MS after; at HOLE_WAIT_MS the buffer moves past it and a PLI goes out, so
    the frames after it come out instead of waiting for 512 more packets (aiortc: one
    NACK, then nothing for the 170 frames of this camera)."""
    r, transport, frames = receiver("video")
    handler = PacketHandler(r, receive_path.run)
    traffic = camera(60)
    gone, _ = traffic.pop(10 * 3 + lost)
    feed(handler, traffic)

    sent = rtcp_sent(transport)
    nacks = [lost for kind, lost in sent if kind == "nack"]
    assert nacks and all(lost == (gone.sequence_number,) for lost in nacks)
    waited = receive_handler.HOLE_WAIT_MS
    assert len(nacks) == 1 + (waited - 1) // receive_handler.NACK_AGAIN_MS
    assert [kind for kind, _ in sent].count("pli") == 1
    released = frame_numbers(frames)
    # every frame before the hole (the last one is only known complete when the next
    # frame's first packet comes, and goes with the hole if that is the one lost); then
    # from the moment it is given up, every frame (the first one perhaps partial, which
    # media.tap marks), not one more frame's time late
    before, after = [f for f in released if f < 10], [f for f in released if f >= 10]
    assert before == list(range(9 if lost == 0 else 10))
    assert after == list(range(after[0], 59))  # (the last one waits for a next)
    assert after[0] - 10 <= waited // FRAME_MS + 1


def test_a_hole_a_second_nack_fills_costs_no_keyframe() -> None:
    """The first retransmission is lost too; the one the NACK sent again brings is
    in time: every frame comes out, in order, and no keyframe is asked for."""
    r, transport, frames = receiver("video")
    handler = PacketHandler(r, receive_path.run)
    traffic = camera(60)
    gone, gone_at = traffic.pop(10 * 3 + 1)
    # The second NACK goes out NACK_AGAIN_MS after the first; its answer, over RTX, a
    # little after that.
    answer_at = gone_at + receive_handler.NACK_AGAIN_MS + 3 * FRAME_MS
    rtx = RtpPacket(
        payload_type=97,
        sequence_number=5000,
        timestamp=gone.timestamp,
        ssrc=RTX_SSRC,
        payload=gone.sequence_number.to_bytes(2, "big") + gone.payload,
        marker=gone.marker,
    )
    where = next(i for i, (_, ms) in enumerate(traffic) if ms > answer_at)
    traffic.insert(where, (rtx, answer_at))
    feed(handler, traffic)

    assert frame_numbers(frames) == list(range(59))  # (the last one waits for a next)
    assert [kind for kind, _ in rtcp_sent(transport)] == ["nack", "nack"]


def test_after_a_hole_is_given_up_only_newer_losses_are_asked_for() -> None:
    """Frame 10's packet is given up; frame 50's is lost later: its NACKs name it alone
    (a retransmission of the first would land far behind the buffer, where aiortc's
    starts over)."""
    r, transport, _ = receiver("video")
    handler = PacketHandler(r, receive_path.run)
    traffic = camera(80)
    second, _ = traffic.pop(50 * 3 + 1)
    first, _ = traffic.pop(10 * 3 + 1)
    feed(handler, traffic)

    nacks = [lost for kind, lost in rtcp_sent(transport) if kind == "nack"]
    firsts = [lost for lost in nacks if first.sequence_number in lost]
    assert firsts and all(lost == (first.sequence_number,) for lost in firsts)
    seconds = nacks[len(firsts) :]
    assert seconds and all(lost == (second.sequence_number,) for lost in seconds)


def test_a_hole_the_recorder_gave_up_is_not_asked_for_again() -> None:
    """The recorder moves the buffer past a hole before the handler would
    (``tap.skip_lost``, its stall check): the NACK is not sent again for it."""
    r, transport, frames = receiver("video")
    handler = PacketHandler(r, receive_path.run)
    traffic = camera(60)
    traffic.pop(10 * 3 + 1)
    given_up_at = next(i for i, (p, _) in enumerate(traffic) if p.timestamp == 3000 * 13)
    feed(handler, traffic[:given_up_at])
    assert tap.skip_lost(r)
    feed(handler, traffic[given_up_at:])

    assert [kind for kind, _ in rtcp_sent(transport)] == ["nack"]
    assert frame_numbers(frames)[-1] == 58


def test_a_link_that_loses_often_with_retransmissions_in_time_is_never_given_up() -> None:
    """One packet in nine lost, each back over RTX 150 ms later: at any moment a hole
    is open, but none for a second; every frame comes out and no keyframe is asked."""
    r, transport, frames = receiver("video")
    handler = PacketHandler(r, receive_path.run)
    traffic = camera(150)
    lost = [traffic[i] for i in range(5, len(traffic) - 20, 9)]
    kept = [t for i, t in enumerate(traffic) if not (i >= 5 and (i - 5) % 9 == 0)][:-20]
    for n, (packet, at) in enumerate(lost):
        back = RtpPacket(
            payload_type=97,
            sequence_number=6000 + n,
            timestamp=packet.timestamp,
            ssrc=RTX_SSRC,
            payload=packet.sequence_number.to_bytes(2, "big") + packet.payload,
            marker=packet.marker,
        )
        kept.append((back, at + 150))
    kept.sort(key=lambda t: t[1])
    feed(handler, kept)

    released = frame_numbers(frames)
    assert released == list(range(len(released))) and len(released) > 140
    assert "pli" not in [kind for kind, _ in rtcp_sent(transport)]


def test_a_packet_that_cannot_be_read_is_given_up_too() -> None:
    """A packet whose VP8 descriptor is cut short is dropped (as aiortc does) and leaves
    a hole no NACK asks for: given up after the wait as well."""
    r, transport, frames = receiver("video")
    handler = PacketHandler(r, receive_path.run)
    traffic = camera(60)
    broken, _ = traffic[10 * 3 + 1]
    broken.payload = b"\x80"
    feed(handler, traffic)

    assert [kind for kind, _ in rtcp_sent(transport)] == ["pli"]
    after = [f for f in frame_numbers(frames) if f > 10]
    assert after and after[0] - 10 <= receive_handler.HOLE_WAIT_MS // FRAME_MS + 1


@pytest.mark.parametrize("missing", [(0, 1, 2, 3), (4,)], ids=["the-origin", "inside"])
def test_skip_lost_and_first_hole_agree_on_what_holds_the_buffer_up(
    missing: tuple[int, ...],
) -> None:
    """Whatever ``first_hole`` names (the handler's reason to give up), ``skip_lost`` moves
    past: a buffer whose origin itself is missing, the rest one unbroken run, is held up
    as much as one with a hole inside its run."""
    r, _, _ = receiver("video")
    jitter = vars(r)["_RTCRtpReceiver__jitter_buffer"]
    packets = [p for p, _ in camera(4)]  # 4 frames of 3 packets
    origin, newest = packets[0].sequence_number, packets[-1].sequence_number
    jitter._origin = origin
    for k, packet in enumerate(packets):
        if k not in missing:
            packet._data = packet.payload  # type: ignore[attr-defined]
            jitter._packets[packet.sequence_number % jitter._capacity] = packet

    assert tap.first_hole(r, newest) == (origin + missing[0]) & 0xFFFF
    assert tap.skip_lost(r)
    assert tap.first_hole(r, newest) is None
    assert jitter._packets[jitter._origin % jitter._capacity] is not None


def test_the_receiver_reports_figures_are_aiortcs_jitter_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``count_packet`` against ``StreamStatistics.add``, on one clock: in order, reordered,
    duplicated, lost, across the sequence number's wrap."""
    from aiortc.rtcrtpreceiver import StreamStatistics

    now = [1_000_000.0]
    monkeypatch.setattr("time.time", lambda: now[0])
    rnd = random.Random(3)
    theirs, ours = StreamStatistics(90000), StreamStatistics(90000)
    sent = [
        RtpPacket(sequence_number=(65000 + i) & 0xFFFF, timestamp=(3000 * (i // 3)) & 0xFFFFFFFF)
        for i in range(3000)
    ]
    reordered = 0
    for i, p in enumerate(sent):
        roll = rnd.random()
        if roll < 0.03:
            continue  # lost
        now[0] += rnd.uniform(0, 0.02)
        if roll < 0.08 and i > 5:  # a late one (reordered, or a duplicate)
            late = sent[i - rnd.randrange(1, 5)]
            theirs.add(late)
            receive_handler.count_packet(ours, late)
            reordered += 1
        theirs.add(p)
        receive_handler.count_packet(ours, p)
        assert vars(ours) == vars(theirs)
    assert ours.cycles == 1 << 16 and ours._jitter_q4 > 0 and reordered > 50

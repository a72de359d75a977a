"""The jitter buffers of the receive path (video; audio, four frames held back) release
aiortc's frames, packet for packet, whatever arrives: losses, reordering, duplicates
(with another timestamp too), sequence jumps past the buffer, sequence wraps; and cost a
walk over each packet about once."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from media.receive_jitter import AudioJitterBuffer, VideoJitterBuffer


def packet(sequence_number: int, timestamp: int, tag: int) -> RtpPacket:
    p = RtpPacket(sequence_number=sequence_number & 0xFFFF, timestamp=timestamp & 0xFFFFFFFF)
    p._data = tag.to_bytes(4, "big")  # type: ignore[attr-defined]
    return p


def camera(seed: int, packets: int, start: int) -> Iterator[RtpPacket]:
    """Frames of 1-60 packets, as sent, then mangled on the way."""
    rnd = random.Random(seed)
    sent: list[RtpPacket] = []
    sequence, timestamp, tag = start, rnd.randrange(1 << 32), 0
    while len(sent) < packets:
        for _ in range(rnd.choice((1, 2, 3, 4, 8, 45, 60))):
            sent.append(packet(sequence, timestamp, tag))
            sequence, tag = sequence + 1, tag + 1
        timestamp += 3000
    yield from mangled(rnd, sent)


def mangled(rnd: random.Random, sent: list[RtpPacket]) -> Iterator[RtpPacket]:
    """``sent`` as it arrives: some lost, reordered, duplicated, jumped ahead."""
    i = 0
    while i < len(sent):
        roll = rnd.random()
        if roll < 0.03:  # lost
            i += 1
            continue
        if roll < 0.06 and i + 3 < len(sent):  # reordered
            sent[i], sent[i + 3] = sent[i + 3], sent[i]
        elif roll < 0.08 and i > 10:  # a duplicate or retransmission of an older one
            yield sent[i - rnd.randrange(1, 10)]
        elif roll < 0.085 and i > 10:  # a duplicate with another timestamp
            old = sent[i - rnd.randrange(1, 10)]
            yield packet(old.sequence_number, old.timestamp + 1, 10**6 + i)
        elif roll < 0.088:  # a jump: the sender's sequence moved on
            jump = rnd.choice((50, 120, 700, 40000))
            for later in sent[i:]:
                later.sequence_number = (later.sequence_number + jump) & 0xFFFF
        yield sent[i]
        i += 1


@pytest.mark.parametrize("capacity", [16, 128, 512])
@pytest.mark.parametrize("seed", range(6))
def test_every_frame_and_state_is_aiortcs(capacity: int, seed: int) -> None:
    theirs, ours = JitterBuffer(capacity, is_video=True), VideoJitterBuffer(capacity)
    # (wraps on the way)
    assert same_frames(theirs, ours, camera(seed, 6000, start=65536 - 2000 + seed)) > 50


def same_frames(theirs: JitterBuffer, ours: JitterBuffer, arriving: Iterator[RtpPacket]) -> int:
    """Feed both the same packets; every answer and state the same. The frames released."""
    released = 0
    for p in arriving:
        expected, got = theirs.add(p), ours.add(p)
        assert got[0] == expected[0]
        assert (got[1] is None) == (expected[1] is None)
        if expected[1] is not None and got[1] is not None:
            assert (got[1].data, got[1].timestamp) == (expected[1].data, expected[1].timestamp)
            released += 1
        assert ours._origin == theirs._origin
        assert ours._packets == theirs._packets
    return released


def opus(seed: int, packets: int, start: int) -> Iterator[RtpPacket]:
    """A packet a frame, mostly (sometimes two of one timestamp), mangled on the way."""
    rnd = random.Random(seed)
    sequence, timestamp = start, rnd.randrange(1 << 32)
    sent: list[RtpPacket] = []
    for tag in range(packets):
        sent.append(packet(sequence, timestamp, tag))
        sequence += 1
        if rnd.random() > 0.05:
            timestamp += 960
    yield from mangled(rnd, sent)


@pytest.mark.parametrize("seed", range(6))
def test_every_audio_frame_and_state_is_aiortcs(seed: int) -> None:
    theirs, ours = JitterBuffer(16, prefetch=4), AudioJitterBuffer(16, 4)
    # (wraps on the way)
    assert same_frames(theirs, ours, opus(seed, 6000, start=65536 - 2000 + seed)) > 4000
    # what the tap does to it after a hole (media.tap._keep_dropped_audio) goes through too
    assert ours.smart_remove(3) == theirs.smart_remove(3)
    assert ours._packets == theirs._packets and ours._origin == theirs._origin


def test_a_frame_of_many_packets_is_walked_about_once() -> None:
    steps = 0

    class Counted(list[RtpPacket | None]):
        def __getitem__(self, index):  # type: ignore[no-untyped-def]
            nonlocal steps
            steps += 1
            return super().__getitem__(index)

    ours = VideoJitterBuffer(512)
    ours._packets = Counted(ours._packets)
    for frame in range(10):
        for i in range(45):  # a keyframe's worth of packets each
            ours.add(packet(frame * 45 + i, frame * 3000, i))
    # aiortc's walk: 45 * 46 / 2 per frame; the resumed walk: a few per packet
    assert steps < 3 * 45 * 10


def test_only_aiortcs_unused_buffers_are_replaced() -> None:
    assert isinstance(VideoJitterBuffer.replacing(JitterBuffer(512, is_video=True)), JitterBuffer)
    assert VideoJitterBuffer.replacing(JitterBuffer(16, prefetch=4)) is None  # audio
    used = JitterBuffer(512, is_video=True)
    used.add(packet(1, 1, 1))
    assert VideoJitterBuffer.replacing(used) is None
    assert VideoJitterBuffer.replacing(VideoJitterBuffer(512)) is None
    assert isinstance(AudioJitterBuffer.replacing(JitterBuffer(16, prefetch=4)), JitterBuffer)
    assert AudioJitterBuffer.replacing(JitterBuffer(512, is_video=True)) is None
    assert AudioJitterBuffer.replacing(AudioJitterBuffer(16, 4)) is None

"""The audio-level note on real aiortc receivers, and the answer keeping the extension.

Packets are made as bytes with the ``ssrc-audio-level`` extension and parsed by aiortc's
own ``RtpPacket.parse`` (as its DTLS transport does) before a tapped receiver takes them.
"""

from __future__ import annotations

import re

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media.detectors.audio_level import SOUND_MAX_LEVEL, LevelNote
from media.peers import PeerFactory
from media.sources import CLOCK_PACKETS
from tests.support.rtp import OPUS_PT, Receiver, tapped_receiver
from tests.unit.media.test_peers import browser_offer, ignore

LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
# Chromium's audio header extensions (its ids; the answer must keep them as offered)
CHROMIUM_AUDIO_EXTMAPS = (
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
)


def extensions(ext_id: int) -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(ext_id, LEVEL_URI)])
    )
    return extensions


async def send(rx: Receiver, levels: list[int | None], ext_id: int = 1) -> None:
    """One Opus packet per level (None: without the extension), as bytes on the wire."""
    wire = extensions(ext_id)
    for level in levels:
        packet = RtpPacket(
            payload_type=OPUS_PT,
            marker=1,
            sequence_number=rx.seq,
            timestamp=(rx.ts0 + 960 * rx.sent) & 0xFFFFFFFF,
            ssrc=rx.ssrc,
            payload=b"\xfc" + bytes(40),
        )
        if level is not None:
            packet.extensions.audio_level = (False, level)
        parsed = RtpPacket.parse(packet.serialize(wire), wire)
        rx.seq = (rx.seq + 1) & 0xFFFF
        rx.sent += 1
        await rx.receiver._handle_rtp_packet(parsed, 0)


async def test_every_audio_packets_level_is_noted_past_the_clock_packets() -> None:
    rx = await tapped_receiver("audio", 4242, 100, 5000)
    note = rx.source.levels
    assert isinstance(note, LevelNote)
    await send(rx, [30] * CLOCK_PACKETS)  # the clock's own packets, and beyond
    await send(rx, [127] * 300 + [None] * 10 + [SOUND_MAX_LEVEL, SOUND_MAX_LEVEL + 1])
    assert note.packets == CLOCK_PACKETS + 302
    assert note.loud == CLOCK_PACKETS + 1
    assert note.last_loud_at is not None
    assert rx.source.frames_received > CLOCK_PACKETS  # the frames still flow


async def test_video_tracks_note_no_levels() -> None:
    rx = await tapped_receiver("video", 4243, 100, 5000)
    assert rx.source.levels is None


def audio_extmaps(sdp: str) -> list[str]:
    audio = sdp.split("m=audio", 1)[1].split("m=video", 1)[0]
    return re.findall(r"a=extmap:\d+ \S+", audio)


async def test_the_answer_keeps_the_audio_level_extension_for_aiortc_and_browsers() -> None:
    aiortc_offer = await browser_offer()
    assert "a=extmap:2 " + LEVEL_URI in audio_extmaps(aiortc_offer)
    chromium_offer = re.sub(
        r"(m=audio[^\r]*\r\n(?:(?!m=)[^\r]*\r\n)*?)((?:a=extmap:[^\r]*\r\n)+)",
        lambda m: m.group(1) + CHROMIUM_AUDIO_EXTMAPS,
        aiortc_offer,
        count=1,
    )
    assert "a=extmap:1 " + LEVEL_URI in audio_extmaps(chromium_offer)
    for offer, ext_id in ((aiortc_offer, 2), (chromium_offer, 1)):
        pc, answer = await PeerFactory().answer(offer, "peer-x", ignore)
        try:
            assert f"a=extmap:{ext_id} {LEVEL_URI}" in audio_extmaps(answer)
        finally:
            await pc.close()

"""What the audio-level note costs per packet: ``python -m bench.audio_levels``.

Real aiortc audio receivers, tapped as the server taps them (:func:`media.tap.install`),
are handed the same Opus RTP packets (each with the ``ssrc-audio-level`` extension, as
browsers send them) through ``RTCRtpReceiver._handle_rtp_packet``, the whole per-packet
path: one receiver with the level note (``TrackSource.levels``), one without it (the
server before issue #13: after its first :data:`media.sources.CLOCK_PACKETS` packets
nothing of ours ran per packet). The figure is the loop thread's CPU time
(``time.thread_time``), not wall time, over several alternating rounds; prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtpPacket

from media import tap
from media.sources import TrackSource

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
SAMPLES = 960  # 20 ms at 48 kHz: one packet
PAYLOAD = bytes(80)  # an Opus packet's size at ~32 kbit/s (never decoded)


class _Transport:
    state = "new"

    async def _send_rtp(self, data: bytes) -> None:
        pass

    def _register_rtp_receiver(self, receiver: object, parameters: object) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver: object) -> None:
        pass


async def _receiver(with_levels: bool) -> RTCRtpReceiver:
    receiver = RTCRtpReceiver("audio", _Transport())  # type: ignore[arg-type]
    receiver._track = RemoteStreamTrack(kind="audio")
    source = TrackSource("audio", receiver, "bench")
    if not with_levels:
        source.levels = None
    tap.install(receiver, source)
    await receiver.receive(
        RTCRtpReceiveParameters(
            codecs=[OPUS], encodings=[RTCRtpDecodingParameters(ssrc=1, payloadType=111)]
        )
    )
    return receiver


def _packets(count: int, first: int) -> list[RtpPacket]:
    out = []
    for i in range(first, first + count):
        packet = RtpPacket(
            payload_type=111,
            marker=1,
            sequence_number=i & 0xFFFF,
            timestamp=(i * SAMPLES) & 0xFFFFFFFF,
            ssrc=1,
            payload=PAYLOAD,
        )
        packet.extensions.audio_level = (False, 30 if i % 100 < 50 else 127)
        out.append(packet)
    return out


async def _feed(receiver: RTCRtpReceiver, packets: list[RtpPacket]) -> float:
    """CPU seconds of the loop thread to handle ``packets``."""
    start = time.thread_time()
    for packet in packets:
        await receiver._handle_rtp_packet(packet, 0)
    return time.thread_time() - start


async def measure(packets: int, rounds: int) -> dict[str, Any]:
    plain, noted = await _receiver(False), await _receiver(True)
    warm = _packets(1000, 0)  # past CLOCK_PACKETS: the clock note has let go
    await _feed(plain, warm)
    await _feed(noted, warm)
    before: list[float] = []
    after: list[float] = []
    first = 1000
    for _ in range(rounds):
        batch = _packets(packets, first)
        first += packets
        before.append(await _feed(plain, batch) / packets)
        after.append(await _feed(noted, batch) / packets)
    b, a = statistics.median(before), statistics.median(after)
    return {
        "packets_per_round": packets,
        "rounds": rounds,
        "before_us_per_packet": round(b * 1e6, 3),
        "after_us_per_packet": round(a * 1e6, 3),
        "note_us_per_packet": round((a - b) * 1e6, 3),
        "note_share_of_a_core_per_stream": round((a - b) * 50, 8),  # 50 packets/s (20 ms)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.packets, args.rounds)), indent=2))


if __name__ == "__main__":
    main()

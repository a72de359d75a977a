"""The direct receive path (media/receive_path.py) between real aiortc peers: packets
reach aiortc without aioice's queue, and loss recovery still works through it.

The client's sender drops one video packet in 25 (not retransmissions): each one is
asked for again by the server's NACK and comes back over RTX, and every picture is
recorded, in order, in one segment, in step with the sound. Every packet is read by
aiortc's own RTP parser too, and must read the same for the path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

from media import receive_path, receive_rtp
from tests.integration.test_recording_loss import check_segments, until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client
from tests.unit.media.test_receive_rtp import what_the_path_reads
from web.keys import HUB


class SparseLoss:
    """Drops every ``every``-th packet of ``sender``'s own stream (not its RTX stream)
    before SRTP, and counts what goes out on the RTX stream."""

    def __init__(self, pc: RTCPeerConnection, sender: RTCRtpSender, every: int) -> None:
        self.on = False
        self.dropped = 0
        self.retransmitted = 0
        self._seen = 0
        self._every = every
        self._ssrc = sender._ssrc.to_bytes(4, "big")
        self._rtx_ssrc = sender._rtx_ssrc.to_bytes(4, "big")
        for transport in {s.transport for s in pc.getSenders()}:
            transport._send_rtp = self._wrap(transport._send_rtp)  # type: ignore[method-assign,assignment]

    def _wrap(self, send: Callable[[bytes], Awaitable[None]]) -> Callable[[bytes], Any]:
        async def lossy(data: bytes) -> None:
            rtcp = 192 <= data[1] <= 208
            if not rtcp and data[8:12] == self._rtx_ssrc:
                self.retransmitted += 1
            elif self.on and not rtcp and data[8:12] == self._ssrc:
                self._seen += 1
                if self._seen % self._every == 0:
                    self.dropped += 1
                    return
            await send(data)

        return lossy


async def test_packets_lost_on_the_way_are_asked_for_again_and_every_picture_is_recorded(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = 0
    run = receive_path.run

    def counted(coro: Coroutine[Any, Any, None]) -> None:
        nonlocal direct
        direct += 1
        run(coro)

    monkeypatch.setattr(receive_path, "run", counted)
    # every real packet of the call read by aiortc's parser too: the same for the path
    compared = 0
    parse = receive_rtp.parse

    def compare(data: bytes, ids: HeaderExtensions) -> RtpPacket:
        nonlocal compared
        ours = parse(data, ids)
        mapping = HeaderExtensionsMap()
        mapping._HeaderExtensionsMap__ids = ids  # type: ignore[attr-defined]
        assert what_the_path_reads(ours) == what_the_path_reads(RtpPacket.parse(data, mapping))
        compared += 1
        return ours

    monkeypatch.setattr(receive_rtp, "parse", compare)
    video = SyntheticVideo(mark_at=4.0)
    audio = SyntheticAudio(mark_at=4.0)
    hub = server.app[HUB]
    async with connected_client(server) as client:
        session_id, pc = await client.publish([video, audio])
        [sender] = [s for s in pc.getSenders() if s.track is video]
        loss = SparseLoss(pc, sender, every=25)
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        recorder = hub._takes[take["take_id"]]["primary"]
        await until(lambda: recorder._current is not None, 10, "the first segment")
        loss.on = True
        await until(lambda: loss.dropped >= 20, 30, "twenty packets dropped")
        loss.on = False
        await until(lambda: video.frames_sent / 30 >= 5.0, 30, "the mark")
        # every dropped packet asked for and sent again (a NACK may repeat one)
        await until(lambda: loss.retransmitted >= loss.dropped, 10, "the retransmissions")
        stored: dict[str, Any] = await client.call("stop_take", {"take_id": take["take_id"]})
    assert direct > 0, "no packet took the direct receive path"
    assert compared > 150, compared
    manifest = stored["manifest"]
    assert [s["reason"] for s in manifest["segments"]] == ["start"], manifest["segments"]
    assert manifest["gaps"] == []
    # every picture, in order, in step with the sound (decoding: not on the loop)
    await asyncio.to_thread(check_segments, server, stored)

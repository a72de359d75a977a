"""ice_host_addresses_only: the server offers the addresses it was given and none of the
machine's interfaces, so a connection is never nominated on a network that comes and goes.

The veth link of :mod:`tests.support.netns` stands in for such a network (another test's,
a VPN tunnel, a Docker bridge): its server end's address is on this machine, so aioice
offers it like any interface's, and ICE nominated it over loopback. A connection
nominated on it lost its media, with the peers still "connected", when the link was
removed (seen as a take that recorded nothing in
full runs, where another worker's browser tests make and remove such links).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media import ice
from media.peers import PeerFactory, close_quietly
from media.sources import TrackSource
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.netns import veth_pair


def candidate_addresses(sdp: str) -> set[str]:
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
    return set(re.findall(r"a=candidate:\S+ \d \S+ \d+ (\S+) \d+ typ", sdp))


@pytest.fixture
def restore_addresses() -> Iterator[None]:
    before, only = ice.offered_host_addresses()
    yield
    ice.offer_host_addresses(before, only=only)


@pytest.mark.usefixtures("restore_addresses")
async def test_only_the_given_addresses_are_offered_and_media_outlives_another_network() -> None:
    with veth_pair() as link:
        ice.offer_host_addresses(("127.0.0.1",))
        other = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        other.addTransceiver(SyntheticVideo(), direction="sendonly")
        await other.setLocalDescription(await other.createOffer())
        assert link.server_ip in candidate_addresses(other.localDescription.sdp)  # the rig
        await close_quietly(other)

        ice.offer_host_addresses(("127.0.0.1",), only=True)
        client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        client.addTransceiver(SyntheticVideo(), direction="sendonly")
        client.addTransceiver(SyntheticAudio(), direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        sources: list[TrackSource] = []
        server, answer = await PeerFactory().answer(
            client.localDescription.sdp, "peer-1", sources.extend
        )
        try:
            assert candidate_addresses(client.localDescription.sdp) == {"127.0.0.1"}
            assert candidate_addresses(answer) == {"127.0.0.1"}
            await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await wait_until(lambda: server.connectionState == "connected", 30, "connected")
            await wait_until(lambda: len(sources) == 2, 10, "both tracks")
            [video] = [s for s in sources if s.kind == "video"]
            await wait_until(lambda: video.frames_received >= 10, 10, "frames")

            link.remove()  # the other network goes away mid-call
            received = video.frames_received
            await wait_until(
                lambda: video.frames_received >= received + 30, 10, "frames after it went"
            )
        finally:
            await close_quietly(client)
            await close_quietly(server)

"""udp_ports: every ICE socket of a real aiortc peer is bound inside the range, and a full
range refuses the negotiation at once (busy) instead of answering with no candidate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media import ice
from media.peers import PeerFactory, close_quietly
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo

# Below the kernel's ephemeral range (32768-60999), apart per process (parallel workers).
BASE = 20000 + (os.getpid() % 400) * 25


def candidate_ports(sdp: str) -> list[int]:
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
    return [int(m) for m in re.findall(r"a=candidate:\S+ \d \S+ \d+ \S+ (\d+) typ", sdp)]


@pytest.fixture
def ports() -> Iterator[ice.PortRange]:
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    chosen = ice.PortRange(BASE, BASE + 9)
    ice.use_udp_ports(chosen)
    try:
        yield chosen
    finally:
        ice.use_udp_ports(None)


@contextlib.asynccontextmanager
async def client_peer() -> AsyncIterator[RTCPeerConnection]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver(SyntheticVideo(), direction="sendonly")
        pc.addTransceiver(SyntheticAudio(), direction="sendonly")
        yield pc
    finally:
        await close_quietly(pc)


async def test_every_local_candidate_of_a_connected_peer_is_inside_the_range(
    ports: ice.PortRange,
) -> None:
    async with client_peer() as client:
        await client.setLocalDescription(await client.createOffer())
        offer = client.localDescription.sdp
        server, answer = await PeerFactory().answer(offer, "peer-1", lambda sources: None)
        try:
            await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await wait_until(
                lambda: server.connectionState == client.connectionState == "connected",
                30,
                "connected",
            )
            used = candidate_ports(offer) + candidate_ports(answer)
            assert used and all(port in ports for port in used), (used, str(ports))
            # and the sockets the media actually flows through
            for pc in (server, client):
                for transceiver in pc.getTransceivers():
                    transport = transceiver.receiver.transport or transceiver.sender.transport
                    connection = transport.transport.iceGatherer._connection
                    for protocol in connection._protocols:
                        assert protocol.transport.get_extra_info("sockname")[1] in ports
        finally:
            await close_quietly(server)


def occupy(ports: ice.PortRange) -> list[socket.socket]:
    """Bind every port of the range on every address (the wildcard blocks the others)."""
    held = []
    for family, any_address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for port in range(ports.first, ports.last + 1):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((any_address, port))
            except OSError:
                sock.close()
                if family == socket.AF_INET:
                    raise
                continue
            held.append(sock)
    return held


async def test_a_full_range_refuses_the_offer_as_busy_and_lets_the_peer_go(
    ports: ice.PortRange,
) -> None:
    ice.use_udp_ports(None)  # the client's own offer is made outside the range
    async with client_peer() as client:
        await client.setLocalDescription(await client.createOffer())
        offer = client.localDescription.sdp
    ice.use_udp_ports(ports)
    held = occupy(ports)
    try:
        with pytest.raises(ice.UdpPortsFull) as refused:
            await asyncio.wait_for(PeerFactory().answer(offer, "peer-2", lambda s: None), 30)
        assert refused.value.code == "busy"
        assert str(ports) in refused.value.message
        for sock in held[:1]:  # one port freed: the next offer gets it
            sock.close()
        server, answer = await PeerFactory().answer(offer, "peer-3", lambda s: None)
        try:
            assert set(candidate_ports(answer)) == {ports.first}
        finally:
            await close_quietly(server)
    finally:
        for sock in held:
            sock.close()


def test_bind_in_range_takes_a_free_port_and_names_a_full_range() -> None:
    small = ice.PortRange(BASE + 20, BASE + 21)
    first = ice.bind_in_range("127.0.0.1", small)
    second = ice.bind_in_range("127.0.0.1", small)
    try:
        got = {first.getsockname()[1], second.getsockname()[1]}
        assert got == {small.first, small.last}
        with pytest.raises(OSError, match=f"every UDP port of {small} is in use on 127.0.0.1"):
            ice.bind_in_range("127.0.0.1", small)
    finally:
        first.close()
        second.close()


def test_port_ranges_are_read_strictly() -> None:
    assert ice.PortRange.parse("40000-40199") == ice.PortRange(40000, 40199)
    assert len(ice.PortRange.parse("40000-40199")) == 200
    for bad in ("40000", "40199-40000", "80-90", "a-b", "40000-70000"):
        with pytest.raises(ValueError):
            ice.PortRange.parse(bad)


def test_without_a_range_aioice_is_left_as_it_was() -> None:
    ice.use_udp_ports(ice.PortRange(BASE, BASE + 1))
    ice.use_udp_ports(None)
    assert aioice.ice.asyncio is asyncio
    assert ice.udp_ports() is None

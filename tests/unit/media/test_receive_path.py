"""The direct receive path depends on aiortc/aioice internals: fail loudly when they move;
and the handlers it runs by hand finish as a task would run them."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.clock import current_ms
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from media import ice, receive_path
from media.peers import PeerFactory
from tests.support.media import SyntheticVideo
from tests.support.server import wait_for
from tests.unit.media.test_peers import ignore


def test_installed_aiortc_and_aioice_have_what_the_receive_path_needs() -> None:
    receive_path.check_compatible()  # raises ReceivePathUnavailable with the reason otherwise


def test_a_different_aioice_minor_version_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receive_path.aioice, "__version__", "0.99.0")
    with pytest.raises(receive_path.ReceivePathUnavailable, match=r"written for aioice 0\.13"):
        receive_path.check_compatible()


def test_a_moved_protocol_hook_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(receive_path.aioice.ice.StunProtocol, "datagram_received")
    with pytest.raises(receive_path.ReceivePathUnavailable, match="datagram_received"):
        receive_path.check_compatible()


def test_a_renamed_counter_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receive_path, "_RX_PACKETS", "_RTCDtlsTransport__rx_datagrams")
    with pytest.raises(receive_path.ReceivePathUnavailable, match="rx_datagrams"):
        receive_path.check_compatible()


def test_a_moved_receiver_attribute_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = RTCRtpReceiver.__init__

    def changed(self: RTCRtpReceiver, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        del self._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]

    monkeypatch.setattr(RTCRtpReceiver, "__init__", changed)
    with pytest.raises(receive_path.ReceivePathUnavailable, match="nack_generator"):
        receive_path.check_compatible()


def test_arrival_times_are_aiortcs_milliseconds() -> None:
    for _ in range(1000):
        before = current_ms()
        now = receive_path.arrival_ms()
        assert before <= now <= current_ms()


async def test_a_handler_that_must_wait_is_finished_by_a_task() -> None:
    """aiortc's handlers only wait when sending RTCP must (a TURN channel being bound)."""
    done: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        done.append("started")
        done.append(await gate)
        await asyncio.sleep(0)
        done.append("after a bare yield")

    async def quick() -> None:
        done.append("quick")

    receive_path.run(waits())
    receive_path.run(quick())
    assert done == ["started", "quick"]  # the quick one is not held up
    gate.set_result("resumed")
    await wait_for(lambda: len(done) == 4, 5, "the task")
    assert done[2:] == ["resumed", "after a bare yield"]


async def test_a_cancelled_wait_reaches_the_handler() -> None:
    seen: list[str] = []
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    receive_path.run(waits())
    gate.cancel()
    await wait_for(lambda: seen == ["cancelled"], 5, "the cancellation")


async def test_a_failing_handler_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise ValueError("bad packet")

    receive_path.run(fails())
    assert "handling a received packet failed" in caplog.text


def _rmem_max() -> int:
    return int(Path("/proc/sys/net/core/rmem_max").read_text())


async def test_each_camera_socket_asks_for_the_configured_receive_buffer() -> None:
    """A real answer's ICE sockets get the configured buffer (the kernel's default holds
    under a second of a camera), as far as ``rmem_max`` lets them."""
    before, only = ice.offered_host_addresses()
    ice.offer_host_addresses(("127.0.0.1",), only=True)  # the test namespace has only loopback
    size = 512 * 1024
    client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    client.addTransceiver(SyntheticVideo(), direction="sendonly")
    await client.setLocalDescription(await client.createOffer())
    server, _ = await PeerFactory(receive_buffer_kb=size // 1024).answer(
        client.localDescription.sdp, "peer-b", ignore
    )
    try:
        [dtls] = {t.receiver.transport for t in server.getTransceivers()}
        protocols = dtls.transport._connection._protocols
        assert protocols
        for protocol in protocols:
            sock = protocol.transport.get_extra_info("socket")
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
            assert granted == min(size, _rmem_max())
    finally:
        await client.close()
        await server.close()
        ice.offer_host_addresses(before, only=only)


async def test_a_buffer_past_the_kernels_limit_is_capped_and_said_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receive_path, "_narrow_logged", False)
    loop = asyncio.get_running_loop()
    local = ("127.0.0.1", 0)
    transports = [
        (await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=local))[0]
        for _ in range(2)
    ]
    try:
        asked = _rmem_max() + 64 * 1024
        with caplog.at_level(logging.WARNING, logger="media.receive_path"):
            granted = [receive_path.widen(t, asked) for t in transports]
        assert granted == [_rmem_max()] * 2
        [warning] = [r.getMessage() for r in caplog.records]
        assert "net.core.rmem_max" in warning
    finally:
        for t in transports:
            t.close()

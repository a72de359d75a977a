"""TURN for candidates behind strict networks: the server issues coturn's time-limited REST
credentials to each page, and a real coturn accepts them (and nothing else)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun, turn
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from media import ice
from media.peers import PeerFactory, close_quietly
from media.turn import TurnCredentials, rest_password
from tests.support import coturn
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import connected_client, running_server, server_settings, wait_for
from web.settings import SettingsError, load


def test_credentials_follow_coturns_rest_scheme() -> None:
    made = TurnCredentials(
        ("stun:turn.example:3478", "turn:turn.example:3478?transport=udp"),
        "s3cret",
        600,
        lambda: 1_699_999_400.7,
    ).ice_servers("acc-1")
    assert made == [
        {"urls": ["stun:turn.example:3478"]},
        {
            "urls": ["turn:turn.example:3478?transport=udp"],
            "username": "1700000000:acc-1",
            # coturn's documented recipe: echo -n "$user" | openssl dgst -sha1 -hmac "$secret"
            # -binary | base64
            "credential": "b/W7j9Nvu3QHGKibicWpbnEzOcQ=",
        },
    ]
    assert rest_password("s3cret", "1700000000:acc-1") == made[1]["credential"]
    assert TurnCredentials((), "s3cret", 600, time.time).ice_servers("acc-1") == []


@pytest.fixture
def turn_server(tmp_path: Path) -> Iterator[coturn.Coturn]:
    if not coturn.available():
        pytest.skip("no turnserver (scripts/setup --test installs coturn)")
    with coturn.running_coturn(tmp_path) as running:
        yield running


async def allocate(server: coturn.Coturn, username: str, password: str) -> tuple[str, int]:
    """A TURN allocation on ``server``: the relayed address, or TransactionFailed."""
    transport, _ = await asyncio.wait_for(
        turn.create_turn_endpoint(
            asyncio.DatagramProtocol,
            server_addr=("127.0.0.1", server.port),
            username=username,
            password=password,
            transport="udp",
        ),
        20,
    )
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()


async def test_coturn_relays_with_the_issued_credentials_and_refuses_others(
    turn_server: coturn.Coturn,
) -> None:
    def issued(secret: str, clock: float) -> dict[str, str]:
        servers = TurnCredentials((turn_server.url,), secret, 600, lambda: clock)
        return servers.ice_servers("acc-1")[0]

    good = issued(turn_server.secret, time.time())
    host, _port = await allocate(turn_server, good["username"], good["credential"])
    assert host == "127.0.0.1"
    refused = [
        issued("another-secret", time.time()),  # not coturn's secret
        issued(turn_server.secret, time.time() - 3600),  # expired an hour ago (600 s ttl)
    ]
    for creds in refused:
        with pytest.raises(stun.TransactionFailed) as failed:
            await allocate(turn_server, creds["username"], creds["credential"])
        assert failed.value.response.attributes["ERROR-CODE"][0] == 401


async def test_a_peer_allowed_only_relays_reaches_the_server_through_coturn(
    turn_server: coturn.Coturn,
) -> None:
    """A page behind a network that lets nothing but TURN through: its candidates are all
    relayed, and the server's aiortc peer (the public side, host candidates) is reached."""
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    creds = TurnCredentials((turn_server.url,), turn_server.secret, 600, time.time)
    [server_entry] = creds.ice_servers("acc-1")
    client = RTCPeerConnection(
        RTCConfiguration(
            iceServers=[
                RTCIceServer(
                    urls=server_entry["urls"],
                    username=server_entry["username"],
                    credential=server_entry["credential"],
                )
            ],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )
    try:
        client.addTransceiver(SyntheticVideo(), direction="sendonly")
        client.addTransceiver(SyntheticAudio(), direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        offer = client.localDescription.sdp
        assert " typ relay" in offer and " typ host" not in offer
        server, answer = await PeerFactory().answer(offer, "peer-relay", lambda sources: None)
        try:
            await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await wait_for(
                lambda: server.connectionState == client.connectionState == "connected",
                30,
                "a connection through coturn",
            )
        finally:
            await close_quietly(server)
    finally:
        await close_quietly(client)


async def test_open_session_gives_the_page_fresh_turn_credentials(tmp_path: Path) -> None:
    settings = server_settings(
        tmp_path / "data",
        turn_urls=("turn:turn.example:3478?transport=udp", "turns:turn.example:5349"),
        turn_secret="s3cret",
        turn_ttl_s=7200,
    )
    async with running_server(settings) as server, connected_client(server) as candidate:
        async with candidate.http.get(server.url + "/api/me") as response:
            me = (await response.json())["account"]["id"]
        opened = await candidate.call("open_session", {"role": "primary"})
        [entry] = opened["ice_servers"]
        expiry, account = entry["username"].split(":", 1)
        assert account == me
        assert int(expiry) == int(server.now()) + 7200  # the server's clock
        assert entry["urls"] == ["turn:turn.example:3478?transport=udp", "turns:turn.example:5349"]
        assert entry["credential"] == rest_password("s3cret", entry["username"])
        # a resumed session (after a reconnect) gets credentials too, counted from now
        server.advance(60)
        resumed = await candidate.call(
            "open_session", {"role": "primary", "resume": opened["session_id"]}
        )
        assert resumed["ice_servers"][0]["username"] == f"{int(expiry) + 60}:{me}"


async def test_without_turn_the_pages_get_no_ice_servers(tmp_path: Path) -> None:
    async with (
        running_server(server_settings(tmp_path / "data")) as server,
        connected_client(server) as candidate,
    ):
        opened = await candidate.call("open_session", {"role": "primary"})
        assert opened["ice_servers"] == []


def test_a_turn_url_without_the_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="turn_secret"):
        load({"turn_urls": "turn:turn.example:3478"}, env={})
    with pytest.raises(SettingsError, match="turn_urls"):
        load({"turn_urls": "http://turn.example", "turn_secret": "s"}, env={})
    with pytest.raises(SettingsError, match="udp_ports"):
        load({"udp_ports": "40199-40000"}, env={})
    assert load({"turn_urls": "stun:turn.example:3478"}, env={}).turn_urls == (
        "stun:turn.example:3478",
    )

"""Every message is validated; a bad one gets the HTTP error shape and the connection lives on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from aiortc import RTCConfiguration, RTCPeerConnection

from signaling import messages
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client, socket_connect

ERROR_KEYS = {"code", "message"}


def assert_error(ack: Any, code: str) -> None:
    assert isinstance(ack, dict) and set(ack) == {"error"}, ack
    assert ERROR_KEYS <= set(ack["error"]) <= ERROR_KEYS | {"details"}, ack
    assert ack["error"]["code"] == code, ack
    assert ack["error"]["message"]


async def real_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SyntheticVideo(), direction="sendonly")
    pc.addTransceiver(SyntheticAudio(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


BAD_MESSAGES: list[tuple[str, Any, str]] = [
    ("open_session", None, "invalid_input"),
    ("open_session", "primary", "invalid_input"),
    ("open_session", [], "invalid_input"),
    ("open_session", {}, "invalid_input"),
    ("open_session", {"role": 5}, "invalid_input"),
    ("open_session", {"role": True}, "invalid_input"),
    ("open_session", {"role": "proctor"}, "invalid_input"),
    ("open_session", {"role": "primary", "extra": 1}, "invalid_input"),
    ("open_session", {"role": "primary", "resume": "x" * 65}, "too_large"),
    ("offer", {"session_id": "s", "type": "answer", "sdp": "v=0"}, "invalid_input"),
    ("offer", {"session_id": "s", "type": "offer", "sdp": 42}, "invalid_input"),
    ("offer", {"session_id": "", "type": "offer", "sdp": "v=0"}, "invalid_input"),
    ("start_take", {"session_id": "nope", "purpose": "device_check"}, "not_found"),
    ("start_take", {"session_id": "nope", "purpose": "formal"}, "invalid_input"),
    ("stop_take", {"take_id": "nope"}, "not_found"),
    ("stop_take", {"take_id": {"$ne": 1}}, "invalid_input"),
    ("no_such_event", {}, "invalid_input"),
]


@pytest.mark.parametrize("event,data,code", BAD_MESSAGES)
async def test_bad_messages_are_refused_and_the_connection_stays_usable(
    server: RunningServer, event: str, data: Any, code: str
) -> None:
    async with connected_client(server) as client:
        assert_error(await client.call(event, data), code)
        opened = await client.call("open_session", {"role": "primary"})
        assert opened["session_id"]


SDP_CASES = [
    ("v=0\r\nthis is not sdp\r\n", "invalid_input"),
    ("", "invalid_input"),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "invalid_input"),
    ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n" * 3, "invalid_input"),
]


@pytest.mark.parametrize("sdp,code", SDP_CASES)
async def test_malformed_sdp_is_refused(server: RunningServer, sdp: str, code: str) -> None:
    async with connected_client(server) as client:
        session = await client.call("open_session", {"role": "primary"})
        ack = await client.call(
            "offer", {"session_id": session["session_id"], "type": "offer", "sdp": sdp}
        )
        assert_error(ack, code)
        # A good offer on the same session still works.
        _, pc = await client.publish([SyntheticVideo()], session_id=session["session_id"])
        assert pc.connectionState == "connected"


async def test_oversized_sdp_is_refused(server: RunningServer) -> None:
    offer = await real_offer()
    padded = offer + "a=x-padding:" + "p" * (server.settings.max_sdp_bytes + 1) + "\r\n"
    async with connected_client(server) as client:
        session = await client.call("open_session", {"role": "primary"})
        ack = await client.call(
            "offer", {"session_id": session["session_id"], "type": "offer", "sdp": padded}
        )
        assert_error(ack, "too_large")
        assert (await client.call("open_session", {"role": "primary"}))["session_id"]


async def test_offers_that_cannot_be_recorded_are_refused(server: RunningServer) -> None:
    offer = await real_offer()
    vp8_only = offer.replace("VP8/90000", "XYZ/90000").replace("H264/90000", "XYZ/90000")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("chat")
    await pc.setLocalDescription(await pc.createOffer())
    data_only = pc.localDescription.sdp
    await pc.close()
    async with connected_client(server) as client:
        session = await client.call("open_session", {"role": "primary"})
        for sdp in (vp8_only, data_only):
            ack = await client.call(
                "offer", {"session_id": session["session_id"], "type": "offer", "sdp": sdp}
            )
            assert_error(ack, "invalid_input")


async def test_another_persons_session_is_not_found(server: RunningServer) -> None:
    offer = await real_offer()
    async with connected_client(server) as alice, connected_client(server) as bob:
        session_id, _ = await alice.publish([SyntheticVideo(), SyntheticAudio()])
        ack = await bob.call("offer", {"session_id": session_id, "type": "offer", "sdp": offer})
        assert_error(ack, "not_found")
        ack = await bob.call("start_take", {"session_id": session_id, "purpose": "device_check"})
        assert_error(ack, "not_found")
        assert_error(
            await bob.call("open_session", {"role": "primary", "resume": session_id}), "not_found"
        )
        take = await alice.call("start_take", {"session_id": session_id, "purpose": "device_check"})
        assert_error(await bob.call("stop_take", {"take_id": take["take_id"]}), "not_found")
        async with bob.http.get(f"{server.url}/api/takes/{take['take_id']}") as response:
            assert response.status == 404
        await server.recorded(take["take_id"], 0.3)  # some media to store
        assert (await alice.call("stop_take", {"take_id": take["take_id"]}))["state"] == "stored"


async def test_a_socket_without_a_session_cookie_is_refused(server: RunningServer) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await socket_connect(sio, server.url)


async def test_http_errors_have_the_same_shape(server: RunningServer) -> None:
    async with connected_client(server) as client:
        async with client.http.get(f"{server.url}/api/takes/does-not-exist") as response:
            assert response.status == 404
            assert_error(await response.json(), "not_found")
        async with client.http.get(f"{server.url}/api/nothing-here") as response:
            assert response.status == 404
            assert_error(await response.json(), "not_found")
        async with client.http.get(f"{server.url}/api/takes/x/segments/0") as response:
            assert_error(await response.json(), "not_found")
        socket_ack = await client.call("stop_take", {"take_id": "does-not-exist"})
        assert_error(socket_ack, "not_found")


def test_every_event_is_documented() -> None:
    with open("docs/signaling.md", encoding="utf-8") as f:
        doc = f.read()
    for event in [*messages.CLIENT_EVENTS, *messages.SERVER_EVENTS]:
        assert f"### `{event}`" in doc, f"{event} is not documented in docs/signaling.md"
    for event, fields in messages.CLIENT_EVENTS.items():
        section = doc.split(f"### `{event}`", 1)[1].split("###", 1)[0]
        for field in fields:
            assert f"`{field.name}`" in section, f"{event}.{field.name} is not documented"


def test_every_handler_has_a_message_schema() -> None:
    from signaling.server import MediaNamespace

    handled = {name[len("handle_") :] for name in dir(MediaNamespace) if name.startswith("handle_")}
    assert handled == set(messages.CLIENT_EVENTS)


async def test_a_message_flood_is_refused_and_the_connection_recovers(
    server: RunningServer,
) -> None:
    async with connected_client(server) as client:
        acks = await asyncio.gather(
            *(client.call("stop_take", {"take_id": f"t{i}"}) for i in range(80))
        )
        codes = [ack["error"]["code"] for ack in acks]
        assert codes.count("rate_limited") >= 40
        assert codes.count("not_found") >= 30
        server.advance(0.5)  # the budget refills on the server's clock
        assert (await client.call("open_session", {"role": "primary"}))["session_id"]

"""Consent freshness (media/consent.py) between real aiortc peers: a camera whose consent
answers come late, or not at all while its media keeps coming, stays connected and
recorded; one that vanishes is closed once consent expires.

aioice's own checks give each answer 0.5 s and close the connection after six late or
missing ones in a row: the first two tests fail with them (``Consent.keep`` made to run
aioice's ``query_consent``). Times are shortened by setting the modules' constants, not
waited out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aioice.ice
import pytest
from aioice import stun
from aiortc import RTCConfiguration, RTCPeerConnection

from media import consent, ice
from media.hub import MediaSession
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client
from web.keys import HUB

LATE_S = 0.7  # later than aioice's one wait (stun.RETRY_RTO, 0.5 s), before the next check


class ConsentAnswers:
    """In front of the client's STUN request handler: the server's consent checks are
    answered ``late_s`` late, or never (None). ``checks``: their transaction ids."""

    def __init__(self, pc: RTCPeerConnection, late_s: float | None) -> None:
        self.checks: set[bytes] = set()
        self._late_s = late_s
        self._connection = _connection(pc)
        self._answer = self._connection.request_received
        self._connection.request_received = self._received  # type: ignore[method-assign]

    def _received(self, message: stun.Message, addr: tuple[str, int], protocol: Any) -> None:
        self.checks.add(message.transaction_id)
        if self._late_s is not None:
            asyncio.get_running_loop().call_later(
                self._late_s, self._answer, message, addr, protocol
            )


def _connection(pc: RTCPeerConnection) -> aioice.ice.Connection:
    [connection] = {t.receiver.transport.transport._connection for t in pc.getTransceivers()}
    return connection


async def server_side(
    server: RunningServer, session_id: str
) -> tuple[MediaSession, consent.Consent]:
    """The camera's media session on the server, once its peer connection is connected
    there too, and the consent of its ICE connection."""
    session = server.app[HUB].get(session_id)
    assert session is not None
    peer = session.peer
    assert peer is not None
    await wait_until(lambda: peer.connectionState == "connected", 10, "connected at the server")
    watch = getattr(_connection(peer).query_consent, "__self__", None)
    assert isinstance(watch, consent.Consent), "the server's consent checks are aioice's"
    return session, watch


async def until_checked_or_dropped(
    session: MediaSession, answers: ConsentAnswers, checks: int
) -> None:
    """Wait for the server's ``checks``-th consent check; its camera must stay connected."""
    peer = session.peer
    assert peer is not None
    await wait_until(
        lambda: len(answers.checks) >= checks or peer.connectionState != "connected",
        60,
        f"{checks} consent checks",
    )
    assert peer.connectionState == "connected", (
        f"the server dropped the camera after {len(answers.checks)} consent checks"
    )


def short_checks(monkeypatch: pytest.MonkeyPatch, interval_s: float, expiry_s: float) -> None:
    """Checks every ``interval_s`` (ours and aioice's alike), consent for ``expiry_s``."""
    monkeypatch.setattr(consent, "CHECK_INTERVAL_S", interval_s)
    monkeypatch.setattr(consent, "EXPIRY_S", expiry_s)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", interval_s)


async def test_late_consent_answers_keep_the_camera_connected_and_recorded(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an answer to each check 0.7 s late; a check every 1.2-1.8 s, consent for 4 s
    short_checks(monkeypatch, 1.5, 4.0)

    def unstamped(self: consent.Consent, arrival_ms: int, *args: object) -> None:
        self.media_ms = arrival_ms  # media does not count here: the late answers must

    monkeypatch.setattr(consent.Consent, "media_seen", unstamped)
    video, audio = SyntheticVideo(), SyntheticAudio()
    async with connected_client(server) as client:
        session_id, pc = await client.publish([video, audio])
        late = ConsentAnswers(pc, LATE_S)
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        session, watch = await server_side(server, session_id)
        answers = watch.answers
        # eight checks (~12 s, three times the consent's life); aioice closes after six
        await until_checked_or_dropped(session, late, 8)
        assert watch.answers > answers
        [camera] = [s for s in session.sources if s.kind == "video"]
        received = camera.frames_received
        await wait_until(lambda: camera.frames_received >= received + 30, 15, "more video")
        stored: dict[str, Any] = await client.call("stop_take", {"take_id": take["take_id"]})
    manifest = stored["manifest"]
    assert [s["reason"] for s in manifest["segments"]] == ["start"], manifest["segments"]
    assert manifest["gaps"] == [] and manifest["recorded_s"] > 0, manifest


async def test_media_keeps_a_camera_that_answers_no_consent_check(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a check every 0.5-0.7 s (aioice closes after six unanswered: ~3.6 s), consent for 3 s:
    # the media's stamps (once a second) must keep it; not shorter, so that a test process
    # starved for a moment (its sender late) or a server late to answer the client's own
    # checks (aioice's, at this interval too) drops nothing
    short_checks(monkeypatch, 0.6, 3.0)
    video, audio = SyntheticVideo(), SyntheticAudio()
    async with connected_client(server) as client:
        session_id, pc = await client.publish([video, audio])
        unanswered = ConsentAnswers(pc, None)
        session, watch = await server_side(server, session_id)
        answers = watch.answers
        # fifteen checks (~9 s, three times the consent's life)
        await until_checked_or_dropped(session, unanswered, 15)
        assert watch.answers == answers
        [camera] = [s for s in session.sources if s.kind == "video"]
        received = camera.frames_received
        await wait_until(lambda: camera.frames_received >= received + 30, 15, "more video")
        assert session.peer is not None and session.peer.connectionState == "connected"


async def test_a_camera_that_vanishes_is_closed_once_consent_expires(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    short_checks(monkeypatch, 0.3, 3.0)
    caplog.set_level(logging.INFO, logger=consent.__name__)
    video, audio = SyntheticVideo(), SyntheticAudio()
    async with connected_client(server) as client:
        session_id, pc = await client.publish([video, audio])
        session, _ = await server_side(server, session_id)
        peer = session.peer
        assert peer is not None

        async def nothing(data: bytes, addr: tuple[str, int]) -> None:
            pass

        for protocol in _connection(pc)._protocols:  # nothing leaves the client any more
            protocol.send_stun = lambda message, addr: None  # type: ignore[method-assign]
            protocol.send_data = nothing  # type: ignore[method-assign]
        vanished = time.monotonic()
        await wait_until(
            lambda: peer.connectionState in ("failed", "closed"), 30, "the server to close it"
        )
        # its last media was stamped up to a second before it went: not closed sooner
        assert time.monotonic() - vanished >= consent.EXPIRY_S - consent.MEDIA_STAMP_MS / 1000
    assert "consent to send expired" in caplog.text


async def test_installed_after_connecting_it_replaces_aioices_checks_and_stops_on_close() -> None:
    ice.offer_host_addresses(("127.0.0.1",), only=True)  # the test namespace has only loopback
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    sender.addTransceiver(SyntheticVideo(), direction="sendonly")
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    try:
        await wait_until(lambda: receiver.connectionState == "connected", 10, "connected")
        connection = _connection(receiver)
        aioices = connection._query_consent_task
        assert aioices is not None and not aioices.done()
        consent.install(receiver, "late")
        ours = connection._query_consent_task
        assert ours is not None and ours is not aioices and not ours.done()
        await wait_until(aioices.done, 5, "aioice's checks stopped")
        assert aioices.cancelled()
    finally:
        await receiver.close()
        await sender.close()
    assert ours.cancelled()  # close() cancelled and awaited it, as it does aioice's

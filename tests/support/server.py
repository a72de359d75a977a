"""A real examcast server on a free loopback port, and clients that talk to it."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from bench import journey
from bench.journey import Person
from bench.spawn import free_port
from exams.shared.ports import Clock, Scheduler
from media import ice
from tests.support import postgres
from tests.support.clock import MovableTime, wait_until
from tests.support.world import PASSWORD, resident_id
from web.app import create_app
from web.keys import CLOCK, HUB, SMS_OUTBOX
from web.settings import Settings
from web.slow_clients import runner_options

# How long a Socket.IO client waits for the server to accept its namespace. The
# client's own default (1 s) is shorter than a starved CI worker's reply.
SOCKET_CONNECT_S = 30.0
# How long a test waits for a server event by default: a bound for a failure, not a figure
# (on a starved CI worker a peer connection and its event took over 10 s).
EVENT_WAIT_S = 30.0


async def socket_connect(
    sio: socketio.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> None:
    """Connect a test's Socket.IO client to ``url`` over a websocket, as the pages do,
    waiting :data:`SOCKET_CONNECT_S` for the server to accept it (or refuse it:
    ``socketio.exceptions.ConnectionError``)."""
    await sio.connect(
        url, headers=headers or {}, transports=["websocket"], wait_timeout=SOCKET_CONNECT_S
    )


def server_settings(data_dir: Path, **overrides: Any) -> Settings:
    base = Settings(
        host="127.0.0.1",
        port=free_port(),
        data_dir=data_dir,
        ice_host_addresses=("127.0.0.1",),
        ice_host_addresses_only=True,  # not the interfaces of other tests (tests/support/netns.py)
        # The test's own code runs on this server's loop: its synchronous steps (decoding a
        # file to check it) are no overload of the server (test_camera_admission sets it).
        camera_refuse_lag_ms=0,
        # Short, yet longer than a test's media pauses (media silent for 2 s starts it too).
        reconnect_grace_s=10,
        event_loop="asyncio",
        # Staff log in with the password alone unless a test asks for two-step log-in.
        staff_two_factor="optional",
        # Real-person verification by the ID-suffix stand-in: the tests type it (the face
        # check's tests, tests/integration/test_face_verification.py, set verifier="face").
        verifier="id_suffix",
        # No load shedding (viewers keyframe-only when the loop lags): a busy test machine
        # would make it kick in; tests of it turn it on.
        viewer_shed_lag_ms=0,
        # The test's backend (tests/integration/conftest.py): "" is SQLite in data_dir.
        database_url=postgres.active_url() or "",
    )
    return replace(base, **overrides).validate()


@dataclass
class RunningServer:
    settings: Settings
    app: web.Application
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def sms_code(self, phone: str) -> str:
        message = self.app[SMS_OUTBOX].latest(phone)
        assert message is not None and message.code is not None, phone
        return message.code

    def advance(self, seconds: float) -> float:
        """Move the server's time forward (its timers now due fire); the new now."""
        clock = self.app[CLOCK]
        assert isinstance(clock, MovableTime), "this server runs on a clock of the test's own"
        return clock.advance(seconds)

    def now(self) -> float:
        return self.app[CLOCK]()

    async def recorded(
        self, take_id: str, seconds: float, *cameras: str, timeout: float = 15
    ) -> None:
        """Wait (bounded) until each camera named (the primary by default) of a recording
        take has written ``seconds`` of real media."""
        names = cameras or ("primary",)
        hub = self.app[HUB]

        def enough() -> bool:
            written = hub.written_s(take_id)
            return all(written.get(name, 0.0) >= seconds for name in names)

        await wait_until(enough, timeout, f"{seconds}s of media from {names} in {take_id}")


class Server(Protocol):
    """What a client needs of a server, in this process or another."""

    @property
    def url(self) -> str: ...

    def sms_code(self, phone: str) -> str: ...


@asynccontextmanager
async def running_server(
    settings: Settings, clock: Clock | None = None, scheduler: Scheduler | None = None
) -> AsyncIterator[RunningServer]:
    """``clock`` and ``scheduler``: every service's. By default a new ``MovableTime`` is both
    (``server.advance`` jumps over a deadline); a ``MovableTime`` given is the scheduler too."""
    clock = MovableTime() if clock is None else clock
    if scheduler is None and isinstance(clock, MovableTime):
        scheduler = clock
    app = create_app(settings, clock=clock, scheduler=scheduler)
    runner = web.AppRunner(app, **runner_options(settings.header_timeout_s))
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        yield RunningServer(settings, app, runner)
    finally:
        await runner.cleanup()


def api_settings(data_dir: Path, **overrides: Any) -> Settings:
    """:func:`server_settings` for tests that sign people up and log them in (the API, exams):
    Argon2id as shipped but with 1 MiB instead of 64, a cheap hash per log-in."""
    return server_settings(data_dir, **{"password_hash_memory_kib": 1024, **overrides})


def api_server_fixture(**overrides: Any) -> object:
    """A pytest fixture: a running server on :func:`api_settings` with ``overrides``, its
    data in the test's ``tmp_path``. A test module names it for its tests, e.g.
    ``exam_server = api_server_fixture(reconnect_grace_s=120)``."""

    @pytest.fixture
    async def api_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
        async with running_server(api_settings(tmp_path / "data", **overrides)) as running:
            yield running

    return api_server


@dataclass
class Client:
    """A device: an HTTP session with its cookie, a Socket.IO connection, events seen."""

    url: str
    http: aiohttp.ClientSession
    sio: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    pcs: list[RTCPeerConnection] = field(default_factory=list)
    media: dict[str, Any] | None = None  # the last offer's answer's ``media``

    async def call(self, event: str, data: Any = None, timeout: float = 15) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def wait_event(self, name: str, timeout: float = EVENT_WAIT_S, **match: Any) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event, data in self.events:
                if event == name and all(data.get(k) == v for k, v in match.items()):
                    return data
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no {name} {match} within {timeout}s; saw {self.events}")
            await asyncio.sleep(0.02)

    async def publish(
        self,
        tracks: list[MediaStreamTrack],
        session_id: str | None = None,
        video_codec: str | None = None,
        open_args: dict[str, Any] | None = None,
        preview: MediaStreamTrack | None = None,
    ) -> tuple[str, RTCPeerConnection]:
        """Open (or reuse) a media session (``open_args``; primary by default) and send
        ``tracks`` to the server (and ``preview`` as the camera's preview, media.preview;
        the answer's ``media`` is kept in :attr:`media`)."""
        if session_id is None:
            opened = await self.call("open_session", open_args or {"role": "primary"})
            assert "session_id" in opened, opened
            session_id = opened["session_id"]
        # (aiortc's own bundle policy would leave a preview, a second video section, on a
        # transport BUNDLE drops: media.peers.PeerFactory.answer; a browser's does not)
        policy = RTCBundlePolicy.BALANCED if preview is None else RTCBundlePolicy.MAX_BUNDLE
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))
        self.pcs.append(pc)
        for track in tracks:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if track.kind == "video" and video_codec:
                caps = RTCRtpSender.getCapabilities("video")
                prefs = [c for c in caps.codecs if c.mimeType.lower() == video_codec.lower()]
                transceiver.setCodecPreferences(prefs)
        small = None if preview is None else pc.addTransceiver(preview, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"session_id": session_id, "type": "offer", "sdp": pc.localDescription.sdp}
        if small is not None:
            offer["preview"] = small.mid
        answer = await self.call("offer", offer)
        assert "sdp" in answer, answer
        self.media = answer.get("media")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await wait_for(lambda: pc.connectionState == "connected", 10, "peer connection")
        return session_id, pc

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()
        await self.sio.disconnect()
        await self.http.close()


_people = itertools.count(1)


async def sign_up(server: Server, http: aiohttp.ClientSession) -> str:
    """Register a new account through the API (the one driver, bench/journey.py) and log in;
    its phone number."""
    serial = next(_people)
    phone = f"139{os.getpid() % 10000:04d}{serial:04d}"

    async def sms_code(to: str) -> str:
        return server.sms_code(to)

    person = Person(phone, "张三", resident_id(serial), PASSWORD)
    await journey.sign_up(journey.HttpCall(http, server.url), person, sms_code)
    return phone


@asynccontextmanager
async def connected_client(server: Server) -> AsyncIterator[Client]:
    """A new candidate, logged in, with its Socket.IO connection open."""
    ice.offer_host_addresses(("127.0.0.1",), only=True)  # our peers must offer loopback too
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    await sign_up(server, http)
    cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
    sio = socketio.AsyncClient(reconnection=False)
    client = Client(server.url, http, sio)

    @sio.on("*")
    async def any_event(event: str, data: Any) -> None:
        client.events.append((event, data))

    await socket_connect(sio, server.url, {"Cookie": cookie})
    try:
        yield client
    finally:
        await client.close()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"{what}: not ready within {timeout}s")
        await asyncio.sleep(0.02)

"""A socket acts for a live log-in session, within per-account caps and budgets.

Real Socket.IO clients against the real server, whose accounts and log-in
sessions run on a clock the tests move (expiry, re-checks, budgets).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from exams.identity.accounts import Role
from media.hub import MediaHub
from signaling.connections import (
    ACCOUNT_MESSAGE_BURST,
    MESSAGE_BURST,
    RECHECK_S,
)
from tests.integration.test_signaling import assert_error, real_offer
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import (
    Client,
    RunningServer,
    running_server,
    server_settings,
    sign_up,
    socket_connect,
    wait_for,
)
from tests.support.world import PASSWORD, FakeClock
from web.keys import ACCOUNTS, HUB, SIGNALING

MAX_SOCKETS = 4
MAX_MEDIA_SESSIONS = 3


@dataclass
class ClockedServer:
    server: RunningServer
    clock: FakeClock
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[ClockedServer]:
    clock = FakeClock()
    settings = server_settings(
        tmp_path / "data",
        password_hash_memory_kib=1024,
        max_sockets_per_account=MAX_SOCKETS,
        max_media_sessions_per_account=MAX_MEDIA_SESSIONS,
        reconnect_grace_s=300,  # detached sessions stay while a test looks at them
    )
    async with running_server(settings, clock) as server:
        yield ClockedServer(server, clock, settings.data_dir)


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    bad = [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@dataclass
class Device:
    """One browser of a person: its own log-in session (cookie) and its sockets."""

    server: RunningServer
    http: aiohttp.ClientSession
    phone: str
    sockets: list[Client] = field(default_factory=list)

    def cookie(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar)

    async def connect(self, cookie: str | None = None) -> Client:
        sio = socketio.AsyncClient(reconnection=False)
        client = Client(self.server.url, self.http, sio)

        @sio.on("*")
        async def any_event(event: str, data: Any) -> None:
            client.events.append((event, data))

        headers = {"Cookie": self.cookie() if cookie is None else cookie}
        try:
            await socket_connect(sio, self.server.url, headers)
        except socketio.exceptions.ConnectionError:
            await sio.disconnect()
            raise
        self.sockets.append(client)
        return client

    async def refusal(self, cookie: str | None = None) -> dict[str, Any]:
        """The error a connection attempt is refused with."""
        sio = socketio.AsyncClient(reconnection=False)
        refused: list[Any] = []

        @sio.event
        async def connect_error(data: Any) -> None:
            refused.append(data)

        headers = {"Cookie": self.cookie() if cookie is None else cookie}
        with pytest.raises(socketio.exceptions.ConnectionError):
            await socket_connect(sio, self.server.url, headers)
        await sio.disconnect()
        assert refused, "refused without a reason"
        return dict(refused[0]["data"])  # {"message", "data": the error body's "error"}

    async def post(self, method: str, path: str, body: Any = None) -> int:
        headers = {"Origin": self.server.url}
        async with self.http.request(
            method, self.server.url + path, json=body, headers=headers
        ) as response:
            return response.status

    async def log_out(self) -> None:
        assert await self.post("DELETE", "/api/session") == 204

    async def close(self) -> None:
        for client in self.sockets:
            for pc in client.pcs:
                await pc.close()
            if client.sio.connected:
                await client.sio.disconnect()
        await self.http.close()


def _http() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@asynccontextmanager
async def person(server: ClockedServer) -> AsyncIterator[Device]:
    """A new candidate, registered and logged in on one device."""
    http = _http()
    device = Device(server.server, http, await sign_up(server.server, http))
    try:
        yield device
    finally:
        await device.close()


@asynccontextmanager
async def another_device(of: Device) -> AsyncIterator[Device]:
    """The same person logged in on another device: another log-in session."""
    device = Device(of.server, _http(), of.phone)
    status = await device.post("POST", "/api/session", {"phone": of.phone, "password": PASSWORD})
    assert status == 200
    try:
        yield device
    finally:
        await device.close()


async def account_id(server: ClockedServer, device: Device) -> str:
    account = await server.server.app[ACCOUNTS].by_phone(device.phone)
    assert account is not None
    return account.id


async def closed(*clients: Client) -> None:
    await wait_for(lambda: not any(c.sio.connected for c in clients), 10, "sockets closed")


async def outcome(client: Client, event: str, data: Any) -> str:
    """The error code of a call, "ok", or "disconnected" (the server closed the socket)."""
    try:
        ack = await client.sio.call(event, data, timeout=10)
    except (socketio.exceptions.BadNamespaceError, socketio.exceptions.TimeoutError):
        return "disconnected"
    return str(ack["error"]["code"]) if "error" in ack else "ok"


async def recording(device: Device, client: Client) -> tuple[str, str]:
    """A real camera publishing on ``client``, recording a device-check take with some media
    written already (so it is stored, not failed, when stopped): (session, take)."""
    session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    assert take["state"] == "recording", take
    await device.server.recorded(take["take_id"], 0.2)
    return session_id, take["take_id"]


# -- reserved event names ------------------------------------------------------------------


async def test_client_events_named_connect_or_disconnect_are_refused(
    clocked: ClockedServer,
) -> None:
    async with person(clocked) as alice, person(clocked) as bob:
        socket = await alice.connect()
        opened = [
            (await socket.call("open_session", {"role": "primary"}))["session_id"]
            for _ in range(MAX_MEDIA_SESSIONS)
        ]
        bobs = await (await bob.connect()).call("open_session", {"role": "primary"})
        # The payloads the server's own handlers would take: an environ with Bob's cookie,
        # and a disconnect reason.
        environ = {"HTTP_COOKIE": bob.cookie(), "REMOTE_ADDR": "127.0.0.1"}
        assert_error(await socket.call("connect", environ), "invalid_input")
        assert_error(await socket.call("connect", (environ, {"token": "x"})), "invalid_input")
        assert_error(
            await socket.call("disconnect", "client namespace disconnect"), "invalid_input"
        )
        assert_error(await socket.call("disconnect"), "invalid_input")

        # Still Alice's connection: her sessions are still attached (the cap holds), she
        # resumes them, and Bob's session is not hers.
        assert_error(await socket.call("open_session", {"role": "primary"}), "conflict")
        for session_id in opened:
            resumed = await socket.call("open_session", {"role": "primary", "resume": session_id})
            assert resumed["session_id"] == session_id
        resume_bobs = {"role": "primary", "resume": bobs["session_id"]}
        assert_error(await socket.call("open_session", resume_bobs), "not_found")

        # They spend the budget like any message, and refill nothing.
        sent = 2 * MAX_MEDIA_SESSIONS + 6  # the calls above
        acks = await asyncio.gather(*(socket.call("connect", environ) for _ in range(40)))
        codes = [a["error"]["code"] for a in acks]
        assert codes.count("invalid_input") == MESSAGE_BURST - sent
        assert codes.count("rate_limited") == 40 - (MESSAGE_BURST - sent)
        assert_error(await socket.call("open_session", {"role": "primary"}), "rate_limited")
        assert socket.sio.connected


# -- log-out, role change, expiry ----------------------------------------------------------


async def test_log_out_closes_that_sessions_sockets(clocked: ClockedServer) -> None:
    async with person(clocked) as alice, another_device(alice) as laptop:
        page, phone = await alice.connect(), await alice.connect()
        elsewhere = await laptop.connect()
        session_id, take_id = await recording(alice, page)
        old_cookie = alice.cookie()

        await alice.log_out()
        await closed(page, phone)
        for event, data in [
            ("open_session", {"role": "primary"}),
            ("offer", {"session_id": session_id, "type": "offer", "sdp": await real_offer()}),
            ("start_take", {"session_id": session_id, "purpose": "device_check"}),
            ("stop_take", {"take_id": take_id}),
        ]:
            assert await outcome(page, event, data) == "disconnected", event
        refused = await alice.refusal(old_cookie)
        assert refused["code"] == "unauthenticated", refused

        # The other device's log-in session lives on, and it can take the camera over.
        assert elsewhere.sio.connected
        resume = {"role": "primary", "resume": session_id}
        assert (await elsewhere.call("open_session", resume))["session_id"] == session_id
        assert (await elsewhere.call("stop_take", {"take_id": take_id}))["state"] == "stored"


async def test_a_role_changed_by_examcast_grant_closes_the_sockets(
    clocked: ClockedServer,
) -> None:
    async with person(clocked) as alice:
        devices = [await alice.connect() for _ in range(MAX_SOCKETS)]
        session_id, take_id = await recording(alice, devices[0])
        offer = await real_offer()
        grant = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "web.cli",
            "grant",
            alice.phone,
            "staff_reviewer",
            "--data-dir",
            str(clocked.data_dir),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await grant.communicate()
        assert grant.returncode == 0, out
        # Another process ended the sessions: noticed at the next re-check.
        clocked.clock.advance(RECHECK_S)
        outcomes = await asyncio.gather(
            outcome(devices[0], "open_session", {"role": "primary"}),
            outcome(devices[1], "offer", {"session_id": session_id, "type": "offer", "sdp": offer}),
            outcome(
                devices[2], "start_take", {"session_id": session_id, "purpose": "device_check"}
            ),
            outcome(devices[3], "stop_take", {"take_id": take_id}),
        )
        assert set(outcomes) <= {"unauthenticated", "disconnected"}, outcomes
        await closed(*devices)
        assert (await alice.refusal())["code"] == "unauthenticated"
        # Logged in again, a staff reviewer has no socket actions at all.
        async with another_device(alice) as again:
            assert (await again.refusal())["code"] == "forbidden"


async def test_a_role_change_in_this_process_closes_the_sockets_at_once(
    clocked: ClockedServer,
) -> None:
    async with person(clocked) as alice, another_device(alice) as phone:
        sockets = [await alice.connect(), await phone.connect()]
        await clocked.server.app[ACCOUNTS].grant(alice.phone, Role.PROCTOR, None)
        await closed(*sockets)  # the clock did not move: no re-check was due
        assert (await alice.refusal())["code"] == "unauthenticated"


async def test_staff_accounts_cannot_open_a_socket(clocked: ClockedServer) -> None:
    async with person(clocked) as admin:
        await clocked.server.app[ACCOUNTS].grant(admin.phone, Role.STAFF_REVIEWER, None)
        async with another_device(admin) as console:
            refused = await console.refusal()
            assert refused["code"] == "forbidden" and "candidate" in refused["message"], refused


async def test_an_expired_session_closes_its_sockets(clocked: ClockedServer) -> None:
    settings = clocked.server.settings
    async with person(clocked) as alice, person(clocked) as bob:
        idle, busy = await alice.connect(), await bob.connect()
        # Bob keeps using his socket: that is activity on his log-in session.
        for i in range(3):
            clocked.clock.advance(settings.session_idle_s * 0.6)
            assert (await busy.call("open_session", {"role": "primary"}))["session_id"]
            if i == 0:  # Alice's page only beats (the `time` heartbeat): no activity of hers
                beat = await idle.call("time", {})
                assert beat["now"] == pytest.approx(clocked.clock(), abs=1), beat
        # Alice's page sent nothing for session_idle_s: her session ended and the socket
        # was closed (the server's own checks do not count as activity).
        await closed(idle)
        assert (await alice.refusal())["code"] == "unauthenticated"
        # However busy, a session ends session_max_s after log-in.
        clocked.clock.advance(settings.session_max_s)
        await closed(busy)


# -- per-account caps and budget -----------------------------------------------------------


async def test_connections_per_account_are_capped_under_parallel_connects(
    clocked: ClockedServer,
) -> None:
    async with person(clocked) as alice, another_device(alice) as phone:

        async def attempt(device: Device) -> str:
            try:
                await device.connect()
            except socketio.exceptions.ConnectionError:
                return "refused"
            return "connected"

        results = await asyncio.gather(*(attempt(d) for d in [alice, phone] * 5))
        assert results.count("connected") == MAX_SOCKETS, results
        refused = await phone.refusal()
        assert refused["code"] == "conflict", refused
        namespace = clocked.server.app[SIGNALING]
        owner = await account_id(clocked, alice)
        assert len(namespace.connections.of_account(owner)) == MAX_SOCKETS
        first = next(s for s in alice.sockets + phone.sockets if s.sio.connected)
        await first.sio.disconnect()
        await wait_for(
            lambda: len(namespace.connections.of_account(owner)) < MAX_SOCKETS, 10, "disconnect"
        )
        assert (await alice.connect()).sio.connected


async def test_media_sessions_per_account_are_capped_under_parallel_opens(
    clocked: ClockedServer,
) -> None:
    async with person(clocked) as alice, another_device(alice) as phone:
        sockets = [await alice.connect(), await alice.connect(), await phone.connect()]
        acks = await asyncio.gather(
            *(s.call("open_session", {"role": "primary"}) for s in sockets for _ in range(4))
        )
        assert sum("session_id" in a for a in acks) == MAX_MEDIA_SESSIONS, acks
        assert {a["error"]["code"] for a in acks if "error" in a} == {"conflict"}
        owner = await account_id(clocked, alice)
        assert len(clocked.server.app[HUB].sessions_of(owner)) == MAX_MEDIA_SESSIONS


async def test_detached_sessions_count_and_only_idle_ones_make_room(
    clocked: ClockedServer,
) -> None:
    hub = clocked.server.app[HUB]
    async with person(clocked) as alice:
        owner = await account_id(clocked, alice)

        def owned() -> set[str]:
            sessions = {s.id for s in hub.sessions_of(owner)}
            assert len(sessions) <= MAX_MEDIA_SESSIONS
            return sessions

        async def open_new(socket: Client) -> str:
            return str((await socket.call("open_session", {"role": "primary"}))["session_id"])

        camera, page = await alice.connect(), await alice.connect()
        recorded, take_id = await recording(alice, camera)
        left = [await open_new(page) for _ in "ab"]
        assert_error(await page.call("open_session", {"role": "primary"}), "conflict")

        # A dropped connection's sessions still count while they wait for it to come back;
        # a new one replaces the oldest of them that records nothing.
        await page.sio.disconnect()
        await wait_for(lambda: not any(attached(hub, s) for s in left), 10, "detached")
        fresh = [await open_new(camera) for _ in "ab"]
        assert_error(await camera.call("open_session", {"role": "primary"}), "conflict")
        assert owned() == {recorded, *fresh}
        resume = {"role": "primary", "resume": left[0]}
        assert_error(await camera.call("open_session", resume), "not_found")

        # The recording one is never replaced: a new page takes it over, without counting
        # it twice, and the take goes on.
        await camera.sio.disconnect()
        await wait_for(lambda: not attached(hub, recorded), 10, "detached")
        again = await alice.connect()
        assert await open_new(again) == recorded
        assert owned() == {recorded, *fresh}
        newest = [await open_new(again) for _ in "ab"]
        assert_error(await again.call("open_session", {"role": "primary"}), "conflict")
        assert owned() == {recorded, *newest}
        assert (await again.call("stop_take", {"take_id": take_id}))["state"] == "stored"


async def test_the_message_budget_is_shared_by_an_accounts_sockets(
    clocked: ClockedServer,
) -> None:
    async with person(clocked) as alice, person(clocked) as bob:
        sockets = [await alice.connect() for _ in range(MAX_SOCKETS)]
        acks = await asyncio.gather(
            *(
                s.call("stop_take", {"take_id": f"t{i}"})
                for s in sockets
                for i in range(MESSAGE_BURST)
            )
        )
        codes = [a["error"]["code"] for a in acks]
        assert codes.count("not_found") == ACCOUNT_MESSAGE_BURST, codes
        assert codes.count("rate_limited") == MAX_SOCKETS * MESSAGE_BURST - ACCOUNT_MESSAGE_BURST
        # Someone else's budget is their own.
        assert_error(await (await bob.connect()).call("stop_take", {"take_id": "t"}), "not_found")

        # New connections do not bring a new budget.
        namespace = clocked.server.app[SIGNALING]
        owner = await account_id(clocked, alice)
        for s in sockets:
            await s.sio.disconnect()
        await wait_for(lambda: not namespace.connections.of_account(owner), 10, "disconnects")
        fresh = await alice.connect()
        assert_error(await fresh.call("stop_take", {"take_id": "t"}), "rate_limited")
        clocked.clock.advance(1.0)  # ACCOUNT_MESSAGES_PER_SECOND come back
        assert_error(await fresh.call("stop_take", {"take_id": "t"}), "not_found")


def attached(hub: MediaHub, session_id: str) -> bool:
    session = hub.get(session_id)
    return session is not None and session.attached

"""Exams over the API: a unit admin who sets them up, candidates who reach the exam list.

``candidate_client`` is a candidate as a browser would be: logged in through
the API, through the whole admission journey (the device check with a take
really recorded by an aiortc peer), with its Socket.IO connection open on the
same session cookie and its camera still publishing, so the server can record
exam takes from it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiortc.mediastreams import MediaStreamTrack

from bench.journey import to_exam_list
from exams.admission.units import ListInfo
from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account, Role
from exams.identity.admitted_csv import AdmittedEntry
from media import ice
from storage.units import SqliteUnits
from tests.support.api import ApiClient, journey_call, log_in, signed_up, verify
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import Client, RunningServer, socket_connect
from web.keys import ACCOUNTS, DATABASE, TAKE_RECORDS, UNITS

_serials = itertools.count(100)


def online_question(qid: str = "q1", order: int = 1, **settings: Any) -> dict[str, Any]:
    return {
        "id": qid,
        "title": f"Question {qid}",
        "prompt": "Play a piece of your choice.",
        "order": order,
        "mode": "online",
        "recording_limit_s": 60,
        **settings,
    }


def offline_question(
    qid: str = "q9", order: int = 9, submission_limit_s: int | None = None, **files: Any
) -> dict[str, Any]:
    return {
        "id": qid,
        "title": f"Question {qid}",
        "order": order,
        "mode": "offline",
        "submission_limit_s": submission_limit_s,
        "files": {
            "kinds": ["video", "image"],
            "formats": ["mp4", "png"],
            "min_count": 1,
            "max_count": 2,
            "max_bytes": 64 * 1024,
            **files,
        },
    }


def exam_body(*questions: dict[str, Any], now: float, **extra: Any) -> dict[str, Any]:
    return {
        "title": "钢琴演奏",
        "instructions": "Two pieces; the camera must see your hands.",
        "time_requirements": "Finish within the window.",
        "opens_at": now - 60,
        "closes_at": now + 3600,
        "questions": list(questions),
        **extra,
    }


async def add_unit(server: RunningServer, unit_id: str) -> None:
    units = server.app[UNITS]
    if unit_id not in {u.id for u in await units.all()}:
        await units.add(unit_id, f"Unit {unit_id}")


async def admit(server: RunningServer, unit_id: str, *people: Account) -> None:
    """Add ``people`` to the unit's admitted list (the list import has its own tests)."""
    await add_unit(server, unit_id)
    repo = SqliteUnits(server.app[DATABASE])
    current = await repo.entries(unit_id, 0, 100_000)
    entries = current + [
        AdmittedEntry(p.name, p.id_type, p.id_number, len(current) + i + 2)
        for i, p in enumerate(people)
    ]
    await repo.replace_list(ListInfo(unit_id, 0.0, "test", len(entries)), entries)


async def staff(
    server: RunningServer, client: ApiClient, role: Role, unit_id: str | None
) -> Account:
    """``client`` becomes a logged-in account with ``role``."""
    serial = next(_serials)
    who = await signed_up(client, f"137{serial:08d}", f"Staff {serial}", serial=serial)
    await server.app[ACCOUNTS].grant(who.phone, role, unit_id)
    assert (await log_in(client, who.phone)).status == 200
    return await server.app[ACCOUNTS].get(who.id)


async def create_exam(admin: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    reply = await admin.call("POST", "/api/admin/exams", body)
    assert reply.status == 201, reply
    return dict(reply.body)


async def unit_exam(
    server: RunningServer, admin: ApiClient, unit_id: str, *questions: dict[str, Any]
) -> str:
    """``admin``, made the admin of ``unit_id`` (added if new), creates an exam of
    ``questions`` from now on: its id."""
    await add_unit(server, unit_id)
    await staff(server, admin, Role.UNIT_ADMIN, unit_id)
    exam = await create_exam(admin, exam_body(*questions, now=server.now()))
    return str(exam["id"])


async def fake_device_check(server: RunningServer, owner: str) -> str:
    """A stored device-check take, as the device-check page would have recorded."""
    take_id = f"dc-{owner}"
    take = Take(take_id, owner, "s", "device_check", TakeState.STORED, 1.0, 2.0, "stopped")
    await server.app[TAKE_RECORDS].save(take)
    return take_id


async def through_journey(
    server: RunningServer, client: ApiClient, unit_id: str, device_take: str | None = None
) -> Account:
    """A new candidate, registered and logged in on ``client``, at the exam list."""
    serial = next(_serials)
    who = await signed_up(client, f"138{serial:08d}", "张三", serial=serial)
    await journey(server, client, who, unit_id, device_take)
    return who


async def journey(
    server: RunningServer,
    client: ApiClient,
    who: Account,
    unit_id: str,
    device_take: str | None = None,
) -> None:
    """Every admission step through the API (the one driver, bench/journey.py); the device
    check with ``device_take`` (else a stand-in stored take) when the unit's exams need one."""
    await admit(server, unit_id, who)

    async def device_check() -> str:
        return device_take or await fake_device_check(server, who.owner)

    await to_exam_list(journey_call(client), who.id_number, unit_id, device_check)


async def verify_for_exam(client: ApiClient, who: Account, exam_id: str) -> None:
    passed = await verify(client, who.id_number[-6:], scope=f"exam:{exam_id}")
    assert passed.body["passed"], passed


@dataclass
class Candidate:
    account: Account
    api: ApiClient
    device: Client  # the socket and the camera, on the same session cookie
    camera: list[MediaStreamTrack] = field(default_factory=list)  # what the device publishes

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.api.call(method, path, body, **kw)


async def open_socket(server: RunningServer, api: ApiClient) -> Client:
    """A Socket.IO connection on ``api``'s log-in, every event it receives kept in
    ``events`` (the caller disconnects it)."""
    sio = socketio.AsyncClient(reconnection=False)
    client = Client(server.url, api.http, sio)

    @sio.on("*")
    async def any_event(event: str, data: Any) -> None:
        client.events.append((event, data))

    cookie = f"examcast_session={api.cookie()}"
    await socket_connect(sio, server.url, {"Cookie": cookie})
    return client


@asynccontextmanager
async def candidate_client(server: RunningServer, unit_id: str) -> AsyncIterator[Candidate]:
    """A logged-in candidate at the exam list whose device check was really recorded."""
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    api = ApiClient(server)
    serial = next(_serials)
    who = await signed_up(api, f"138{serial:08d}", "张三", serial=serial)
    device = await open_socket(server, api)
    try:
        camera: list[MediaStreamTrack] = [SyntheticVideo(), SyntheticAudio()]
        session_id, _ = await device.publish(camera)
        started = await device.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        assert started.get("state") == "recording", started
        await server.recorded(started["take_id"], 1.0)  # a second of real media
        stored = await device.call("stop_take", {"take_id": started["take_id"]})
        assert stored.get("state") == "stored", stored
        await journey(server, api, who, unit_id, stored["take_id"])
        yield Candidate(who, api, device, camera)
    finally:
        await device.close()


@asynccontextmanager
async def phone_client(server: RunningServer, candidate: Candidate) -> AsyncIterator[Candidate]:
    """The candidate's phone: its own log-in with the same account, its own socket."""
    api = ApiClient(server)
    assert (await log_in(api, candidate.account.phone)).status == 200
    sio = socketio.AsyncClient(reconnection=False)
    phone = Client(server.url, api.http, sio)

    @sio.on("*")
    async def any_event(event: str, data: Any) -> None:
        phone.events.append((event, data))

    cookie = f"examcast_session={api.cookie()}"
    await socket_connect(sio, server.url, {"Cookie": cookie})
    try:
        yield Candidate(candidate.account, api, phone)
    finally:
        await phone.close()

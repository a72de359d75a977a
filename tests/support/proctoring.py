"""Set-ups the proctoring integration tests share: an exam with its proctor, a Socket.IO
connection on a log-in (every event kept), a candidate the proctor watches, a formal attempt
entered, a tile pushed to the wall."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from exams.identity.accounts import Account, Role
from tests.support.api import ApiClient
from tests.support.clock import wait_until
from tests.support.exams import (
    Candidate,
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    online_question,
    open_socket,
    staff,
    verify_for_exam,
)
from tests.support.server import Client, RunningServer

UNIT, OTHER_UNIT = "10071", "10072"
READING_S, RECORDING_S = 30, 60


@asynccontextmanager
async def socket_of(server: RunningServer, api: ApiClient) -> AsyncIterator[Client]:
    """A Socket.IO connection on ``api``'s log-in, every event it receives kept."""
    client = await open_socket(server, api)
    try:
        yield client
    finally:
        await client.sio.disconnect()


async def pushed_tile(
    watcher: Client, tile_id: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The first tile of ``tile_id`` pushed in ``wall_tiles`` that passes ``check``."""
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        for event, data in watcher.events:
            if event == "wall_tiles":
                assert isinstance(data["now"], float)
                found.extend(t for t in data["tiles"] if t["tile_id"] == tile_id and check(t))
        return bool(found)

    await wait_until(seen, 20, what)
    return found[0]


async def exam_with_proctor(
    server: RunningServer, admin: ApiClient, proctor: ApiClient
) -> tuple[str, Account]:
    """``admin`` made UNIT's admin creates a two-question exam and assigns ``proctor`` (made
    a proctor) to it: the exam's id and the proctor's account."""
    await add_unit(server, UNIT)
    await staff(server, admin, Role.UNIT_ADMIN, UNIT)
    me = await staff(server, proctor, Role.PROCTOR, None)
    timing = {"reading_limit_s": READING_S, "recording_limit_s": RECORDING_S}
    exam = await create_exam(
        admin,
        exam_body(
            online_question("q1", 1, formal_count=1, **timing),
            online_question("q2", 2, formal_count=1, **timing),
            now=server.now(),
        ),
    )
    added = await admin.call("POST", f"/api/admin/exams/{exam['id']}/proctors", {"phone": me.phone})
    assert added.status == 200, added
    return exam["id"], me


@asynccontextmanager
async def watched_candidate(
    server: RunningServer, admin: ApiClient, proctor: ApiClient
) -> AsyncIterator[tuple[str, Candidate, Client]]:
    """:func:`exam_with_proctor`, a candidate of UNIT at its exam list and the proctor's
    socket: the exam's id, the candidate and the socket."""
    exam_id, _ = await exam_with_proctor(server, admin, proctor)
    async with candidate_client(server, UNIT) as c, socket_of(server, proctor) as watcher:
        yield exam_id, c, watcher


async def enter_formal(c: Candidate, exam_id: str, question: str = "q1") -> dict[str, Any]:
    """The candidate passes the exam's identity check and enters ``question`` formally (its
    reading starts): the attempt the page shows."""
    await verify_for_exam(c.api, c.account, exam_id)
    entered = await c.call("POST", f"/api/exams/{exam_id}/questions/{question}/formal")
    assert entered.status == 200, entered
    attempt: dict[str, Any] = entered.body["question"]["attempt"]
    return attempt

"""Two nodes (two apps in this process) on one data directory and one real Redis: what
each node kept in its own memory is shared, and one node's work goes on on the other.

- a deadline fires on one node only: the one that set it last; when that node dies
  (its heartbeat stops, its timers with it), the other takes the deadline over;
- the attempt's steps are one at a time across the nodes;
- a QR code made on one node is scanned on the other, once of many parallel scans, and
  the phone's camera joins the link through either node;
- Socket.IO events reach a client connected to the other node;
- a tus upload PATCHed through both nodes at once: the newest request wins.

Time is the test's (``MovableTime``, shared by both nodes as one clock would be).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exams.identity.accounts import Role
from signaling.server import owner_room
from tests.support import files
from tests.support.api import ApiClient, api_client, log_in
from tests.support.clock import MovableTime, wait_until
from tests.support.exams import (
    add_unit,
    candidate_client,
    create_exam,
    exam_body,
    offline_question,
    online_question,
    open_socket,
    staff,
    through_journey,
    verify_for_exam,
)
from tests.support.media import SyntheticVideo
from tests.support.redis import key_prefix, need_redis
from tests.support.server import RunningServer, running_server, server_settings
from tests.support.tus import KIB, Tus, about, candidate_at, raw_patch, status_line
from web.keys import ATTEMPT_RUNNER, SHARED, SOCKETS

UNIT = "10001"
VIDEO = files.mp4(frames=30, width=320, height=240, noise=True)  # a real file: it is opened


@dataclass
class Nodes:
    a: RunningServer
    b: RunningServer
    clock: MovableTime
    prefix: str


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    url = need_redis()
    prefix = key_prefix()
    clock = MovableTime()
    data = tmp_path / "data"

    def settings(node: str) -> Any:
        return server_settings(
            data,
            password_hash_memory_kib=1024,
            reconnect_grace_s=120,
            redis_url=url,
            redis_prefix=prefix,
            node_id=node,
            node_lease_s=1,
        )

    async with running_server(settings("a"), clock) as a:
        async with running_server(settings("b"), clock) as b:
            yield Nodes(a, b, clock, prefix)


def on(client: ApiClient, server: RunningServer) -> ApiClient:
    """The same browser (its cookie) talking to another node."""
    other = copy.copy(client)
    other.server = server
    return other


def q(exam_id: str, question_id: str) -> str:
    return f"/api/exams/{exam_id}/questions/{question_id}"


async def offline_exam(nodes: Nodes, admin: ApiClient, candidate: ApiClient) -> tuple[str, str]:
    """An exam with one offline question of 5 s to submit, set up through node a; (exam id,
    candidate id)."""
    await add_unit(nodes.a, UNIT)
    await staff(nodes.a, admin, Role.UNIT_ADMIN, UNIT)
    body = exam_body(offline_question("q9", submission_limit_s=5), now=time.time())
    exam_id = str((await create_exam(admin, body))["id"])
    who = await through_journey(nodes.a, candidate, UNIT)
    await verify_for_exam(candidate, who, exam_id)
    return exam_id, who.id


async def attempt_of(nodes: Nodes, exam_id: str, candidate_id: str) -> str:
    found = await nodes.a.app[ATTEMPT_RUNNER].attempts.find(exam_id, "q9", candidate_id)
    assert found is not None
    return found.id


async def owner_of(nodes: Nodes, attempt_id: str) -> str | None:
    redis = nodes.a.app[SHARED].redis
    assert redis is not None
    found = await redis.hget(nodes.prefix + "deadlines:owner", attempt_id)
    return None if found is None else str(found)


async def closed(nodes: Nodes, attempt_id: str) -> bool:
    """Read from the records (a page's GET would apply a due deadline itself)."""
    found = await nodes.b.app[ATTEMPT_RUNNER].attempts.get(attempt_id)
    return found is not None and found.closed_at is not None


async def test_a_deadline_fires_on_one_node_only(nodes: Nodes) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as candidate:
        exam_id, who = await offline_exam(nodes, admin, candidate)
        opened = await candidate.call("POST", q(exam_id, "q9") + "/open")
        assert opened.status == 200, opened
        attempt_id = await attempt_of(nodes, exam_id, who)
        assert await owner_of(nodes, attempt_id) == "a"
        # The next step goes through node b: b sets the attempt's timer and owns it now;
        # a's timer is still set, and must do nothing.
        again = await on(candidate, nodes.b).call("POST", q(exam_id, "q9") + "/open")
        assert again.status == 200, again
        assert await owner_of(nodes, attempt_id) == "b"
        runners = nodes.a.app[ATTEMPT_RUNNER], nodes.b.app[ATTEMPT_RUNNER]
        nodes.clock.advance(6)  # the submission time is over: both timers fall due
        await wait_until(lambda: closed(nodes, attempt_id), 10, "the attempt closed")
        await wait_until(lambda: runners[1].fired == 1, 5, "b fired the deadline")
        assert (runners[0].fired, runners[1].fired) == (0, 1)

        async def released() -> bool:  # once the closed attempt is saved: nothing to fire
            return await owner_of(nodes, attempt_id) is None

        await wait_until(released, 5, "the deadline's owner released")
        assert (runners[0].fired, runners[1].fired) == (0, 1)


async def test_the_deadline_of_a_node_that_died_fires_on_another(nodes: Nodes) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as candidate:
        exam_id, who = await offline_exam(nodes, admin, candidate)
        opened = await candidate.call("POST", q(exam_id, "q9") + "/open")
        attempt_id = await attempt_of(nodes, exam_id, who)
        assert await owner_of(nodes, attempt_id) == "a"
        # Node a dies: no timer of its fires, its heartbeat stops (no hand-over: a crash).
        runner_a = nodes.a.app[ATTEMPT_RUNNER]
        runner_a.close()
        heartbeat = nodes.a.app[SHARED].heartbeat
        assert heartbeat is not None
        await heartbeat.stop(hand_over=False)
        nodes.clock.advance(6)
        await wait_until(lambda: closed(nodes, attempt_id), 15, "b closed the attempt")
        assert (runner_a.fired, nodes.b.app[ATTEMPT_RUNNER].fired) == (0, 1)
        page = await on(candidate, nodes.b).call("GET", q(exam_id, "q9"))
        deadline = opened.body["question"]["attempt"]["submission_deadline"]
        assert page.body["question"]["attempt"]["closed_at"] == deadline  # as of its deadline


async def test_parallel_steps_through_both_nodes_run_one_at_a_time(nodes: Nodes) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as candidate:
        await add_unit(nodes.a, UNIT)
        await staff(nodes.a, admin, Role.UNIT_ADMIN, UNIT)
        body = exam_body(online_question("q1", formal_count=1), now=time.time())
        exam_id = str((await create_exam(admin, body))["id"])
        who = await through_journey(nodes.a, candidate, UNIT)
        await verify_for_exam(candidate, who, exam_id)
        entered = await candidate.call("POST", q(exam_id, "q1") + "/formal")
        assert entered.status == 200, entered
        via = [candidate, on(candidate, nodes.b)] * 3
        replies = await asyncio.gather(
            *(c.call("POST", q(exam_id, "q1") + "/takes", {"kind": "formal"}) for c in via)
        )
        started = [r for r in replies if r.status == 200]
        assert len(started) == 1, replies  # one formal take, however the requests raced
        assert all(r.status == 409 for r in replies if r.status != 200), replies


async def test_a_code_made_on_one_node_is_scanned_once_on_the_other(nodes: Nodes) -> None:
    await add_unit(nodes.a, UNIT)
    async with api_client(nodes.a) as admin:
        await staff(nodes.a, admin, Role.UNIT_ADMIN, UNIT)
        body = exam_body(
            online_question("q1", second_camera_required=True, recording_limit_s=60),
            now=time.time(),
        )
        exam_id = str((await create_exam(admin, body))["id"])
    async with candidate_client(nodes.a, UNIT) as c:
        await verify_for_exam(c.api, c.account, exam_id)
        assert (await c.call("POST", q(exam_id, "q1") + "/formal")).status == 200
        phones = [ApiClient(nodes.a), ApiClient(nodes.b)]
        try:
            for phone in phones:
                assert (await log_in(phone, c.account.phone)).status == 200
            qr = await c.call("POST", q(exam_id, "q1") + "/pairing")
            assert qr.status == 201, qr
            scans = await asyncio.gather(
                *(
                    phone.call("POST", "/api/pairing/redeem", {"token": qr.body["token"]})
                    for phone in phones * 4
                )
            )
            assert sorted(r.status for r in scans) == [200] + [409] * 7, scans
            assert {r.code for r in scans if r.status == 409} == {"pairing_used"}
            # A new code, scanned through b only; the phone's camera connects through a
            # (its candidate's media node) and finds the link b made.
            qr = await c.call("POST", q(exam_id, "q1") + "/pairing")
            scanned = await phones[1].call(
                "POST", "/api/pairing/redeem", {"token": qr.body["token"]}
            )
            assert scanned.status == 200, scanned
            pairing_id = scanned.body["pairing_id"]
            # b's event reached the candidate's device, connected to a.
            await c.device.wait_event("secondary_state", state="paired", pairing_id=pairing_id)
            state = await phones[0].call("GET", q(exam_id, "q1") + "/pairing")
            assert state.body["pairing_id"] == pairing_id, state
            device = await open_socket(nodes.a, phones[0])
            try:
                await device.publish(
                    [SyntheticVideo()], open_args={"role": "secondary", "pairing_id": pairing_id}
                )
                await c.device.wait_event(
                    "secondary_state", state="connected", pairing_id=pairing_id
                )
            finally:
                await device.close()
        finally:
            for phone in phones:
                await phone.close()


async def test_an_event_emitted_on_one_node_reaches_a_client_on_the_other(
    nodes: Nodes,
) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as candidate:
        await offline_exam(nodes, admin, candidate)
        me = await candidate.call("GET", "/api/me")
        device = await open_socket(nodes.b, on(candidate, nodes.b))
        try:
            hello = {"node": "a", "n": 1}
            await nodes.a.app[SOCKETS].emit(
                "note", hello, room=owner_room(me.body["account"]["id"])
            )
            await device.wait_event("note", node="a", n=1)
        finally:
            await device.close()


async def test_a_newer_patch_on_one_node_takes_over_a_hanging_one_on_the_other(
    nodes: Nodes,
) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as client:
        exam_id, _ = await candidate_at(nodes.a, admin, client)
        tus_a, tus_b = Tus(client), Tus(on(client, nodes.b))
        url = (await tus_a.create(len(VIDEO), **about(exam_id))).headers["Location"]
        third = len(VIDEO) // 3
        reader, writer = await raw_patch(client, url, 0, len(VIDEO))  # through a
        writer.write(VIDEO[:third])
        await writer.drain()  # ... and then nothing more: the connection hangs
        offset = await tus_b.offset(url)
        newer = await tus_b.patch(url, offset, VIDEO[offset:])  # through b
        if newer.status == 409:  # the older one's last bytes reached the disk meanwhile
            assert newer.code == "offset_mismatch", newer
            offset = newer.body["error"]["details"]["offset"]
            newer = await tus_b.patch(url, offset, VIDEO[offset:])
        assert newer.status == 204, newer
        assert offset <= third  # the older request kept what it received, no more
        assert await status_line(reader) == 409  # cut off on a: upload_interrupted
        writer.close()
        assert await tus_a.offset(url) == len(VIDEO)


async def test_two_patches_at_once_on_two_nodes_one_wins(nodes: Nodes) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as client:
        exam_id, _ = await candidate_at(nodes.a, admin, client)
        tus_a, tus_b = Tus(client), Tus(on(client, nodes.b))
        url = (await tus_a.create(len(VIDEO), **about(exam_id))).headers["Location"]
        replies = await asyncio.gather(tus_a.patch(url, 0, VIDEO), tus_b.patch(url, 0, VIDEO))
        statuses = sorted(r.status for r in replies)
        assert statuses.count(204) <= 1 and set(statuses) <= {204, 409, 423}, replies
        offset = await tus_b.offset(url)
        if offset < len(VIDEO):
            await tus_a.send_all(url, VIDEO, 256 * KIB, start=offset)
        assert await tus_b.offset(url) == len(VIDEO)

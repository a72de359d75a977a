"""The calls that touch a candidate's media reach the node of that media (decision 0026),
with two nodes (two apps in this process) on one PostgreSQL database and one real Redis:

- an attempt's deadlines follow its candidate's camera: the reading time is armed by an
  HTTP call node a handled, the candidate's camera opens on node b; b takes the deadline
  over, so "recording starts when the reading ends" fires on b and the formal take
  records there (real aiortc camera, frames written); a proctor's extra time through
  node a moves the deadline but leaves it with b (its home); a's timer does nothing;
- a tus upload's ``Location`` carries ``c=<candidate id>`` (HEAD and PATCH follow it to
  the node that holds the bytes), and every call tolerates ``c=`` (also one whose query
  is checked).

Time is the test's (``MovableTime``, shared by both nodes as one clock would be).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
import pytest

from tests.support import files
from tests.support.analysis import segment_file
from tests.support.api import api_client
from tests.support.clock import MovableTime, wait_until
from tests.support.exams import Candidate, candidate_client, open_socket
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.proctoring import UNIT, enter_formal, exam_with_proctor, socket_of
from tests.support.redis import key_prefix, need_redis
from tests.support.server import Client, RunningServer, running_server, server_settings
from tests.support.tus import KIB, Tus, about, candidate_at
from web.keys import ATTEMPT_RUNNER, SHARED, TAKE_RECORDS

# Both nodes on one PostgreSQL database: the records a cluster shares.
pytestmark = pytest.mark.parametrize("app_backend", ["postgresql"], indirect=True)

VIDEO = files.mp4(frames=30, width=320, height=240, noise=True)


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

    def settings(node: str) -> Any:
        return server_settings(
            tmp_path / node,
            password_hash_memory_kib=1024,
            reconnect_grace_s=120,
            redis_url=url,
            redis_prefix=prefix,
            node_id=node,
            node_lease_s=5,
        )

    async with running_server(settings("a"), clock) as a:
        async with running_server(settings("b"), clock) as b:
            yield Nodes(a, b, clock, prefix)


async def owner_of(nodes: Nodes, attempt_id: str) -> str | None:
    redis = nodes.a.app[SHARED].redis
    assert redis is not None
    found = await redis.hget(nodes.prefix + "deadlines:owner", attempt_id)
    return None if found is None else str(found)


def frames_of(path: Path) -> int:
    with av.open(str(path)) as f:
        return sum(1 for _ in f.decode(video=0))


async def test_the_reading_deadline_follows_the_camera_to_its_node(nodes: Nodes) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as proctor:
        exam_id, _ = await exam_with_proctor(nodes.a, admin, proctor)
        async with candidate_client(nodes.a, UNIT) as c, socket_of(nodes.a, proctor) as wall:
            await moves_with_the_camera(nodes, exam_id, c, wall)


async def moves_with_the_camera(nodes: Nodes, exam_id: str, c: Candidate, wall: Client) -> None:
    # The device check was on node a; that page is gone (its camera session waits out its
    # grace on a, recording nothing).
    for pc in c.device.pcs:
        await pc.close()
    await c.device.sio.disconnect()
    # The question page's call reaches node a (round robin): a arms the reading time.
    attempt = await enter_formal(c, exam_id)
    attempt_id = attempt["attempt_id"]
    assert await owner_of(nodes, attempt_id) == "a"
    # The page's camera (its socket carries c=) is on node b: b takes the deadline.
    page = await open_socket(nodes.b, c.api)
    try:
        await page.publish([SyntheticVideo(), SyntheticAudio()])

        async def b_owns() -> bool:
            return await owner_of(nodes, attempt_id) == "b"

        await wait_until(b_owns, 10, "node b owns the reading deadline")
        # A proctor's step through node a (2 more minutes) moves the time, not the owner.
        target = {"exam_id": exam_id, "candidate_id": c.account.id}
        moved = await wall.call("extend_time", target | {"minutes": 2})
        deadline = moved["reading_deadline"]
        assert deadline == attempt["reading"]["deadline"] + 120, moved
        assert await owner_of(nodes, attempt_id) == "b"
        runner_a, runner_b = nodes.a.app[ATTEMPT_RUNNER], nodes.b.app[ATTEMPT_RUNNER]
        nodes.clock.advance(deadline - nodes.clock())  # the reading time is over
        started = await page.wait_event("take_started", purpose="formal", timeout=15)
        take_id = started["take_id"]
        assert started["started_at"] == pytest.approx(deadline, abs=0.3)
        await nodes.b.recorded(take_id, 0.5)  # b's recorder writes the camera's frames
        # b's timer fired it (twice: at the old time, where it set itself again); a's none
        assert runner_a.fired == 0 and runner_b.fired >= 1, (runner_a.fired, runner_b.fired)
        stored = await page.call("stop_take", {"take_id": take_id})
        assert stored.get("state") == "stored", stored
        take = await nodes.b.app[TAKE_RECORDS].get(take_id)
        assert take is not None and take.manifest is not None
        assert take.node == "b"
        path = segment_file(nodes.b.settings.data_dir, take_id, take.manifest["segments"][0])
        assert await asyncio.to_thread(frames_of, path) > 0
    finally:
        await page.close()


async def test_an_uploads_location_routes_to_its_candidates_node(nodes: Nodes) -> None:
    async with api_client(nodes.a) as admin, api_client(nodes.a) as who:
        exam_id, account = await candidate_at(nodes.a, admin, who)
        tus = Tus(who)
        created = await tus.create(len(VIDEO), **about(exam_id, device_id="d1"))
        assert created.status == 201, created
        url = created.headers["Location"]
        where = urlsplit(url)
        assert parse_qs(where.query) == {"c": [account.id]}, url
        # HEAD and PATCH on that URL (the query is the load balancer's, tolerated)
        assert (await tus.send_all(url, VIDEO, 64 * KIB)).status == 204
        assert await tus.offset(url) == len(VIDEO)
        # c= on a call whose query is checked, and the listing's URL carries it too
        listing = await who.call("GET", f"/api/exams/{exam_id}/uploads?device_id=d1&c={account.id}")
        assert listing.status == 200, listing
        begun = await tus.create(len(VIDEO), **about(exam_id, "二.mp4", device_id="d1"))
        listing = await who.call("GET", f"/api/exams/{exam_id}/uploads?device_id=d1")
        [mine] = listing.body["this_device"]
        assert mine["url"] == begun.headers["Location"] and "?c=" in mine["url"]

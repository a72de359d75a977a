"""A take continues on another node when its node dies (issue #15), with real nodes on one
PostgreSQL database, one Redis and one S3 bucket (SeaweedFS):

node a (a subprocess) records a candidate's take (a real aiortc client) -- one segment
finished and shipped whole, the next one's pieces shipping -- and is killed with SIGKILL.
The candidate's page reaches node b (and, as a second page, node c) and opens a new camera
session there: neither continues the take while a's heartbeat lease lasts (that would
record it twice); once it has run out, exactly one of them claims the take, brings a's
part from the store and records on in new segments, numbered after a's, on the take's
clock, after a ``node_lost`` gap. Stopped there: one manifest, a's segments (their bytes
those of the objects in the store) + the gap + the new ones, no overlap, every file
decodes; the page's local copy fills the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
import socketio

from exams.catalog.take_moves import Outcome
from exams.catalog.takes import Take
from media.shipping import PIECES
from storage.objects import open_store
from tests.integration.test_fills import copy_of, fill_values, gaps, send_fill
from tests.integration.test_second_camera import UNIT, question, second_camera_exam
from tests.support import postgres, seaweed
from tests.support.api import ApiClient, api_client, log_in
from tests.support.clock import wait_until
from tests.support.exams import through_journey, verify_for_exam
from tests.support.fill_media import fill_body
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import ServerProcess, start_server
from tests.support.redis import key_prefix, need_redis, redis_client
from tests.support.server import (
    Client,
    RunningServer,
    connected_client,
    running_server,
    server_settings,
    socket_connect,
)
from web.keys import HUB, SIGNALING, TAKE_RECORDS

# The nodes on one PostgreSQL database: the records a cluster shares.
pytestmark = pytest.mark.parametrize("app_backend", ["postgresql"], indirect=True)

LEASE_S = 2
GRACE_S = 120  # the orphan sweep (a survivor finishing the take) must not come first
WITHIN_S = 45.0


def node_settings(data: Path, node: str, prefix: str, storage: dict[str, Any]) -> Any:
    return server_settings(
        data,
        password_hash_memory_kib=1024,
        redis_url=need_redis(),
        redis_prefix=prefix,
        node_id=node,
        node_lease_s=LEASE_S,
        reconnect_grace_s=GRACE_S,
        **storage,
    )


async def record_of(server: RunningServer, take_id: str) -> Take:
    found = await server.app[TAKE_RECORDS].get(take_id)
    assert found is not None
    return found


@asynccontextmanager
async def same_browser_on(client: Client, server: RunningServer) -> AsyncIterator[Client]:
    """The candidate's browser (its log-in cookie) with a socket to another node, as the
    load balancer sends it there when its node is gone."""
    cookie = "; ".join(f"{c.key}={c.value}" for c in client.http.cookie_jar)
    sio = socketio.AsyncClient(reconnection=False)
    other = Client(server.url, client.http, sio)

    @sio.on("*")
    async def any_event(event: str, data: Any) -> None:
        other.events.append((event, data))

    await socket_connect(sio, server.url, {"Cookie": cookie})
    try:
        yield other
    finally:
        for pc in other.pcs:
            await pc.close()
        await sio.disconnect()


@dataclass
class Cluster:
    a: ServerProcess  # killed mid-take
    survivors: list[RunningServer]
    store: Any
    lease_key: str  # a's heartbeat in Redis


@asynccontextmanager
async def cluster(tmp_path: Path, *survivors: str) -> AsyncIterator[Cluster]:
    """Node a (a subprocess, to kill) and the survivors (in this process) on one
    PostgreSQL database, one Redis and one S3 bucket."""
    url = await asyncio.to_thread(seaweed.ready_url)
    if url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    access, secret = seaweed.keys()
    database_url = postgres.active_url()
    assert database_url is not None
    prefix = key_prefix()
    storage = {
        "storage_url": url,
        "storage_access_key": access,
        "storage_secret_key": secret,
        "storage_piece_ms": 500,
    }
    a_args = [
        *("--database-url", database_url, "--redis-url", need_redis()),
        *("--redis-prefix", prefix, "--node-id", "a", "--node-lease-s", str(LEASE_S)),
        *("--reconnect-grace-s", str(GRACE_S), "--storage-url", url),
        *("--storage-access-key", access, "--storage-secret-key", secret),
        *("--storage-piece-ms", "500"),
        # the take's limit (set where it starts): longer than the test on a busy machine
        *("--device-check-limit-s", "600"),
    ]
    store = open_store(url, access, secret)
    try:
        async with contextlib.AsyncExitStack() as stack:
            nodes = [
                await stack.enter_async_context(
                    running_server(node_settings(tmp_path / n, n, prefix, storage))
                )
                for n in survivors
            ]
            a = await asyncio.to_thread(start_server, tmp_path / "a", *a_args)
            try:
                yield Cluster(a, nodes, store, prefix + "node:a")
            finally:
                a.stop()
    finally:
        await store.close()


async def test_a_take_continues_on_another_node_after_its_node_is_killed(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, "b", "c") as nodes:
        b, c = nodes.survivors
        async with connected_client(nodes.a) as client:
            take_id = await record_and_kill(nodes.a, client, nodes.store)
            async with redis_client() as redis:
                stored, winner, figures = await continue_elsewhere(
                    client, take_id, b, c, redis, nodes.lease_key
                )
            await check_manifest(stored, nodes.store, tmp_path, figures)
            await fill_the_gap(client, winner, stored, tmp_path)
    print("TAKE-FAILOVER-FIGURE", json.dumps(figures))


async def record_and_kill(a: ServerProcess, client: Client, store: Any) -> str:
    """The candidate records on ``a``: one segment finished (whole in the store), the next
    one's pieces shipping; then ``a`` is killed (SIGKILL). The take's id."""
    session_id, first_pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    assert take.get("state") == "recording", take
    key = f"recordings/{take['take_id']}/"

    async def recording() -> bool:
        return len(await store.list(key + "segment-000.webm" + PIECES)) >= 2

    await wait_until(recording, WITHIN_S, "pieces of the first segment")
    await first_pc.close()  # a new connection: the first segment is finished
    await client.publish([SyntheticVideo(), SyntheticAudio()], session_id=session_id)

    async def shipped() -> bool:
        first = await store.head(key + "segment-000.webm")
        pieces = await store.list(key + "segment-001.webm" + PIECES)
        return first is not None and len(pieces) >= 3

    await wait_until(shipped, WITHIN_S, "the first segment whole and pieces of the second")
    await asyncio.to_thread(a.kill)
    for pc in client.pcs:  # the browser's connection to the dead node fails
        await pc.close()
    return str(take["take_id"])


async def continue_elsewhere(
    client: Client, take_id: str, b: RunningServer, c: RunningServer, redis: Any, lease: str
) -> tuple[dict[str, Any], RunningServer, dict[str, Any]]:
    """The page opens a camera session on b and on c while a's lease lasts; once it runs
    out one of them continues the take; stopped there. (stored summary, winner, figures)"""
    # A kill and a reconnect could outlast a short lease on a busy machine: the lease is
    # held until both pages are there, then left to run its course.
    assert await redis.persist(lease), "a's lease ran out before the test could hold it"
    owner = (await record_of(b, take_id)).owner
    async with same_browser_on(client, b) as on_b, same_browser_on(client, c) as on_c:
        await asyncio.gather(
            on_b.publish([SyntheticVideo(), SyntheticAudio()]),
            on_c.publish([SyntheticVideo(), SyntheticAudio()]),
        )
        followers = [n.app[SIGNALING].follower for n in (b, c)]
        assert all(f is not None for f in followers)

        def both_wait() -> bool:
            return all(f is not None and f.waiting_on(owner) == "a" for f in followers)

        await wait_until(both_wait, WITHIN_S, "b and c wait for a's lease")
        tasks = [f.following(owner) for f in followers if f is not None]
        # a is alive as far as anyone can tell: nobody records its take
        assert (await record_of(b, take_id)).node == "a"
        assert b.app[HUB].written_s(take_id) == {} == c.app[HUB].written_s(take_id)
        loop = asyncio.get_running_loop()
        assert await redis.pexpire(lease, LEASE_S * 1000)
        lease_from = loop.time()
        outcomes = await asyncio.gather(*[t for t in tasks if t is not None])
        continued_s = loop.time() - lease_from
        assert sorted(outcomes) == sorted([Outcome.CONTINUED, Outcome.TAKEN]), outcomes
        assert not await redis.exists(lease), "continued while a's lease lasted"
        winner, loser = (b, c) if outcomes[0] is Outcome.CONTINUED else (c, b)
        page = on_b if winner is b else on_c
        assert (await record_of(winner, take_id)).node == winner.settings.node_id
        assert loser.app[HUB].written_s(take_id) == {}
        started = await page.wait_event("take_started", timeout=WITHIN_S, take_id=take_id)
        assert started["state"] == "recording", started
        hub = winner.app[HUB]
        before = hub.written_s(take_id)["primary"]  # a's part, brought here
        await wait_until(
            lambda: hub.written_s(take_id)["primary"] >= before + 2.0,
            WITHIN_S,
            "two seconds of new media on the node that continued",
        )
        stored: dict[str, Any] = await page.call("stop_take", {"take_id": take_id})
    assert stored.get("state") == "stored", stored
    figures = {
        "continued_after_lease_s": round(continued_s, 2),
        "lease_s": LEASE_S,
        "prior_recorded_s": round(before, 2),
        "winner": winner.settings.node_id,
    }
    return stored, winner, figures


async def check_manifest(
    stored: dict[str, Any], store: Any, tmp_path: Path, figures: dict[str, Any]
) -> None:
    manifest = stored["manifest"]
    segments = manifest["segments"]
    files = [s["file"] for s in segments]
    assert files[:3] == ["segment-000.webm", "segment-001.webm", "segment-002.webm"], files
    assert [s["reason"] for s in segments[:3]] == ["recovered", "recovered", "node_lost"]
    assert all(s["picture_s"] > 0.3 for s in segments), segments
    a_end = round(segments[1]["start_s"] + segments[1]["duration_s"], 3)
    [lost] = [g for g in manifest["gaps"] if g["reason"] == "node_lost"]
    assert lost == {"start_s": a_end, "end_s": segments[2]["start_s"], "reason": "node_lost"}
    # Nothing recorded twice: each segment starts after the one before ends (take clock).
    spans = [(s["start_s"], s["start_s"] + s["duration_s"]) for s in segments]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.001, spans
    figures["node_lost_gap_s"] = round(lost["end_s"] - lost["start_s"], 2)
    figures["segments"] = files
    key = f"recordings/{stored['take_id']}/"
    for segment in segments:  # the stored take went up: each object is the manifest's file

        async def there(segment: dict[str, Any] = segment) -> bool:
            info = await store.head(key + segment["file"])
            return info is not None and info.sha256 == segment["sha256"]

        await wait_until(there, WITHIN_S, f"{segment['file']} in the store with its hash")
        data = await store.read(key + segment["file"])
        assert hashlib.sha256(data).hexdigest() == segment["sha256"]
        path = tmp_path / segment["file"]
        path.write_bytes(data)
        with av.open(str(path)) as f:
            assert sum(1 for _ in f.decode(video=0)) > 5, segment


async def fill_the_gap(
    client: Client, winner: RunningServer, stored: dict[str, Any], tmp_path: Path
) -> None:
    """The page's local copy fills the seconds no node recorded."""
    take_id = stored["take_id"]
    listed = await gaps(client.http, winner.url, take_id)
    [lost] = [g for g in listed["cameras"]["primary"] if g["reason"] == "node_lost"]
    parts, started_at_ms = await copy_of(tmp_path, stored)
    base = stored["started_at"] * 1000
    from_ms, to_ms = base + lost["start_s"] * 1000, base + lost["end_s"] * 1000
    body, head = fill_body(parts, from_ms, to_ms)
    values = fill_values(stored, started_at_ms, from_ms, to_ms, head)
    status, reply = await send_fill(client.http, winner.url, body, **values)
    assert status == 204, reply
    after = await gaps(client.http, winner.url, take_id)
    assert not [g for g in after["cameras"]["primary"] if g["reason"] == "node_lost"], after


def through(api: ApiClient, node: Any) -> ApiClient:
    """The same browser (its cookie) talking to another node."""
    other = copy.copy(api)
    other.server = node
    return other


@asynccontextmanager
async def socket_to(node: Any, api: ApiClient) -> AsyncIterator[Client]:
    """A device's socket to ``node`` on ``api``'s log-in; its peer connections closed after."""
    sio = socketio.AsyncClient(reconnection=False)
    device = Client(node.url, api.http, sio)

    @sio.on("*")
    async def any_event(event: str, data: Any) -> None:
        device.events.append((event, data))

    cookie = f"examcast_session={api.cookie()}"
    await socket_connect(sio, node.url, {"Cookie": cookie})
    try:
        yield device
    finally:
        for pc in device.pcs:
            await pc.close()
        with contextlib.suppress(Exception):
            await sio.disconnect()


async def test_the_phone_follows_its_take_to_the_other_node(tmp_path: Path) -> None:
    """A formal take with the phone as the second camera, on a; a killed; the page and the
    phone reach b: the take goes on there with both cameras, each after its own part."""
    async with cluster(tmp_path, "b") as nodes:
        [b] = nodes.survivors
        exam_id = await second_camera_exam(b)  # the records are shared: made through b
        q1 = question(exam_id, "q1")
        async with api_client(b) as api, api_client(b) as phone_api:
            who = await through_journey(b, api, UNIT)
            await verify_for_exam(api, who, exam_id)
            assert (await log_in(phone_api, who.phone)).status == 200
            on_a, phone_on_a = through(api, nodes.a), through(phone_api, nodes.a)
            async with socket_to(nodes.a, api) as page, socket_to(nodes.a, phone_api) as phone:
                assert (await on_a.call("POST", q1 + "/formal")).status == 200
                await page.publish([SyntheticVideo(), SyntheticAudio()])
                qr = await on_a.call("POST", q1 + "/pairing")
                redeemed = await phone_on_a.call(
                    "POST", "/api/pairing/redeem", {"token": qr.body["token"]}
                )
                pairing_id = redeemed.body["pairing_id"]
                opened = {"role": "secondary", "pairing_id": pairing_id}
                phone_session, _ = await phone.publish(
                    [SyntheticVideo(), SyntheticAudio()], open_args=opened
                )
                await page.wait_event("secondary_state", state="connected", timeout=WITHIN_S)
                ready = await phone.call("secondary_ready", {"session_id": phone_session})
                assert ready["state"] == "ready", ready
                started = await on_a.call("POST", q1 + "/takes", {"kind": "formal"})
                take_id = started.body["question"]["attempt"]["recording"]["take_id"]
                key = f"recordings/{take_id}/"

                async def both_shipping() -> bool:
                    found = [
                        await nodes.store.list(key + name + PIECES)
                        for name in ("segment-000.webm", "secondary/segment-000.webm")
                    ]
                    return all(len(pieces) >= 2 for pieces in found)

                await wait_until(both_shipping, WITHIN_S, "pieces of both cameras")
                await asyncio.to_thread(nodes.a.kill)
            # Both devices reach b (the phone with its scan's pairing, as its page does).
            async with socket_to(b, api) as page, socket_to(b, phone_api) as phone:
                await page.publish([SyntheticVideo(), SyntheticAudio()])
                await phone.publish([SyntheticVideo(), SyntheticAudio()], open_args=opened)
                await page.wait_event("take_started", take_id=take_id, timeout=WITHIN_S)
                hub = b.app[HUB]

                def both_record() -> bool:
                    return len(hub.written_s(take_id)) == 2

                await wait_until(both_record, WITHIN_S, "both cameras record on b")
                before = hub.written_s(take_id)
                await wait_until(
                    lambda: all(hub.written_s(take_id)[n] >= before[n] + 1.5 for n in before),
                    WITHIN_S,
                    "new media of both cameras on b",
                )
                stopped = await api.call("POST", q1 + f"/takes/{take_id}/stop")
    assert stopped.status == 200, stopped
    manifest = stopped.body["take"]["manifest"]
    for name, part in (("primary", manifest), ("secondary", manifest["cameras"]["secondary"])):
        folder = "" if name == "primary" else "secondary/"
        segments = part["segments"]
        assert [s["file"] for s in segments] == [
            f"{folder}segment-000.webm",
            f"{folder}segment-001.webm",
        ], (name, segments)
        assert [s["reason"] for s in segments] == ["recovered", "node_lost"], segments
        a_end = round(segments[0]["start_s"] + segments[0]["duration_s"], 3)
        [lost] = [g for g in part["gaps"] if g["reason"] == "node_lost"]
        assert lost["start_s"] == a_end and lost["end_s"] == segments[1]["start_s"], part
        assert segments[1]["start_s"] >= a_end
        assert all(s["picture_s"] > 0.3 for s in segments), segments

"""Takes know their node (issue #15), with real nodes on one PostgreSQL database, one Redis
and (for a dead node's media) one S3 bucket:

- a node that restarts finishes only its own unfinished takes: the take another live node
  is recording goes on recording there (before, every node's start-up ended them all);
- a node killed with SIGKILL mid-take: once its lease has run out and the candidate has not
  come back within the grace, a survivor claims the take and finishes it with the dead
  node's segments from the store (the finished one whole, the one being recorded joined
  from its pieces), stored with ``server_restart`` and its trailing gap, hashes checked.

Real aiortc candidates; the survivors' time is the test's (``server.advance``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from exams.catalog.takes import Take, TakeState
from media.shipping import PIECES
from storage.objects import open_store
from tests.support import postgres, seaweed
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import ServerProcess, start_server
from tests.support.redis import key_prefix, need_redis, redis_client
from tests.support.server import RunningServer, connected_client, running_server, server_settings
from web.keys import METRICS, TAKE_RECORDS, TAKES

# Both nodes on one PostgreSQL database: the records a cluster shares.
pytestmark = pytest.mark.parametrize("app_backend", ["postgresql"], indirect=True)

GRACE_S = 30  # the candidate's time to come back; the test moves the survivor's clock past it
WITHIN_S = 30.0


def node_settings(data: Path, node: str, prefix: str, **extra: Any) -> Any:
    return server_settings(
        data,
        password_hash_memory_kib=1024,
        redis_url=need_redis(),
        redis_prefix=prefix,
        node_id=node,
        node_lease_s=1,
        reconnect_grace_s=GRACE_S,
        **extra,
    )


async def record_of(server: RunningServer, take_id: str) -> Take:
    found = await server.app[TAKE_RECORDS].get(take_id)
    assert found is not None
    return found


@pytest.fixture
async def node_a(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, str]]:
    prefix = key_prefix()
    async with running_server(node_settings(tmp_path / "a", "a", prefix)) as a:
        yield a, prefix


async def test_a_node_restarting_leaves_the_takes_other_live_nodes_record_alone(
    node_a: tuple[RunningServer, str], tmp_path: Path
) -> None:
    a, prefix = node_a
    b_settings = node_settings(tmp_path / "b", "b", prefix)
    async with running_server(b_settings):
        pass  # node b was up, then stops (its takes would be its own to finish)
    async with connected_client(a) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await a.recorded(take["take_id"], 1.0)
        assert (await record_of(a, take["take_id"])).node == "a"

        async with running_server(b_settings) as b:  # node b starts again while a records
            assert (await record_of(b, take["take_id"])).state is TakeState.RECORDING
            b.advance(GRACE_S + 1)  # a is alive: its take is not an orphan, however long
            assert await b.app[TAKES].adopt_orphans() == []

        await a.recorded(take["take_id"], 2.0)  # a goes on recording the same take
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
    assert stored["state"] == "stored" and stored["stop_reason"] == "stopped", stored
    assert [s["reason"] for s in stored["manifest"]["segments"]] == ["start"]
    assert (await record_of(a, take["take_id"])).node == "a"


async def test_a_killed_nodes_take_is_finished_by_one_survivor_from_the_store(
    tmp_path: Path,
) -> None:
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
    store = open_store(url, access, secret)
    survivors = [node_settings(tmp_path / n, n, prefix, **storage) for n in ("b", "c")]
    a_args = [
        *("--database-url", database_url, "--redis-url", need_redis()),
        *("--redis-prefix", prefix, "--node-id", "a", "--node-lease-s", "1"),
        *("--reconnect-grace-s", str(GRACE_S), "--storage-url", url),
        *("--storage-access-key", access, "--storage-secret-key", secret),
        *("--storage-piece-ms", "500"),
    ]
    try:
        async with running_server(survivors[0]) as b, running_server(survivors[1]) as c:
            a: ServerProcess = await asyncio.to_thread(start_server, tmp_path / "a", *a_args)
            try:
                take = await record_and_kill(a, store)
            finally:
                a.stop()
            assert (await record_of(b, take["take_id"])).state is TakeState.RECORDING

            async with redis_client() as redis:

                async def lease_over() -> bool:
                    return not await redis.exists(prefix + "node:a")

                await wait_until(lease_over, 10, "node a's lease runs out")

            async def finished() -> bool:
                # Each look moves the survivors' clocks on: their sweeps (due at once) see
                # the take's node dead, then past the grace. A sweep still running when
                # time moves again only sees a later now: no pause is needed between looks.
                b.advance(GRACE_S / 3)
                c.advance(GRACE_S / 3)
                return (await record_of(b, take["take_id"])).state is TakeState.STORED

            await wait_until(finished, WITHIN_S, "a survivor finishes the take")
            done = await record_of(b, take["take_id"])
            summary = done.summary()
            assert done.node in ("b", "c") and done.stop_reason == "server_restart", summary
            winner = b if done.node == "b" else c
            counted = winner.app[METRICS].render().decode()
            assert 'examcast_takes_adopted_total{how="finished"} 1.0' in counted, counted
            manifest = summary["manifest"]
            segments = manifest["segments"]
            assert [s["file"] for s in segments] == ["segment-000.webm", "segment-001.webm"]
            assert all(s["picture_s"] > 0.5 for s in segments), segments
            # the reconnect's hole, then one from its last media until it was finished
            gap = manifest["gaps"][-1]
            last = segments[-1]
            assert [g["reason"] for g in manifest["gaps"]][-1:] == ["server_restart"], manifest
            assert gap["start_s"] == round(last["start_s"] + last["duration_s"], 3)
            prefix_key = f"recordings/{take['take_id']}/"
            for segment in segments:  # up again whole, with the manifest's hash
                await stored_with(store, prefix_key + segment["file"], segment["sha256"])
            second = await store.read(prefix_key + "segment-001.webm")
    finally:
        await store.close()
    assert hashlib.sha256(second).hexdigest() == segments[1]["sha256"]
    path = tmp_path / "second.webm"
    path.write_bytes(second)
    with av.open(str(path)) as f:
        assert sum(1 for _ in f.decode(video=0)) > 15


async def record_and_kill(a: ServerProcess, store: Any) -> dict[str, Any]:
    """A candidate records on node ``a``: one segment finished (whole in the store), the next
    one's pieces shipping; then ``a`` is killed (SIGKILL). The take's summary at start."""
    async with connected_client(a) as client:
        session_id, first_pc = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take: dict[str, Any] = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        prefix = f"recordings/{take['take_id']}/"

        async def recording() -> bool:
            return len(await store.list(prefix + "segment-000.webm" + PIECES)) >= 2

        await wait_until(recording, WITHIN_S, "pieces of the first segment")
        await first_pc.close()  # a new connection: the first segment is finished
        await client.publish([SyntheticVideo(), SyntheticAudio()], session_id=session_id)

        async def shipped() -> bool:
            first = await store.head(prefix + "segment-000.webm")
            pieces = await store.list(prefix + "segment-001.webm" + PIECES)
            return first is not None and len(pieces) >= 3

        await wait_until(shipped, WITHIN_S, "the first segment whole and pieces of the second")
        await asyncio.to_thread(a.kill)
    return take


async def stored_with(store: Any, key: str, sha256: str) -> None:
    async def there() -> bool:
        info = await store.head(key)
        return info is not None and info.sha256 == sha256

    await wait_until(there, WITHIN_S, f"{key} in the store with its hash")

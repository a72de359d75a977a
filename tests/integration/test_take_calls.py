"""A stop asked on one node of a take another node records (issue #15): the candidate's
page after the load balancer's ring changed, a proctor's wall on another node, a deadline
fired elsewhere. The recording node stops and stores it (asked through Redis); the asking
node answers with the stored take. Two nodes on one PostgreSQL database and one Redis, a
real aiortc candidate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from exams.catalog.takes import Take, TakeState
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.redis import key_prefix, need_redis
from tests.support.server import (
    Client,
    RunningServer,
    connected_client,
    running_server,
    server_settings,
)
from web.keys import TAKE_RECORDS, TAKES

pytestmark = pytest.mark.parametrize("app_backend", ["postgresql"], indirect=True)


def node_settings(data: Path, node: str, prefix: str) -> Any:
    return server_settings(
        data,
        password_hash_memory_kib=1024,
        redis_url=need_redis(),
        redis_prefix=prefix,
        node_id=node,
        node_lease_s=2,
    )


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    prefix = key_prefix()
    async with running_server(node_settings(tmp_path / "a", "a", prefix)) as a:
        async with running_server(node_settings(tmp_path / "b", "b", prefix)) as b:
            yield a, b


async def recording(client: Client) -> dict[str, Any]:
    """A device check the candidate records on the node ``client`` is connected to."""
    session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
    take: dict[str, Any] = await client.call(
        "start_take", {"session_id": session_id, "purpose": "device_check"}
    )
    return take


def frames(path: Path) -> int:
    with av.open(str(path)) as f:
        return sum(1 for _ in f.decode(video=0))


async def test_a_stop_asked_on_another_node_is_done_by_the_recording_node(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    a, b = nodes
    async with connected_client(a) as client:
        take = await recording(client)
        await a.recorded(take["take_id"], 1.0)
        owner = (await a.app[TAKE_RECORDS].get(take["take_id"])).owner  # type: ignore[union-attr]

        stored: Take = await b.app[TAKES].stop(take["take_id"], "stopped", owner)

    assert stored.state is TakeState.STORED and stored.stop_reason == "stopped", stored
    assert stored.node == "a"
    assert stored.manifest is not None
    [segment] = stored.manifest["segments"]
    assert frames(a.settings.data_dir / "recordings" / take["take_id"] / segment["file"]) > 10


async def test_two_stops_at_once_on_both_nodes_store_the_take_once(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    a, b = nodes
    async with connected_client(a) as client:
        take = await recording(client)
        await a.recorded(take["take_id"], 1.0)
        owner = (await a.app[TAKE_RECORDS].get(take["take_id"])).owner  # type: ignore[union-attr]
        here, there = await asyncio.gather(
            client.call("stop_take", {"take_id": take["take_id"]}),
            b.app[TAKES].stop(take["take_id"], "stopped", owner),
        )
    assert here["state"] == "stored", here
    assert there.state is TakeState.STORED
    assert there.manifest == here["manifest"]  # one store, seen from both nodes


async def test_a_stop_of_someone_elses_take_on_another_node_is_refused(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    a, b = nodes
    async with connected_client(a) as client:
        take = await recording(client)
        with pytest.raises(Exception) as refused:
            await b.app[TAKES].stop(take["take_id"], "stopped", "someone-else")
        assert type(refused.value).__name__ in ("NotFound", "Forbidden"), refused.value
        still = await a.app[TAKE_RECORDS].get(take["take_id"])
        assert still is not None and still.state is TakeState.RECORDING
        await client.call("stop_take", {"take_id": take["take_id"]})

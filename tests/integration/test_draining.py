"""Draining a real ``examcast serve`` process (docs/deploy.md, "Operating a node"): SIGTERM
makes /readyz answer 503 and new media sessions be refused, the take recording goes on to
its end, then the process stops by itself; a second SIGTERM, or ``drain_timeout_s``, stops
it sooner with the take stored. Its log is JSON lines naming requests and takes."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.analysis import segment_file, sha256, video_frames
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import ServerProcess, start_server
from tests.support.server import Client, connected_client

TOKEN = "scrape-token-0123456789"


async def frames_written(server: ServerProcess) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/metrics", headers=headers) as response,
    ):
        text = await response.text()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "examcast_frames_written_total" and s.labels.get("kind") == "video"
    )


async def readyz(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as response:
        return response.status, await response.json()


async def recording(server: ServerProcess, client: Client) -> str:
    """A device check recording from ``client``, with frames written already: its take id."""
    session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    assert "take_id" in take, take

    async def some_written() -> bool:
        return await frames_written(server) >= 15

    await wait_until(some_written, 15, "video frames written")
    return str(take["take_id"])


async def draining(server: ServerProcess) -> None:
    async def said() -> bool:
        status, body = await readyz(server)
        return status == 503 and body["status"] == "draining"

    await wait_until(said, 10, "/readyz saying draining")


async def exited(server: ServerProcess, timeout: float = 30) -> int:
    return await asyncio.to_thread(server.process.wait, timeout)


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every log line but the start-up banner (printed, not logged) is one JSON object."""
    lines = [line for line in log.splitlines() if line and not line.startswith("examcast: ")]
    return [json.loads(line) for line in lines]


async def test_a_draining_node_refuses_new_sessions_and_stops_when_its_take_ends(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = await asyncio.to_thread(
        start_server, data, "--metrics-token", TOKEN, "--log-format", "json"
    )
    try:
        assert (await readyz(server))[0] == 200
        async with connected_client(server) as here:
            take_id = await recording(server, here)
            server.drain()
            await draining(server)
            async with connected_client(server) as newcomer:  # HTTP still answers
                refused = await newcomer.call("open_session", {"role": "primary"})
                assert refused["error"]["code"] == "draining", refused
            # the take goes on recording while the node drains
            before = await frames_written(server)

            async def more_written() -> bool:
                return await frames_written(server) >= before + 15

            await wait_until(more_written, 15, "frames written while draining")
            assert server.process.poll() is None, "stopped with a take recording"
            stored = await here.call("stop_take", {"take_id": take_id})
            assert stored["state"] == "stored", stored
            assert await exited(server) == 0  # by itself: nothing left to wait for
    finally:
        server.stop()

    [segment] = stored["manifest"]["segments"]
    path = segment_file(data, take_id, segment)
    assert sha256(path) == segment["sha256"]
    assert len(video_frames(path)) >= 30
    logged = json_lines(server.log())
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in logged)
    messages = [line["message"] for line in logged]
    assert any(m.startswith("draining:") for m in messages), messages
    assert any(m.startswith("drained:") for m in messages), messages
    # the take's lines name it; a request's lines name the request
    assert any(line.get("take_id") == take_id for line in logged), logged
    texted = [line for line in logged if line["message"].startswith("SMS to")]
    assert texted and all(re.fullmatch(r"[0-9a-f]{16}", line["request_id"]) for line in texted)


async def test_a_second_sigterm_stops_a_draining_node_at_once_and_the_take_is_kept(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = await asyncio.to_thread(start_server, data, "--metrics-token", TOKEN)
    try:
        async with connected_client(server) as here:
            take_id = await recording(server, here)
            cookie = "; ".join(f"{c.key}={c.value}" for c in here.http.cookie_jar)
            server.drain()
            await draining(server)
            server.drain()
            assert await exited(server) == 0
    finally:
        server.stop()
    assert "stopping now" in server.log()

    restarted = await asyncio.to_thread(start_server, data)
    try:
        async with (
            aiohttp.ClientSession(headers={"Cookie": cookie}) as http,
            http.get(f"{restarted.url}/api/takes/{take_id}") as response,
        ):
            summary = await response.json()
    finally:
        restarted.stop()
    assert summary["state"] == "stored", summary
    assert summary["stop_reason"] == "server_shutdown"
    assert "recovered" not in summary["manifest"]  # stored by the stop, not by a recovery


async def test_drain_timeout_stops_a_node_whose_take_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = await asyncio.to_thread(
        start_server, data, "--metrics-token", TOKEN, "--drain-timeout-s", "2"
    )
    try:
        async with connected_client(server) as here:
            await recording(server, here)
            server.drain()
            assert await exited(server) == 0  # no second signal: the timeout
    finally:
        server.stop()
    assert "drain_timeout_s passed with 1 take(s) still running" in server.log()

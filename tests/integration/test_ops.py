"""Operating a node: /livez, /readyz, /metrics (protected, and counting a real take) and
request ids (docs/deploy.md, "Operating a node")."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.spawn import free_port
from storage.redis_limits import RedisRateLimiter
from tests.support import files
from tests.support.api import api_client
from tests.support.clock import wait_until
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client, running_server, server_settings
from tests.support.tus import KIB, Tus, about, candidate_at
from web.drain import Readiness
from web.keys import DRAIN, HUB, PICTURES
from web.openapi import ERROR
from web.schema import problems

TOKEN = "scrape-token-0123456789"


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server Prometheus may scrape (``metrics_token`` set)."""
    settings = server_settings(tmp_path / "data", metrics_token=TOKEN)
    async with running_server(settings) as running:
        yield running


async def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/metrics", headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def error_code(body: dict[str, Any]) -> str:
    """The code of the one error shape (docs/api.md)."""
    assert problems(ERROR, body) == {}, body
    return str(body["error"]["code"])


async def test_livez_and_readyz_answer_in_json(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/livez") as live:
            assert live.status == 200
            assert await live.json() == {"status": "ok"}
        async with http.get(f"{server.url}/readyz") as ready:
            assert ready.status == 200
            body = await ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert "redis" not in body["checks"]  # none configured: nothing to reach


async def test_metrics_are_off_without_a_token_and_refused_without_the_right_one(
    server: RunningServer, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/metrics") as off:
            assert off.status == 404
            assert error_code(await off.json()) == "not_found"
    settings = server_settings(tmp_path / "other", metrics_token=TOKEN)
    async with running_server(settings) as watched, aiohttp.ClientSession() as http:
        for given in (None, "Bearer wrong-token-0123456789", TOKEN, f"Basic {TOKEN}"):
            headers = {} if given is None else {"Authorization": given}
            async with http.get(f"{watched.url}/metrics", headers=headers) as refused:
                assert refused.status == 401, given
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
                assert error_code(await refused.json()) == "unauthenticated"
        samples = await scrape(watched)
    node = watched.settings.node_name
    assert value(samples, "examcast_node_info", node=node) == 1
    assert value(samples, "examcast_draining") == 0
    # the database calls of start-up (migrations, recovery) are timed already
    assert value(samples, "examcast_backend_call_seconds_count", backend="sqlite", op="open") == 1


async def test_a_recorded_take_shows_in_the_metrics(watched: RunningServer) -> None:
    async with connected_client(watched) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        take = await client.call(
            "start_take", {"session_id": session_id, "purpose": "device_check"}
        )
        await watched.recorded(take["take_id"], 1.0)
        during = await scrape(watched)
        stored = await client.call("stop_take", {"take_id": take["take_id"]})
        assert stored["state"] == "stored", stored
        after = await scrape(watched)

    assert value(during, "examcast_media_sessions", role="primary") == 1
    assert value(during, "examcast_streams_recording") == 1
    assert value(during, "examcast_takes_in_flight") == 1
    assert value(during, "examcast_frames_written_total", kind="video") > 10
    assert value(during, "examcast_frames_written_total", kind="audio") > 10
    assert value(during, "examcast_recorder_lag_seconds_count") > 0
    assert value(after, "examcast_streams_recording") == 0
    assert value(after, "examcast_takes_in_flight") == 0
    assert value(after, "examcast_takes_ended_total", outcome="stored") == 1
    assert value(after, "examcast_takes_ended_total", outcome="failed") == 0
    # every frame of the file was counted as written
    written = sum(
        stream["frames"] for s in stored["manifest"]["segments"] for stream in s["streams"]
    )
    counted = value(after, "examcast_frames_written_total", kind="video") + value(
        after, "examcast_frames_written_total", kind="audio"
    )
    assert counted == written
    # the takes' records were written through the timed database
    assert value(after, "examcast_backend_call_seconds_count", backend="sqlite", op="SqliteTakes")
    assert value(after, "examcast_backend_errors_total", backend="sqlite", op="SqliteTakes") == 0
    # the process's own UDP sockets (the peer connection's) are seen
    assert value(during, "examcast_udp_sockets") >= 1
    # no series names a candidate, a take or a session
    for name, labels in after:
        for _, label in labels:
            assert take["take_id"] not in label and session_id not in label, (name, labels)


async def test_the_walls_pictures_show_in_the_metrics(watched: RunningServer) -> None:
    pictures = watched.app[PICTURES]
    async with connected_client(watched) as client:
        session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
        session = watched.app[HUB].get(session_id)
        assert session is not None
        handle = pictures.watch([session.owner])  # a proctor's wall opened on the candidate
        try:
            await wait_until(lambda: pictures.stats().pictures >= 2, 30, "two pictures")
            samples = await scrape(watched)
        finally:
            pictures.release(handle)
        after = await scrape(watched)
    assert value(samples, "examcast_wall_cameras") == 1
    assert value(samples, "examcast_wall_pictures_total", outcome="made") >= 2
    assert value(samples, "examcast_wall_picture_cpu_seconds_total") > 0
    assert value(samples, "examcast_wall_picture_age_max_seconds") > 0
    assert value(after, "examcast_wall_cameras") == 0  # nobody watches: nothing pictured


async def test_uploaded_bytes_are_counted(tmp_path: Path) -> None:
    settings = server_settings(
        tmp_path / "data", metrics_token=TOKEN, password_hash_memory_kib=1024
    )
    video = files.mp4(frames=10, width=320, height=240, noise=True)
    async with (
        running_server(settings) as server,
        api_client(server) as admin,
        api_client(server) as client,
    ):
        exam_id, _ = await candidate_at(server, admin, client)
        tus = Tus(client)
        created = await tus.create(len(video), **about(exam_id, device_id="d1", device_name="PC"))
        assert created.status == 201, created
        await tus.send_all(created.headers["Location"], video, 64 * KIB)
        samples = await scrape(server)
    assert value(samples, "examcast_upload_bytes_total", kind="tus") == len(video)


async def test_every_response_names_its_request(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        given = {"X-Request-Id": "lb-7f3a.42"}
        async with http.get(f"{server.url}/api/health", headers=given) as echoed:
            assert echoed.headers["X-Request-Id"] == "lb-7f3a.42"
        async with http.get(f"{server.url}/api/no-such-thing") as made:
            assert made.status == 404
            assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])
        for bad in ("x" * 65, "two words", "naïve"):
            async with http.get(f"{server.url}/livez", headers={"X-Request-Id": bad}) as fresh:
                assert re.fullmatch(r"[0-9a-f]{16}", fresh.headers["X-Request-Id"]), bad


async def test_readiness_needs_redis_when_there_is_one(server: RunningServer) -> None:
    """/readyz's Redis check against the real Redis, and one nobody listens at."""
    url = os.environ.get("EXAMCAST_TEST_REDIS_URL")
    if not url:
        pytest.skip("EXAMCAST_TEST_REDIS_URL is not set")
    reachable = RedisRateLimiter.from_url(url)
    unreachable = RedisRateLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0")
    drain = server.app[DRAIN]
    try:
        ready, body = await Readiness(drain, [("redis", reachable.ping)]).report()
        assert ready and body["status"] == "ready", body
        ready, body = await Readiness(
            drain, [("redis", reachable.ping), ("redis_2", unreachable.ping)]
        ).report()
        assert not ready and body["status"] == "unavailable", body
        assert body["checks"]["redis_2"] == {
            "ok": False,
            "ms": body["checks"]["redis_2"]["ms"],
            "error": "ConnectionError",
        }
    finally:
        await reachable.close()
        await unreachable.close()


async def test_a_draining_node_is_not_ready_and_refuses_new_media_sessions(
    server: RunningServer,
) -> None:
    async with connected_client(server) as here:
        await here.call("open_session", {"role": "primary"})
        server.app[DRAIN].begin()
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as ready:
            assert ready.status == 503
            assert (await ready.json())["status"] == "draining"
        async with connected_client(server) as newcomer:
            refused = await newcomer.call("open_session", {"role": "primary"})
            assert error_code(refused) == "draining"
        # a candidate already here (a page reloaded, a phone joining) carries on
        again = await here.call("open_session", {"role": "primary"})
        assert "session_id" in again, again

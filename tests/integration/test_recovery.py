"""A server killed mid-take loses at most the last moments: the take is recovered at restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import av

from tests.support.analysis import segment_file, sha256, video_frames
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.process import start_server
from tests.support.server import connected_client


async def test_take_recorded_when_the_server_is_killed_is_recovered_at_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = await asyncio.to_thread(start_server, data)
    try:
        async with connected_client(server) as client:
            session_id, _ = await client.publish([SyntheticVideo(), SyntheticAudio()])
            take = await client.call(
                "start_take", {"session_id": session_id, "purpose": "device_check"}
            )
            await asyncio.sleep(4)
            await asyncio.to_thread(server.kill)
            cookie = {c.key: c.value for c in client.http.cookie_jar}
    finally:
        server.stop()

    restarted = await asyncio.to_thread(start_server, data)
    try:
        async with connected_client(restarted) as other:
            url = f"{restarted.url}/api/takes/{take['take_id']}"
            async with other.http.get(url) as response:
                assert response.status == 404, "someone else's take"
        header = "; ".join(f"{k}={v}" for k, v in cookie.items())
        async with (
            aiohttp.ClientSession() as owner,
            owner.get(url, headers={"Cookie": header}) as response,
        ):
            summary: dict[str, Any] = await response.json()
    finally:
        restarted.stop()
        assert "recovered 1 take" in restarted.log()

    assert summary["state"] == "stored", summary
    assert summary["stop_reason"] == "server_restart"
    assert summary["manifest"]["recovered"] is True
    [segment] = summary["manifest"]["segments"]
    path = segment_file(data, take["take_id"], segment)
    assert sha256(path) == segment["sha256"]
    with av.open(str(path)) as f:
        assert f.duration is not None
        duration = f.duration / av.time_base
        f.seek(int(duration / 2 * av.time_base))  # the seek index is back
    assert 2.5 < duration <= 4.2
    frames = video_frames(path)
    assert len(frames) >= 0.95 * 30 * (duration - 0.1)
    assert not list(path.parent.glob("*.part"))


async def test_self_signed_tls_serves_https_with_the_same_certificate_after_restart(
    tmp_path: Path,
) -> None:
    import ssl

    data = tmp_path / "data"
    seen = []
    for _ in range(2):
        server = await asyncio.to_thread(start_server, data, "--tls", "self-signed", scheme="https")
        try:
            context = ssl.create_default_context(cafile=data / "tls" / "cert.pem")
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{server.url}/api/health", ssl=context) as response,
            ):
                assert response.status == 200
            seen.append((data / "tls" / "cert.pem").read_bytes())
        finally:
            server.stop()
    assert seen[0] == seen[1]

"""Stored takes stream over HTTP with Range support, to their owner only."""

from __future__ import annotations

from tests.support.analysis import segment_file
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import RunningServer, connected_client


async def test_owner_can_seek_in_a_stored_take_and_nobody_else_can(server: RunningServer) -> None:
    async with connected_client(server) as alice, connected_client(server) as bob:
        session_id, _ = await alice.publish([SyntheticVideo(), SyntheticAudio()])
        take = await alice.call("start_take", {"session_id": session_id, "purpose": "device_check"})
        await server.recorded(take["take_id"], 0.5)  # some media (kB: the ranges below fit)
        stored = await alice.call("stop_take", {"take_id": take["take_id"]})
        [segment] = stored["manifest"]["segments"]
        data = segment_file(server.settings.data_dir, take["take_id"], segment).read_bytes()
        url = f"{server.url}/api/takes/{take['take_id']}/segments/0"

        async with alice.http.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "video/webm"
            assert response.headers["Accept-Ranges"] == "bytes"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Cache-Control"] == "no-store"  # no replay from a cache
            assert await response.read() == data
        async with alice.http.get(url, headers={"Range": "bytes=100-199"}) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
            assert response.headers["Cache-Control"] == "no-store"
            assert await response.read() == data[100:200]
        async with alice.http.get(url, headers={"Range": f"bytes={len(data) + 10}-"}) as response:
            assert response.status == 416
        async with alice.http.get(
            f"{server.url}/api/takes/{take['take_id']}/segments/7"
        ) as response:
            assert response.status == 404
        async with bob.http.get(url) as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "not_found"

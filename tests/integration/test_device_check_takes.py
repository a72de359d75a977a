"""Device checks over a real peer connection: one recording at a time per account, only the
latest kept on disk and in the records, and playback for candidates only."""

from __future__ import annotations

import asyncio

from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Role
from tests.support.api import api_client
from tests.support.exams import add_unit, staff
from tests.support.media import SyntheticAudio, SyntheticVideo
from tests.support.server import Client, RunningServer, connected_client
from web.keys import TAKE_RECORDS


async def record(server: RunningServer, client: Client, session_id: str) -> dict[str, object]:
    take = await client.call("start_take", {"session_id": session_id, "purpose": "device_check"})
    assert take.get("state") == "recording", take
    await server.recorded(take["take_id"], 0.3)  # some media to store
    stored = await client.call("stop_take", {"take_id": take["take_id"]})
    assert stored.get("state") == "stored", stored
    return stored


async def test_only_the_latest_device_check_is_kept(server: RunningServer) -> None:
    async with connected_client(server) as candidate:
        session_id, _ = await candidate.publish([SyntheticVideo(), SyntheticAudio()])
        both = await asyncio.gather(
            candidate.call("start_take", {"session_id": session_id, "purpose": "device_check"}),
            candidate.call("start_take", {"session_id": session_id, "purpose": "device_check"}),
        )
        assert sorted(str(x.get("state", x.get("error", {}).get("code"))) for x in both) == [
            "conflict",
            "recording",
        ], both
        [started] = [x for x in both if x.get("state") == "recording"]
        await server.recorded(started["take_id"], 0.3)  # some media to store
        first = await candidate.call("stop_take", {"take_id": started["take_id"]})
        assert first["state"] == "stored"
        second = await record(server, candidate, session_id)
        third = await record(server, candidate, session_id)
        recordings = server.settings.recordings_dir
        for gone in (first, second):
            assert not (recordings / str(gone["take_id"])).exists()
            async with candidate.http.get(f"{server.url}/api/takes/{gone['take_id']}") as r:
                assert r.status == 404
        assert (recordings / str(third["take_id"])).is_dir()
        url = f"{server.url}/api/takes/{third['take_id']}/segments/0"
        async with candidate.http.get(url) as response:
            assert response.status == 200 and len(await response.read()) > 0


async def test_a_unit_admin_cannot_play_a_device_check_back(server: RunningServer) -> None:
    async with api_client(server) as client:
        await add_unit(server, "10001")
        admin = await staff(server, client, Role.UNIT_ADMIN, "10001")
        manifest = {"segments": [{"index": 0, "file": "segment-000.webm"}]}
        take = Take(
            "dc-admin",
            admin.owner,
            "s",
            "device_check",
            TakeState.STORED,
            1.0,
            2.0,
            manifest=manifest,
        )
        await server.app[TAKE_RECORDS].save(take)
        refused = await client.call("GET", "/api/takes/dc-admin/segments/0")
        assert refused.status == 403 and refused.code == "forbidden", refused
        assert "candidates" in refused.body["error"]["message"]

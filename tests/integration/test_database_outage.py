"""PostgreSQL unreachable for a few seconds: requests fail with a clear JSON error (503
``database_unavailable``), not a 500; nothing of them is written; once the server is back
the same app serves again without a restart (its pool connects again by itself)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.api import api_client, log_in, register
from tests.support.postgres import own_cluster
from tests.support.server import running_server, server_settings
from web.keys import DATABASE


async def test_requests_fail_clearly_while_postgresql_is_down_and_work_again_after(
    tmp_path: Path,
) -> None:
    with own_cluster() as cluster:
        settings = server_settings(
            tmp_path / "data", password_hash_memory_kib=1024, database_url=cluster.url
        )
        async with running_server(settings) as server, api_client(server) as client:
            created = await register(client, "13800138000", "李雷")
            assert created.status == 201
            assert (await log_in(client, "13800138000")).status == 200

            await asyncio.to_thread(cluster.stop)
            me = await client.call("GET", "/api/me")
            assert me.status == 503, me.body
            assert me.body["error"]["code"] == "database_unavailable"
            assert "try again" in me.body["error"]["message"]
            refused = await client.call("POST", "/api/sms-codes", {"phone": "13900139000"})
            assert refused.status == 503, refused.body
            assert refused.body["error"]["code"] == "database_unavailable"

            await asyncio.to_thread(cluster.start)
            back = await client.call("GET", "/api/me")
            assert back.status == 200 and back.body["account"]["name"] == "李雷"
            # The code refused while the database was down left nothing behind: the one
            # code kept is the registration's.
            codes = await server.app[DATABASE].call(
                lambda c: c.execute("SELECT count(*) FROM sms_codes").fetchone()[0]
            )
            assert codes == 1

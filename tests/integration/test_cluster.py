"""scripts/cluster: two real nodes behind a real HAProxy (docker/haproxy.cfg's rules) with
Redis, and PostgreSQL when the test one runs. Through HAProxy: /readyz answers, a page and
its modules load, and a candidate's Socket.IO connections with the same c= land on the
same node (those with other c= are spread), authenticated and able to open a camera session.
Ctrl-C (SIGINT) stops every process of it."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.spawn import free_port, sms_codes
from tests.support import postgres
from tests.support.server import sign_up

ROOT = Path(__file__).parents[2]
UP_WITHIN_S = 120.0

pytestmark = pytest.mark.skipif(
    not (shutil.which("haproxy") and shutil.which("redis-server")),
    reason="no haproxy or redis-server (scripts/setup --test installs them)",
)


@dataclass
class Front:
    """The cluster as a test's ``Server``: HAProxy's URL, SMS codes from any node's log."""

    url: str
    logs: Path
    info: dict[str, Any]

    def sms_code(self, phone: str) -> str:
        deadline = time.monotonic() + 10
        while True:
            codes = [
                c for log in self.logs.glob("node*.log") for c in sms_codes(log.read_text(), phone)
            ]
            if codes:
                return codes[-1]
            assert time.monotonic() < deadline, f"no SMS to {phone} in the nodes' logs"
            time.sleep(0.05)


@pytest.fixture
async def database() -> AsyncIterator[str]:
    if postgres.admin_url() is None:
        yield ""  # SQLite per node: the sockets' half of the test is skipped
        return
    yield await postgres.empty_database("cluster")


@pytest.fixture
def cluster(tmp_path: Path, database: str) -> Iterator[Front]:
    port = free_port()
    out = tmp_path / "cluster.out"
    args = [
        sys.executable,
        str(ROOT / "scripts" / "cluster.py"),
        "--nodes=2",
        f"--dir={tmp_path / 'cluster'}",
        f"--port={port}",
        f"--node-ports={free_port()},{free_port()}",
        f"--stats-port={free_port()}",
        f"--redis-port={free_port()}",
        f"--udp-base={20000 + port % 400 * 25}",
        "--udp-per-node=10",
        "--no-s3",  # SeaweedFS takes ~30 s to start and stop: tests/support/seaweed.py's
        "--json",
        *([f"--database-url={database}"] if database else ["--no-postgres"]),
        "--",
        "--password-hash-memory-kib=1024",
        "--sms-per-address-per-hour=100000",
    ]
    with out.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + UP_WITHIN_S
        while not out.read_text().lstrip().startswith("{"):
            assert process.poll() is None, f"scripts/cluster exited: {out.read_text()}"
            assert time.monotonic() < deadline, (
                f"no cluster within {UP_WITHIN_S} s: {out.read_text()}"
            )
            time.sleep(0.1)
        info = json.loads(out.read_text().splitlines()[0])
        yield Front(info["url"], Path(info["logs"]), info)
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C
        try:
            assert process.wait(timeout=60) == 0, out.read_text()
        finally:
            if process.poll() is None:
                process.kill()
    # every process of it has stopped: nothing answers at HAProxy's or a node's port
    for url in [info["url"]] + [node["url"] for node in info["nodes"]]:
        with pytest.raises(OSError):
            urllib.request.urlopen(url + "/livez", timeout=2)


async def engine_io(
    http: aiohttp.ClientSession, front: Front, route: str | None
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """A WebSocket to /socket.io/ through HAProxy (as the pages open it), Engine.IO's open
    packet read; (the socket, the node that answered)."""
    query = "EIO=4&transport=websocket" + (f"&c={route}" if route else "")
    ws = await http.ws_connect(f"{front.url}/socket.io/?{query}")
    node = ws._response.headers["X-Examcast-Node"]
    opened = await ws.receive_str(timeout=10)
    assert opened.startswith("0{"), opened
    return ws, node


async def socket_call(ws: aiohttp.ClientWebSocketResponse, event: str, data: Any) -> Any:
    await ws.send_str("421" + json.dumps([event, data]))
    while True:
        packet = await ws.receive_str(timeout=15)
        if packet == "2":  # Engine.IO ping
            await ws.send_str("3")
        elif packet.startswith("431"):
            return json.loads(packet[3:])[0]


async def test_a_small_cluster_routes_a_candidates_media_to_one_node(cluster: Front) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(cluster.url + "/readyz") as ready:
            assert ready.status == 200, await ready.text()
            assert ready.headers["X-Examcast-Node"] in ("node1", "node2")

        # a page and every module it loads, through HAProxy (round robin over the nodes)
        async with http.get(cluster.url + "/login") as page:
            assert page.status == 200
            html = await page.text()
        scripts = re.findall(r'<script type="module" src="([^"]+)"', html)
        assert scripts
        for src in scripts:
            async with http.get(cluster.url + src) as script:
                assert script.status == 200 and "javascript" in script.content_type, src

        # consistent hashing: the same c, the same node; many c's, both nodes
        seen: dict[str, set[str]] = {}
        for i in range(12):
            for _ in range(2):
                ws, node = await engine_io(http, cluster, f"cand-{i}")
                seen.setdefault(f"cand-{i}", set()).add(node)
                await ws.close()
        assert all(len(nodes) == 1 for nodes in seen.values()), seen
        assert set().union(*seen.values()) == {"node1", "node2"}, seen

        if "database_url" not in cluster.info["services"]:
            pytest.skip("no PostgreSQL for the cluster: the accounts would not be shared")
        # a candidate signed up through HAProxy (any node), then its two media sockets
        await sign_up(cluster, http)
        async with http.get(cluster.url + "/api/me") as me:
            account = (await me.json())["account"]["id"]
        landed = []
        for _ in range(2):
            ws, node = await engine_io(http, cluster, account)
            await ws.send_str("40")
            connected = await ws.receive_str(timeout=10)
            assert connected.startswith("40{"), connected  # authenticated by the cookie
            opened = await socket_call(ws, "open_session", {"role": "primary"})
            assert "session_id" in opened, opened
            landed.append(node)
            await ws.close()
        assert landed[0] == landed[1], landed


def test_the_containers_haproxy_configuration_is_valid() -> None:
    """docker/haproxy.cfg as compose mounts it (scripts/cluster runs it with its own binds)."""
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(ROOT / "docker" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = (ROOT / "docker" / "haproxy.cfg").read_text()
    for rule in ("balance url_param c", "hash-type consistent", "option httpchk GET /readyz"):
        assert rule in config

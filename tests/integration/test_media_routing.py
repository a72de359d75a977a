"""c=<candidate id>: the load balancer's key for a candidate's media node. The server checks
it where media is asked for: a missing or wrong one still works (one node), and is counted
and logged (in a cluster, a warning: the load balancer sent it to the wrong node)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import socketio

from signaling.routing import RouteCheck, route_of
from tests.support.server import connected_client, running_server, server_settings, socket_connect
from web.keys import SIGNALING


async def test_a_camera_session_is_checked_against_the_connections_c(tmp_path: Path) -> None:
    async with (
        running_server(server_settings(tmp_path / "data")) as server,
        connected_client(server) as candidate,
    ):
        routes = server.app[SIGNALING].routes
        async with candidate.http.get(server.url + "/api/me") as response:
            me = (await response.json())["account"]["id"]
        cookie = "; ".join(f"{c.key}={c.value}" for c in candidate.http.cookie_jar)

        # the test's own connection has no c=: it works, and is counted
        opened = await candidate.call("open_session", {"role": "primary"})
        assert "session_id" in opened, opened
        assert routes.mismatches == 1

        for route, mismatches in ((me, 1), ("someone-else", 2)):
            routed = socketio.AsyncClient(reconnection=False)
            await socket_connect(routed, f"{server.url}?c={route}", {"Cookie": cookie})
            try:
                opened = await routed.call("open_session", {"role": "primary"}, timeout=15)
                assert "session_id" in opened, opened
                assert routes.mismatches == mismatches
                await routed.call("close_session", {"session_id": opened["session_id"]})
            finally:
                await routed.disconnect()


def test_the_route_is_read_from_the_connects_query() -> None:
    assert route_of({"QUERY_STRING": "EIO=4&transport=websocket&c=acc%2F1"}) == "acc/1"
    assert route_of({"QUERY_STRING": "EIO=4&transport=websocket"}) is None
    assert route_of({}) is None


@pytest.mark.parametrize("clustered,level", [(True, logging.WARNING), (False, logging.DEBUG)])
def test_a_mismatch_is_a_warning_only_in_a_cluster(
    caplog: pytest.LogCaptureFixture, clustered: bool, level: int
) -> None:
    counted: list[int] = []
    check = RouteCheck("node-2", clustered=clustered, on_mismatch=lambda: counted.append(1))
    caplog.set_level(logging.DEBUG, logger="signaling.routing")
    assert check.check("acc-1", "acc-1", "a primary camera")
    assert not caplog.records
    assert not check.check(None, "acc-1", "a primary camera")
    [record] = caplog.records
    assert record.levelno == level
    assert "node-2" in record.getMessage() and "acc-1" in record.getMessage()
    assert check.mismatches == 1 and counted == [1]

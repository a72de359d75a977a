"""The proctors' wall across nodes (docs/decisions/0028): a proctor's wall socket on node a,
a candidate whose camera (a real aiortc peer) is on node b, one PostgreSQL database and one
real Redis between them.

- a's wall claims the candidate in Redis; b, which hosts the camera, pictures it (PLI,
  one decode per picture) and shares the facts and the JPEG; a's tile shows the camera
  connected and the candidate's own pixels (the synthetic camera's barcode, then its white),
  pushed with the tile and served by the picture URL on either node;
- the wall closing takes the claim back: b stops asking for keyframes and decoding;
  walls on two other nodes each hold their own claim;
- b dying (it stops renewing what it shares): its facts expire, the tile shows the camera
  lost and its picture gone; b stopping cleanly says so at once.

Each node's time is its own ``MovableTime`` (``advance`` brings b's next picture sooner).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCRtpSender

from bench.spawn import free_port
from tests.support.api import ApiClient, api_client
from tests.support.clock import wait_for, wait_until
from tests.support.exams import candidate_client
from tests.support.media import BARCODE_ROWS, SyntheticVideo, read_barcode
from tests.support.proctoring import UNIT, exam_with_proctor, pushed_tile, socket_of
from tests.support.redis import key_prefix, need_redis, redis_client
from tests.support.server import Client, RunningServer, running_server, server_settings
from web.keys import HUB, PICTURES, WALL_SHARING
from web.settings import Settings

# Both nodes on one PostgreSQL database: the records a cluster shares.
pytestmark = pytest.mark.parametrize("app_backend", ["postgresql"], indirect=True)

WITHIN_S = 30.0


@dataclass
class Cluster:
    a: RunningServer
    b_settings: Settings
    prefix: str


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    url, prefix = need_redis(), key_prefix()

    def settings(node: str) -> Settings:
        return server_settings(
            tmp_path / node,
            password_hash_memory_kib=1024,
            redis_url=url,
            redis_prefix=prefix,
            node_id=node,
            node_lease_s=1,
        )

    async with running_server(settings("a")) as a:
        yield Cluster(a, settings("b"), prefix)


def on(client: ApiClient, server: RunningServer) -> ApiClient:
    """The same browser (its cookie) talking to another node."""
    other = copy.copy(client)
    other.server = server
    return other


def luma_of(jpeg: bytes) -> np.ndarray:
    [frame] = av.CodecContext.create("mjpeg", "r").decode(av.Packet(jpeg))
    assert frame.width <= 320 and frame.height <= 240
    return frame.to_ndarray(format="gray")


def body(luma: np.ndarray) -> float:
    """Mean brightness below the barcode: ~128 for the moving gradient, ~255 for white."""
    return float(luma[BARCODE_ROWS + 4 :].mean())


def pushed(watcher: Client, tile_id: str, camera: str = "primary") -> list[tuple[int, bytes]]:
    """Every (seq, JPEG) of the camera's pictures pushed with its tile, in order."""
    return [
        (sent["seq"], base64.b64decode(sent["jpeg"], validate=True))
        for event, data in list(watcher.events)
        if event == "wall_tiles"
        for sent in data.get("pictures", [])
        if (sent["tile_id"], sent["camera"]) == (tile_id, camera)
    ]


async def next_picture(
    watcher: Client, tile_id: str, after: int, host: RunningServer, what: str
) -> None:
    """Wait for a picture of the camera newer than seq ``after`` pushed to ``watcher``. When
    none comes, the message says which link broke: the camera itself (its state on the
    watcher's tile, the frames its node still receives) or the pictures' way (the host's
    keyframe requests and pictures)."""

    async def seen() -> dict[str, Any]:
        tiles = [
            tile
            for event, data in list(watcher.events)
            if event == "wall_tiles"
            for tile in data["tiles"]
            if tile["tile_id"] == tile_id
        ]
        stats = host.app[PICTURES].stats()
        sources = [
            s
            for session in host.app[HUB].sessions_of(tile_id)
            if session.role == "primary"
            for s in session.sources
            if s.kind == "video"
        ]
        return {
            "seq": pushed(watcher, tile_id)[-1][0],
            "tile_camera": tiles[-1]["cameras"]["primary"]["state"] if tiles else None,
            "host_frames": [(s.frames_received, s.ended) for s in sources],
            "host_asked": stats.keyframe_requests,
            "host_pictures": stats.pictures,
        }

    await wait_for(seen, lambda got: bool(got["seq"] > after), WITHIN_S, what)


def live_with_picture(tile: dict[str, Any]) -> bool:
    primary = tile["cameras"]["primary"]
    return primary["state"] == "connected" and primary["picture"] is not None


def lost_without_picture(tile: dict[str, Any]) -> bool:
    primary = tile["cameras"]["primary"]
    return primary["state"] == "lost" and primary["picture"] is None


def count_plis(sender: RTCRtpSender) -> list[float]:
    """The times the candidate's sender is asked for a keyframe from now on."""
    seen: list[float] = []
    ask = sender._send_keyframe

    def counted() -> None:
        seen.append(time.monotonic())
        ask()

    sender._send_keyframe = counted  # type: ignore[method-assign]
    return seen


async def decodes_settled(server: RunningServer) -> tuple[int, int]:
    """(keyframes asked, keyframes decoded) on ``server`` once no decode is under way."""
    pictures = server.app[PICTURES]
    await wait_until(lambda: pictures.stats().pending == 0, what="no decode under way")
    stats = pictures.stats()
    return stats.keyframe_requests, stats.pictures + stats.failed + stats.dropped


async def test_a_wall_on_one_node_pictures_a_candidate_on_another(cluster: Cluster) -> None:
    a = cluster.a
    async with api_client(a) as admin, api_client(a) as proctor:
        exam_id, _ = await exam_with_proctor(a, admin, proctor)
        async with (
            running_server(cluster.b_settings) as b,
            candidate_client(b, UNIT) as c,
            socket_of(a, proctor) as watcher,
        ):
            me = c.account.id
            video = c.camera[0]
            assert isinstance(video, SyntheticVideo)
            assert not b.app[PICTURES].watching(me)  # nobody claims the candidate yet

            wall = await watcher.call("watch_wall", {"exam_id": exam_id})
            assert me in [t["tile_id"] for t in wall["tiles"]], wall
            sharing = b.app[WALL_SHARING]
            assert sharing is not None
            await wait_until(lambda: sharing.serving(me), WITHIN_S, "b serves a's claim")

            # The tile on a: b's camera connected, with a picture of what the candidate sends.
            shot = await pushed_tile(watcher, me, live_with_picture, "a's tile shows b's camera")
            seq = shot["cameras"]["primary"]["picture"]["seq"]
            [jpeg] = [j for s, j in pushed(watcher, me) if s == seq]
            luma = luma_of(jpeg)
            assert luma.shape == (240, 320)
            index = read_barcode(luma)
            assert 0 < index <= video.frames_sent  # a frame the candidate sent
            assert 100 < body(luma) < 180  # the moving gradient

            # The picture URL answers on a (the picture b shared) and on b (its own).
            url = shot["cameras"]["primary"]["picture"]["url"]
            for node in (a, b):
                got = await on(proctor, node).call("GET", url)
                assert got.status == 200, (node.settings.node_id, got)
                assert got.headers["Content-Type"] == "image/jpeg"
                assert got.headers["Cache-Control"] == "no-store"
                assert read_barcode(luma_of(got.body)) >= index

            # Updated over time: the candidate's camera turns white; so does a's tile.
            turned = video.frames_sent
            video.mark_at, video.mark_len = turned / video.fps, 3600.0
            await wait_until(lambda: video.frames_sent > turned + 5, what="white frames sent")

            for _ in range(10):  # b's next picture now, not an interval later
                last = pushed(watcher, me)[-1][0]
                b.advance(b.app[PICTURES].interval_s)
                await next_picture(watcher, me, last, b, "a newer picture of b's camera on a")
                if body(luma_of(pushed(watcher, me)[-1][1])) > 200:
                    break
            assert body(luma_of(pushed(watcher, me)[-1][1])) > 200, "no white picture on a"
            later = [(s, luma_of(j)) for s, j in pushed(watcher, me) if s > seq]
            assert all(read_barcode(lu) > index for _, lu in later)

            # The wall closes: the claim goes, b stops asking for keyframes and decoding.
            await watcher.call("unwatch_wall", {"exam_id": exam_id})
            await wait_until(lambda: not b.app[PICTURES].watching(me), WITHIN_S, "b let go")
            assert not sharing.serving(me)
            async with redis_client() as redis:
                claims = await redis.zrange(f"{cluster.prefix}wall-claims:{me}", 0, -1)
            assert "a" not in claims
            before = await decodes_settled(b)
            [session] = [s for s in b.app[HUB].sessions_of(me) if s.role == "primary"]
            source = next(s for s in session.sources if s.kind == "video")
            received = source.frames_received
            sender = next(s for s in c.device.pcs[0].getSenders() if s.track is video)
            plis = count_plis(sender)  # the keyframe requests the candidate's sender gets
            for _ in range(3):
                b.advance(b.app[PICTURES].interval_s)
            await wait_until(lambda: source.frames_received > received + 30, what="more frames")
            assert await decodes_settled(b) == before
            assert plis == [] and not source.watched


@pytest.mark.parametrize("how", ["dies", "stops"])
async def test_the_cameras_of_a_node_that_goes_show_lost(cluster: Cluster, how: str) -> None:
    a = cluster.a
    async with api_client(a) as admin, api_client(a) as proctor:
        exam_id, _ = await exam_with_proctor(a, admin, proctor)
        async with contextlib.AsyncExitStack() as node_b:
            b = await node_b.enter_async_context(running_server(cluster.b_settings))
            async with candidate_client(b, UNIT) as c, socket_of(a, proctor) as watcher:
                me = c.account.id
                await watcher.call("watch_wall", {"exam_id": exam_id})
                shot = await pushed_tile(watcher, me, live_with_picture, "b's camera on a")
                url = shot["cameras"]["primary"]["picture"]["url"]
                assert (await proctor.call("GET", url)).status == 200
                async with redis_client() as redis:
                    ttl = await redis.pttl(f"{cluster.prefix}wall-facts:{me}")
                assert 0 < ttl <= 6000  # what b shares lives only while b renews it

                if how == "dies":
                    # As a killed process would: b stops renewing what it shares, says nothing.
                    sharing = b.app[WALL_SHARING]
                    assert sharing is not None
                    for task in sharing._tasks:
                        task.cancel()
                else:
                    await node_b.aclose()  # a clean stop takes b's facts back at once
                await pushed_tile(watcher, me, lost_without_picture, "b's camera lost on a")
                assert (await proctor.call("GET", url)).status == 404


async def test_walls_on_two_other_nodes_each_hold_their_claim(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Walls on a and on c watch a candidate on b (opened at once): b pictures the candidate
    while either is open; a closing leaves c's wall its pictures; c closing ends them."""
    a = cluster.a
    c_settings = replace(cluster.b_settings, node_id="c", port=free_port(), data_dir=tmp_path / "c")
    async with api_client(a) as admin, api_client(a) as proctor:
        exam_id, _ = await exam_with_proctor(a, admin, proctor)
        async with (
            running_server(cluster.b_settings) as b,
            running_server(c_settings) as c_node,
            candidate_client(b, UNIT) as c,
            socket_of(a, proctor) as on_a,
            socket_of(c_node, on(proctor, c_node)) as on_c,
        ):
            me = c.account.id
            walls = await asyncio.gather(
                *(w.call("watch_wall", {"exam_id": exam_id}) for w in (on_a, on_c))
            )
            assert all(me in [t["tile_id"] for t in w["tiles"]] for w in walls), walls
            for watcher in (on_a, on_c):
                shot = await pushed_tile(watcher, me, live_with_picture, "b's camera on walls")
            url = shot["cameras"]["primary"]["picture"]["url"]

            await on_a.call("unwatch_wall", {"exam_id": exam_id})
            async with redis_client() as redis:

                async def a_gone() -> bool:
                    claims = await redis.zrange(f"{cluster.prefix}wall-claims:{me}", 0, -1)
                    return claims == ["c"]

                await wait_until(a_gone, WITHIN_S, "a's claim taken back, c's kept")
            sharing = b.app[WALL_SHARING]
            assert sharing is not None and sharing.serving(me)  # c's wall still watches
            # a, whose walls no longer watch the candidate, serves the picture b shares
            got = await proctor.call("GET", url)
            assert got.status == 200 and got.headers["Cache-Control"] == "no-store", got
            assert read_barcode(luma_of(got.body)) > 0
            last = pushed(on_c, me)[-1][0]
            b.advance(b.app[PICTURES].interval_s)
            await next_picture(on_c, me, last, b, "c's next picture")

            await on_c.call("unwatch_wall", {"exam_id": exam_id})
            await wait_until(lambda: not b.app[PICTURES].watching(me), WITHIN_S, "b let go")

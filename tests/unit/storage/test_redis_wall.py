"""The wall's board in a real Redis, between two nodes: claims counted per node and
expiring, facts and pictures that expire unless renewed, each node removing only its own
facts, notices heard by the other node, oversized pictures not shared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storage.redis_wall import MAX_PICTURE_BYTES, RedisWallBoard
from tests.support.clock import wait_until
from tests.support.redis import key_prefix, need_redis

FACTS = {"states": {"primary": "connected"}, "pictures": {"primary": [1, 100.0]}}
HEADER = {"seq": 1, "taken_at": 100.0, "width": 320, "height": 240}


@pytest.fixture
async def boards() -> AsyncIterator[tuple[RedisWallBoard, RedisWallBoard]]:
    url, prefix = need_redis(), key_prefix()
    a = RedisWallBoard(url, prefix, "a", claim_ttl_s=0.5, facts_ttl_s=0.5, picture_ttl_s=0.5)
    b = RedisWallBoard(url, prefix, "b", claim_ttl_s=0.5, facts_ttl_s=0.5, picture_ttl_s=0.5)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_claims_count_per_node_and_expire(
    boards: tuple[RedisWallBoard, RedisWallBoard],
) -> None:
    a, b = boards
    await a.claim(["c1", "c2"])
    assert await b.claimed_elsewhere(["c1", "c2", "c3"]) == {"c1", "c2"}
    assert await a.claimed_elsewhere(["c1", "c2"]) == set()  # its own walls' claims
    await b.claim(["c1"])
    await a.unclaim(["c1"])  # b's wall still watches c1
    assert await a.claimed_elsewhere(["c1"]) == {"c1"}
    assert await b.claimed_elsewhere(["c1", "c2"]) == {"c2"}

    async def c2_free() -> bool:  # a stopped renewing
        return await b.claimed_elsewhere(["c2"]) == set()

    await wait_until(c2_free, 10, "a's claim expired")


async def test_facts_and_pictures_expire_and_a_node_drops_only_its_own(
    boards: tuple[RedisWallBoard, RedisWallBoard],
) -> None:
    a, b = boards
    jpeg = b"\xff\xd8 a jpeg"
    await b.publish("c1", FACTS, [("primary", HEADER, jpeg)])
    assert (await a.facts(["c1", "c9"]))["c1"] == {**FACTS, "node": "b"}
    assert await a.picture("c1", "primary") == ({**HEADER, "node": "b"}, jpeg)
    assert await a.picture("c1", "secondary") is None
    await a.drop_facts(["c1"])  # not a's to drop
    assert "c1" in await a.facts(["c1"])
    await b.drop_facts(["c1"])
    assert await a.facts(["c1"]) == {}

    await b.publish("c2", FACTS, [("primary", HEADER, jpeg)])

    async def expired() -> bool:  # b stopped renewing (it died)
        return await a.facts(["c2"]) == {} and await a.picture("c2", "primary") is None

    await wait_until(expired, 10, "b's facts and picture expired")

    # a picture over the bound is not shared; the facts still are
    await b.publish("c3", FACTS, [("primary", HEADER, b"x" * (MAX_PICTURE_BYTES + 1))])
    assert "c3" in await a.facts(["c3"])
    assert await a.picture("c3", "primary") is None


async def test_a_node_hears_the_others_notices(
    boards: tuple[RedisWallBoard, RedisWallBoard],
) -> None:
    a, b = boards
    heard: list[str] = []

    async def listen() -> None:
        async for notice in a.notices():
            heard.append(notice)

    listening = asyncio.ensure_future(listen())
    try:
        # (the subscription is made by the listener: publish until it is heard)
        async def got_one() -> bool:
            await b.claim(["c1"], new=True)
            await b.publish("c1", FACTS)
            return "c" in heard and "f c1" in heard

        await wait_until(got_one, 10, "b's notices at a")
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)

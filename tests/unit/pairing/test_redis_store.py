"""Pairings and links in a real Redis, as two nodes see them: a code made on one is
redeemed on the other exactly once, however many scans race."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pairing.links import Link
from pairing.redis_store import RedisLinkStore, RedisPairingStore
from pairing.tokens import hash_token, new_pairing
from tests.support.redis import key_prefix, redis_client


async def test_a_code_made_on_one_node_is_redeemed_once_on_any() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a, b = RedisPairingStore(client, prefix), RedisPairingStore(client, prefix)
        token, pairing = new_pairing("alice", "e1", "q1", "att-1", 1000.0, 120.0)
        await a.add(pairing)
        found = await b.by_token_hash(hash_token(token))
        assert found == pairing
        assert await client.pttl(prefix + "pairing:" + pairing.id) > 3600_000  # kept a while
        redeemed = replace(pairing, redeemed_at=1001.0)
        wins = await asyncio.gather(*(store.mark_redeemed(redeemed) for store in (a, b) * 8))
        assert wins.count(True) == 1
        again = await a.get(pairing.id)
        assert again is not None and again.redeemed_at == 1001.0
        assert await b.by_token_hash("no-such-hash") is None
        assert token not in str(await client.keys(prefix + "*"))  # never kept in clear


async def test_a_link_is_found_by_attempt_scan_and_question() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a, b = RedisLinkStore(client, prefix), RedisLinkStore(client, prefix)
        link = Link("att-1", "alice", "e1", "q1", "p1", 10.0, session_id="s1", healthy=True)
        await a.put(link)
        assert await b.get("att-1") == link
        assert await b.by_pairing("p1") == link
        assert await b.find("alice", "e1", "q1") == link
        rescanned = replace(link, pairing_id="p2", session_id=None)
        await b.put(rescanned)
        assert await a.by_pairing("p1") is None  # the old scan opens nothing
        assert await a.by_pairing("p2") == rescanned
        await a.delete("att-1")
        assert await b.get("att-1") is None and await b.find("alice", "e1", "q1") is None

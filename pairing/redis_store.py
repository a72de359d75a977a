"""Pairings and second-camera links in Redis: implement ``pairing.store.PairingStore`` and
``pairing.store.LinkStore`` across nodes.

A QR code made on one node is scanned on another: the pairing is one JSON value
under its id, found by its token's hash through a second key; both expire (Redis
TTL) an hour after the code does, as the memory store forgets them. Redeeming is a
Lua compare-and-set (the value is replaced only if it is not redeemed yet), so of
parallel scans on any nodes exactly one wins. A link is one JSON value per attempt,
with two index keys (its scan, its question), each kept a while after its last change.

Redis is never the system of record: losing this state means scanning a new code.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import redis.asyncio as aioredis

from pairing.links import Link
from pairing.store import KEEP_AFTER_EXPIRY_S
from pairing.tokens import Pairing

LINK_KEEP_S = 2 * 3600.0  # a link unchanged this long is gone (pairing.service forgets at 1 h)

# KEYS[1]: the pairing. ARGV[1]: it redeemed.
REDEEM = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local redeemed = cjson.decode(current)['redeemed_at']
if redeemed ~= nil and redeemed ~= cjson.null then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
"""


def _json(value: Any) -> str:
    return json.dumps(dataclasses.asdict(value), separators=(",", ":"))


class RedisPairingStore:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        keep_after_expiry_s: float = KEEP_AFTER_EXPIRY_S,
    ) -> None:
        self._redis = client
        self._pairings = prefix + "pairing:"
        self._tokens = prefix + "pairing-token:"
        self._keep = keep_after_expiry_s
        self._redeem = client.register_script(REDEEM)

    async def add(self, pairing: Pairing) -> None:
        ttl_ms = math.ceil((pairing.expires_at - pairing.created_at + self._keep) * 1000)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._pairings + pairing.id, _json(pairing), px=max(1, ttl_ms))
            pipe.set(self._tokens + pairing.token_hash, pairing.id, px=max(1, ttl_ms))
            await pipe.execute()

    async def by_token_hash(self, token_hash: str) -> Pairing | None:
        pairing_id = await self._redis.get(self._tokens + token_hash)
        return None if pairing_id is None else await self.get(str(pairing_id))

    async def get(self, pairing_id: str) -> Pairing | None:
        raw = await self._redis.get(self._pairings + pairing_id)
        return None if raw is None else Pairing(**json.loads(raw))

    async def mark_redeemed(self, pairing: Pairing) -> bool:
        done = await self._redeem(keys=[self._pairings + pairing.id], args=[_json(pairing)])
        return bool(done)

    async def purge(self, now: float) -> int:
        return 0  # Redis expires them


class RedisLinkStore:
    def __init__(self, client: aioredis.Redis, prefix: str, keep_s: float = LINK_KEEP_S) -> None:
        self._redis = client
        self._links = prefix + "link:"
        self._by_pairing = prefix + "link-pairing:"
        self._by_question = prefix + "link-question:"
        self._keep_ms = math.ceil(keep_s * 1000)

    def _question(self, owner: str, exam_id: str, question_id: str) -> str:
        return self._by_question + json.dumps([owner, exam_id, question_id])

    async def put(self, link: Link) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._links + link.attempt_id, _json(link), px=self._keep_ms)
            pipe.set(self._by_pairing + link.pairing_id, link.attempt_id, px=self._keep_ms)
            question = self._question(link.owner, link.exam_id, link.question_id)
            pipe.set(question, link.attempt_id, px=self._keep_ms)
            await pipe.execute()

    async def get(self, attempt_id: str) -> Link | None:
        raw = await self._redis.get(self._links + attempt_id)
        return None if raw is None else Link(**json.loads(raw))

    async def by_pairing(self, pairing_id: str) -> Link | None:
        link = await self._indexed(self._by_pairing + pairing_id)
        return link if link is not None and link.pairing_id == pairing_id else None  # rescanned

    async def find(self, owner: str, exam_id: str, question_id: str) -> Link | None:
        return await self._indexed(self._question(owner, exam_id, question_id))

    async def _indexed(self, index: str) -> Link | None:
        attempt_id = await self._redis.get(index)
        return None if attempt_id is None else await self.get(str(attempt_id))

    async def delete(self, attempt_id: str) -> None:
        await self._redis.delete(self._links + attempt_id)

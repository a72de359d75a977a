"""The proctors' wall across nodes, in Redis (docs/decisions/0028): which candidates some
wall watches, and the camera facts and pictures of the candidates a node hosts.

- ``wall-claims:<owner>``: a sorted set node -> expiry (epoch ms) of the nodes whose walls
  watch the owner, renewed while they do (the key itself expires with its last claim);
- ``wall-facts:<owner>``: the hosting node's camera facts (JSON), expiring unless renewed;
- ``wall-picture:<owner>:<camera>``: its latest picture (a JSON line, then the JPEG),
  expiring;
- channel ``<prefix>wall``: ``f <owner>`` when an owner's facts or picture changed, ``c``
  when a node claims owners it did not claim before. At most once: the nodes poll too.

Redis is never the system of record: these are pictures of a few seconds' life.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from exams.shared.errors import Unavailable
from storage.redis_locks import UNREACHABLE

log = logging.getLogger(__name__)

MAX_PICTURE_BYTES = 256 * 1024  # a wall picture is a JPEG of at most 320x240: tens of KB
MAX_FACTS_BYTES = 4096
MAX_BACKOFF_S = 5.0

# Delete an owner's facts only when this node wrote them (another may host them now).
DROP_OWN = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['node'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisWallBoard:
    """Implements ``media.wall_sharing.WallBoard``; its own client (pictures are bytes)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        node: str,
        *,
        claim_ttl_s: float = 10.0,
        facts_ttl_s: float = 6.0,
        picture_ttl_s: float = 10.0,
    ) -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=False)
        self._prefix = prefix
        self._channel = prefix + "wall"
        self.node = node
        self.claim_ttl_s = claim_ttl_s
        self.facts_ttl_s = facts_ttl_s
        self.picture_ttl_s = picture_ttl_s
        self._drop = self._redis.register_script(DROP_OWN)

    def _claims(self, owner: str) -> str:
        return f"{self._prefix}wall-claims:{owner}"

    def _facts(self, owner: str) -> str:
        return f"{self._prefix}wall-facts:{owner}"

    def _picture(self, owner: str, camera: str) -> str:
        return f"{self._prefix}wall-picture:{owner}:{camera}"

    # -- claims -----------------------------------------------------------------------------

    async def claim(self, owners: Iterable[str], *, new: bool = False) -> None:
        """This node's walls watch ``owners`` (renewed by calling again); ``new``: tell the
        hosting nodes now rather than at their next poll."""
        owners = list(owners)
        if not owners:
            return
        ttl_ms = round(self.claim_ttl_s * 1000)
        until = round(time.time() * 1000) + ttl_ms
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.zadd(self._claims(owner), {self.node: until})
                pipe.pexpire(self._claims(owner), ttl_ms)
            if new:
                pipe.publish(self._channel, "c")
            await pipe.execute()

    async def unclaim(self, owners: Iterable[str]) -> None:
        owners = list(owners)
        if not owners:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.zrem(self._claims(owner), self.node)
            await pipe.execute()

    async def claimed_elsewhere(self, owners: Iterable[str]) -> set[str]:
        """Of ``owners``, those a wall on another node watches now."""
        owners = list(owners)
        if not owners:
            return set()
        now = round(time.time() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.zrangebyscore(self._claims(owner), now, "+inf")
            found = await pipe.execute()
        me = self.node.encode()
        return {o for o, nodes in zip(owners, found, strict=True) if any(n != me for n in nodes)}

    # -- facts and pictures ---------------------------------------------------------------

    async def publish(
        self,
        owner: str,
        facts: dict[str, Any],
        pictures: Iterable[tuple[str, dict[str, Any], bytes]] = (),
    ) -> None:
        """The owner's facts (``node`` added), and new pictures (camera, header, JPEG), then
        the notice; all in one round trip."""
        raw = json.dumps({**facts, "node": self.node}, separators=(",", ":")).encode()
        if len(raw) > MAX_FACTS_BYTES:
            raise ValueError(f"the facts of {owner} are too long ({len(raw)} bytes)")
        async with self._redis.pipeline(transaction=False) as pipe:
            for camera, header, jpeg in pictures:
                if len(jpeg) > MAX_PICTURE_BYTES:
                    log.warning("a wall picture of %s/%s is too big to share", owner, camera)
                    continue
                line = json.dumps({**header, "node": self.node}, separators=(",", ":")).encode()
                pipe.set(
                    self._picture(owner, camera),
                    line + b"\n" + jpeg,
                    px=round(self.picture_ttl_s * 1000),
                )
            pipe.set(self._facts(owner), raw, px=round(self.facts_ttl_s * 1000))
            pipe.publish(self._channel, f"f {owner}")
            await pipe.execute()

    async def drop_facts(self, owners: Iterable[str]) -> None:
        """Remove the facts this node wrote (at its stop: its cameras go with it)."""
        for owner in owners:
            await self._drop(keys=[self._facts(owner)], args=[self.node])
        # the walls hear of it at once (their poll would see it too)
        for owner in owners:
            await self._redis.publish(self._channel, f"f {owner}")

    async def facts(self, owners: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The facts of those of ``owners`` that some node publishes now (``Unavailable``
        while Redis cannot be reached: the picture URL answers 503, not 500)."""
        owners = list(owners)
        if not owners:
            return {}
        try:
            found = await self._redis.mget([self._facts(o) for o in owners])
        except (RedisError, OSError) as exc:
            raise Unavailable(UNREACHABLE) from exc
        out: dict[str, dict[str, Any]] = {}
        for owner, raw in zip(owners, found, strict=True):
            if raw is None or len(raw) > MAX_FACTS_BYTES:
                continue
            try:
                body = json.loads(raw)
            except ValueError:
                continue
            if isinstance(body, dict):
                out[owner] = body
        return out

    async def picture(self, owner: str, camera: str) -> tuple[dict[str, Any], bytes] | None:
        """The owner's camera's latest shared picture: (header, JPEG)."""
        try:
            raw = await self._redis.get(self._picture(owner, camera))
        except (RedisError, OSError) as exc:
            raise Unavailable(UNREACHABLE) from exc
        if not isinstance(raw, bytes) or len(raw) > MAX_PICTURE_BYTES + MAX_FACTS_BYTES:
            return None
        line, _, jpeg = raw.partition(b"\n")
        try:
            header = json.loads(line)
        except ValueError:
            return None
        return (header, jpeg) if isinstance(header, dict) and jpeg else None

    # -- notices ----------------------------------------------------------------------------

    async def notices(self) -> AsyncIterator[str]:
        """The channel's messages, forever; reconnects with a capped growing pause (what
        is missed meanwhile the polls find)."""
        pause = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                pause = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and isinstance(message.get("data"), bytes):
                        yield message["data"].decode(errors="replace")
            except (RedisError, OSError) as exc:
                log.warning("wall notices: %s; listening again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(MAX_BACKOFF_S, pause * 2)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def close(self) -> None:
        await self._redis.aclose()

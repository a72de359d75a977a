"""Locks across nodes (two lock services on one real Redis, as two nodes) and in one process:
one holder at a time, a bounded wait, the lease renewed while held, released by its owner
only, and let go by itself when its node dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from exams.shared.errors import LockTimeout
from exams.shared.locks import MemoryLocks
from exams.shared.ports import Locks
from storage.redis_locks import RedisLocks
from tests.support.redis import key_prefix, redis_client


@dataclass
class Nodes:
    a: Locks
    b: Locks


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    if request.param == "memory":
        one = MemoryLocks(wait_s=0.3)
        yield Nodes(one, one)
        return
    async with redis_client() as client:
        prefix = key_prefix()
        yield Nodes(
            RedisLocks(client, prefix, "node-a", lease_s=0.6, wait_s=0.3),
            RedisLocks(client, prefix, "node-b", lease_s=0.6, wait_s=0.3),
        )


async def test_one_holder_at_a_time_across_nodes(nodes: Nodes) -> None:
    inside = 0
    most = 0
    entered = 0

    async def step(locks: Locks) -> None:
        nonlocal inside, most, entered
        async with locks.hold("attempt:x"):
            inside += 1
            most = max(most, inside)
            entered += 1
            await asyncio.sleep(0)  # an await inside: a check-then-act would race here
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(step(nodes.a if i % 2 else nodes.b) for i in range(12)))
    assert (most, entered) == (1, 12)


async def test_a_waiter_gives_up_in_time_with_a_clear_error(nodes: Nodes) -> None:
    release = asyncio.Event()
    held = asyncio.Event()

    async def holder() -> None:
        async with nodes.a.hold("attempt:y"):
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    with pytest.raises(LockTimeout) as refused:
        async with nodes.b.hold("attempt:y"):
            pass
    assert refused.value.code == "locked" and "try again" in refused.value.message
    release.set()
    await task
    async with nodes.b.hold("attempt:y"):  # let go: the next one gets it at once
        pass


async def test_the_lease_is_renewed_while_held_and_only_the_owner_releases() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        a = RedisLocks(client, prefix, "node-a", lease_s=0.3, wait_s=0.2)
        b = RedisLocks(client, prefix, "node-b", lease_s=0.3, wait_s=0.2)
        async with a.hold("k"):
            token = await client.get(prefix + "lock:k")
            assert str(token).startswith("node-a:")
            # Held for several leases: renewed, so b waits in vain each time.
            for _ in range(3):
                with pytest.raises(LockTimeout):
                    async with b.hold("k"):
                        pass
            assert await client.get(prefix + "lock:k") == token
        assert await client.exists(prefix + "lock:k") == 0


async def test_a_dead_nodes_lock_is_free_once_its_lease_runs_out() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        # A node that died holding the lock: its key, no one renewing it.
        await client.set(prefix + "lock:k", "node-dead:1", px=400)
        b = RedisLocks(client, prefix, "node-b", lease_s=1, wait_s=5)
        async with b.hold("k"):
            assert str(await client.get(prefix + "lock:k")).startswith("node-b:")
        # ... and a late release by the dead owner deletes nothing of the next holder's.
        async with b.hold("k"):
            token = await client.get(prefix + "lock:k")
            release = client.register_script(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                "return redis.call('DEL', KEYS[1]) end return 0"
            )
            assert await release(keys=[prefix + "lock:k"], args=["node-dead:1"]) == 0
            assert await client.get(prefix + "lock:k") == token


async def test_a_lock_is_free_again_after_a_failed_step(nodes: Nodes) -> None:
    with pytest.raises(RuntimeError):
        async with nodes.a.hold("z"):
            raise RuntimeError("the step failed")
    async with nodes.b.hold("z"):
        pass

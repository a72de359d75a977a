"""Locks across nodes (two lock services on one real Redis, as two nodes) and in one process:
one holder at a time, a bounded wait, the lease renewed while held, released by its owner
only, and let go by itself when its node dies.

No test here depends on how fast the machine is: a waiter meant to get the lock may wait
far longer than any step takes (PATIENT_S), a lease outlives every wait (LEASE_S), and the
one waiter meant to give up (BRIEF_S) waits behind a holder that holds until told. Renewals
are seen in Redis itself (the key's PTTL, which only falls by itself, rising again)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from exams.shared.errors import LockTimeout
from exams.shared.locks import MemoryLocks
from exams.shared.ports import Locks
from storage.redis_locks import RedisLocks
from tests.support.clock import wait_for
from tests.support.redis import key_prefix, redis_client, write_watching_client

PATIENT_S = 10.0  # a waiter that should get the lock: nothing here holds one nearly as long
BRIEF_S = 0.2  # a waiter that should give up: its holder holds until the test lets it go
LEASE_S = 60.0  # longer than any wait here: a held lock's lease never runs out by itself


@dataclass
class Nodes:
    """Two nodes' lock services (in one process: the same one), their waiters patient; and,
    for a waiter meant to give up, a ``holder``, that ``waiter`` (BRIEF_S) and the one
    ``after`` it, all on the same locks."""

    a: Locks
    b: Locks
    holder: Locks
    waiter: Locks
    after: Locks


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    if request.param == "memory":
        one = MemoryLocks(wait_s=PATIENT_S)
        # One process, one service: its waiters wait as long as it says (a free lock is
        # taken at once, without waiting, so only the waiter behind the holder meets BRIEF_S).
        brief = MemoryLocks(wait_s=BRIEF_S)
        yield Nodes(one, one, brief, brief, brief)
        return
    async with redis_client() as client:
        prefix = key_prefix()

        def node(name: str, wait_s: float = PATIENT_S) -> RedisLocks:
            return RedisLocks(client, prefix, name, lease_s=LEASE_S, wait_s=wait_s)

        a, b = node("node-a"), node("node-b")
        yield Nodes(a, b, holder=a, waiter=node("node-b", BRIEF_S), after=b)


async def renewed(client: aioredis.Redis, name: str) -> int:
    """Wait for the lease of the lock ``name`` to be renewed: its PTTL, which only falls by
    itself, rises. The PTTL it rose to."""
    lowest = await client.pttl(name)

    def rose(pttl: int) -> bool:
        nonlocal lowest
        assert pttl > 0, f"the lease ran out while held (PTTL {pttl})"
        if pttl > lowest:
            return True
        lowest = pttl
        return False

    async def pttl() -> int:
        return int(await client.pttl(name))

    return await wait_for(pttl, rose, what=f"the lease of {name} renewed")


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
        async with nodes.holder.hold("attempt:y"):
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    with pytest.raises(LockTimeout) as refused:
        async with nodes.waiter.hold("attempt:y"):
            pass
    assert refused.value.code == "locked" and "try again" in refused.value.message
    release.set()
    await task
    # Let go: the next one gets it at once (had it not been released, its lease would
    # outlast that waiter's patience).
    async with nodes.after.hold("attempt:y"):
        pass


async def test_the_lease_is_renewed_while_held_and_only_the_owner_releases() -> None:
    lease_s = 3.0  # renewed every second; it would run out only if the loop stalled 2 s
    async with redis_client() as client:
        prefix = key_prefix()
        name = prefix + "lock:k"
        a = RedisLocks(client, prefix, "node-a", lease_s=lease_s, wait_s=PATIENT_S)
        b = RedisLocks(client, prefix, "node-b", lease_s=LEASE_S, wait_s=BRIEF_S)
        async with a.hold("k"):
            token = await client.get(name)
            assert str(token).startswith("node-a:")
            assert 0 < await client.pttl(name) <= lease_s * 1000
            # Renewed again and again while held (Redis says so), by its owner alone ...
            for _ in range(2):
                assert await renewed(client, name) <= lease_s * 1000
                assert await client.get(name) == token
            # ... so the other node waits in vain.
            with pytest.raises(LockTimeout):
                async with b.hold("k"):
                    pass
            assert await client.get(name) == token
        assert await client.exists(name) == 0


async def test_a_dead_nodes_lock_is_free_once_its_lease_runs_out() -> None:
    async with redis_client() as client:
        prefix = key_prefix()
        name = prefix + "lock:k"
        # A node that died holding the lock: its key, no one renewing it.
        await client.set(name, "node-dead:1", px=400)
        assert 0 < await client.pttl(name) <= 400
        b = RedisLocks(client, prefix, "node-b", lease_s=LEASE_S, wait_s=PATIENT_S)
        async with b.hold("k"):  # once Redis has let the dead node's key expire
            assert str(await client.get(name)).startswith("node-b:")
        # ... and a late release by the dead owner deletes nothing of the next holder's.
        async with b.hold("k"):
            token = await client.get(name)
            release = client.register_script(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                "return redis.call('DEL', KEYS[1]) end return 0"
            )
            assert await release(keys=[name], args=["node-dead:1"]) == 0
            assert await client.get(name) == token


async def test_a_lock_is_free_again_after_a_failed_step(nodes: Nodes) -> None:
    with pytest.raises(RuntimeError):
        async with nodes.a.hold("z"):
            raise RuntimeError("the step failed")
    async with nodes.b.hold("z"):  # for Redis: released, not left to its lease
        pass


async def test_a_release_just_as_the_lease_is_renewed_returns() -> None:
    """Released just as a renewal's script is written: on Python 3.11 redis-py's
    asyncio.wait_for around that write drops the renewal's cancellation. The renewal went on
    for ever then, and the release, and the lock here with it, waited for it."""
    renewal_written = asyncio.Event()
    armed = False

    def on_write(command: bytes) -> None:
        if armed and b"EVALSHA" in command:
            renewal_written.set()

    async with write_watching_client(on_write) as client:
        locks = RedisLocks(client, key_prefix(), "a", lease_s=0.3)

        async def hold() -> None:
            nonlocal armed
            async with locks.hold("take-1"):
                armed = True
                await renewal_written.wait()  # released as the renewal is written

        done, _ = await asyncio.wait({asyncio.ensure_future(hold())}, timeout=PATIENT_S)
        assert done, "the release never returned: the lease renewal went on"
        async with asyncio.timeout(PATIENT_S):  # free again, here too
            async with locks.hold("take-1"):
                pass

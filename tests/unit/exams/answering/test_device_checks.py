"""Device checks: one recording at a time per account, only the latest kept (never the one
playing), and only candidates play them back. Takes in SQLite; the recorder is a stand-in
(real media: tests/integration/test_device_check_takes.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from exams.answering.device_checks import DeviceChecks
from exams.answering.playback import PLAYBACK_GRACE_S
from exams.catalog.takes import Take, TakeService, TakeState
from exams.identity.accounts import Account, Role
from exams.shared.errors import Conflict, Forbidden
from storage.takes import SqliteTakes
from tests.support.world import World
from tests.unit.exams.fakes import FakeScheduler, NullRecorder

OWNER = "candidate-1"


@dataclass
class StandInRecorder(NullRecorder):
    """Records nothing; every take "stores" one 3-second segment."""

    discarded: list[str] = field(default_factory=list)

    async def stop(self, take_id: str) -> dict[str, Any]:
        return {"segments": [{"index": 0, "duration_s": 3.0}], "recorded_s": 3.0}

    async def discard(self, take_id: str) -> None:
        self.discarded.append(take_id)


class Silent:
    async def take_event(self, event: str, take: Take) -> None:
        pass


@dataclass
class Rig:
    takes: TakeService
    records: SqliteTakes
    recorder: StandInRecorder
    checks: DeviceChecks

    async def record(self, owner: str = OWNER, session: str = "s1") -> Take:
        take = await self.takes.start(owner, session, "device_check")
        return await self.takes.stop(take.id, owner=owner)


def rig(w: World) -> Rig:
    recorder = StandInRecorder({"s1": OWNER, "s2": OWNER, "s3": OWNER, "x": "someone-else"})
    records = SqliteTakes(w.db)
    takes = TakeService(
        records, recorder, Silent(), w.clock, FakeScheduler(), limits={"device_check": 60}
    )
    checks = DeviceChecks(records, takes.discard, w.clock)
    takes.add_listener(checks.on_take_event)

    async def exams_decide(take: Take, viewer: str) -> None:
        raise AssertionError("not an exam take")

    takes.add_playback_policy(checks.policy(exams_decide))
    return Rig(takes, records, recorder, checks)


def account(role: Role, owner: str = OWNER) -> Account:
    return Account(owner, "13900000000", "张三", "resident_id", "110105200701010017", role, 0.0)


async def test_a_new_device_check_replaces_the_older_ones(w: World) -> None:
    r = rig(w)
    first = await r.record()
    assert first.state is TakeState.STORED
    w.clock.advance(10)
    second = await r.record()
    assert r.recorder.discarded == [first.id]
    assert await r.records.get(first.id) is None
    assert [t.id for t in await r.records.of_owner(OWNER, "device_check")] == [second.id]
    await r.record("someone-else", "x")  # another account's check leaves these alone
    assert [t.id for t in await r.records.of_owner(OWNER, "device_check")] == [second.id]


async def test_the_check_being_played_is_kept_until_its_window_ends(w: World) -> None:
    r = rig(w)
    played = await r.record()
    await r.takes.authorize_playback(played, account(Role.CANDIDATE))
    w.clock.advance(5)
    newer = await r.record()
    assert await r.records.get(played.id) is not None  # still playing: kept
    w.clock.advance(3 + PLAYBACK_GRACE_S)
    newest = await r.record()
    assert r.recorder.discarded == [played.id, newer.id]
    assert [t.id for t in await r.records.of_owner(OWNER, "device_check")] == [newest.id]


async def test_one_device_check_records_at_a_time_per_account(w: World) -> None:
    r = rig(w)
    results = await asyncio.gather(
        *(r.takes.start(OWNER, s, "device_check") for s in ("s1", "s2", "s3")),
        return_exceptions=True,
    )
    started = [x for x in results if isinstance(x, Take)]
    assert len(started) == 1
    assert all(isinstance(x, Conflict) for x in results if not isinstance(x, Take)), results
    assert len(await r.records.of_owner(OWNER, "device_check")) == 1
    await r.takes.stop(started[0].id, owner=OWNER)
    assert (await r.record(session="s2")).state is TakeState.STORED  # free again


async def test_parallel_starts_on_one_device_start_one_take(w: World) -> None:
    r = rig(w)
    results = await asyncio.gather(
        r.takes.start(OWNER, "s1", "rehearsal"),
        r.takes.start(OWNER, "s1", "formal"),
        return_exceptions=True,
    )
    assert sorted(type(x).__name__ for x in results) == ["Conflict", "Take"], results


async def test_only_candidates_play_a_device_check_back(w: World) -> None:
    r = rig(w)
    take = await r.record()
    for role in (Role.UNIT_ADMIN, Role.PROCTOR, Role.STAFF_REVIEWER):
        with pytest.raises(Forbidden, match="for candidates"):
            await r.takes.authorize_playback(take, account(role))
    await r.takes.authorize_playback(take, account(Role.CANDIDATE))

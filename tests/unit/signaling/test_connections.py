"""Connections per account, who may send which event, and sessions that say when they end."""

from __future__ import annotations

from pathlib import Path

import pytest

from exams.identity.accounts import Account, Role
from exams.identity.sessions import Ended, token_hash
from exams.shared.errors import Conflict, Forbidden
from signaling import access, messages
from signaling.connections import (
    ACCOUNT_MESSAGE_BURST,
    ACCOUNT_MESSAGES_PER_SECOND,
    MESSAGE_BURST,
    RECHECK_S,
    Connections,
)
from tests.support.world import PASSWORD, FakeClock, world

TOKEN = "t" * 43


def account(account_id: str = "a1", role: Role = Role.CANDIDATE) -> Account:
    return Account(account_id, "13900000000", "张三", "resident_id", "x", role, 0.0)


def test_the_connection_cap_is_per_account() -> None:
    conns = Connections(FakeClock(), max_per_account=2)
    conns.add("s1", account("a1"), TOKEN)
    conns.add("s2", account("a1"), TOKEN)
    with pytest.raises(Conflict):
        conns.add("s3", account("a1"), TOKEN)
    conns.add("s4", account("a2"), TOKEN)  # someone else is not affected
    conns.remove("s1")
    conns.add("s3", account("a1"), TOKEN)
    assert {c.sid for c in conns.of_account("a1")} == {"s2", "s3"}


def test_the_message_budget_is_shared_by_an_accounts_connections() -> None:
    clock = FakeClock()
    conns = Connections(clock, max_per_account=10)
    sockets = [conns.add(f"s{i}", account(), TOKEN) for i in range(4)]
    spent = [conns.spend(c) for c in sockets for _ in range(MESSAGE_BURST)]
    assert spent.count(True) == ACCOUNT_MESSAGE_BURST
    other = conns.add("x", account("a2"), TOKEN)
    assert conns.spend(other)
    clock.advance(1)
    assert sum(conns.spend(c) for c in sockets for _ in range(5)) == ACCOUNT_MESSAGES_PER_SECOND


def test_reconnecting_does_not_refill_the_accounts_budget() -> None:
    clock = FakeClock()
    conns = Connections(clock, max_per_account=10)
    first = conns.add("s1", account(), TOKEN)
    second = conns.add("s2", account(), TOKEN)
    while conns.spend(first) or conns.spend(second):
        pass
    conns.remove("s1")
    conns.remove("s2")
    conns.prune()
    assert not conns.spend(conns.add("s3", account(), TOKEN))
    conns.remove("s3")
    clock.advance(ACCOUNT_MESSAGE_BURST / ACCOUNT_MESSAGES_PER_SECOND)
    conns.prune()  # refilled: forgetting it loses nothing
    assert conns.spend(conns.add("s4", account(), TOKEN))


def test_a_connection_is_due_for_a_check_by_the_injected_clock() -> None:
    clock = FakeClock()
    conns = Connections(clock, max_per_account=10)
    conn = conns.add("s1", account(), TOKEN)
    assert conns.due() == []
    clock.advance(RECHECK_S)
    assert conns.due() == [conn]
    conn.checked_at = clock()
    clock.now -= 3600  # a clock set back: check again rather than trust it
    assert conns.due() == [conn]


def test_an_ended_session_covers_its_connections() -> None:
    conns = Connections(FakeClock(), max_per_account=10)
    mine = conns.add("s1", account("a1"), TOKEN)
    phone = conns.add("s2", account("a1"), "p" * 43)
    other = conns.add("s3", account("a2"), "o" * 43)
    assert conns.covered(Ended(token_hash=token_hash(TOKEN))) == [mine]
    assert conns.covered(Ended(account_id="a1")) == [mine, phone]
    assert conns.covered(Ended(account_id="a1", kept=token_hash(TOKEN))) == [phone]
    assert conns.covered(Ended(account_id="a2")) == [other]


def test_every_client_event_says_who_may_send_it() -> None:
    assert set(access.EVENT_ROLES) == set(messages.CLIENT_EVENTS)
    access.require(Role.CANDIDATE, "start_take")
    for role in (Role.OPERATOR, Role.STAFF_REVIEWER):
        assert not access.may_connect(role)
        for event in messages.CLIENT_EVENTS:
            with pytest.raises(Forbidden):
                access.require(role, event)
    # Proctors and unit admins connect to watch candidates live (viewer sessions) only.
    viewer_events = {"open_session", "offer", "close_session"}
    for role in (Role.UNIT_ADMIN, Role.PROCTOR):
        assert access.may_connect(role)
        for event in viewer_events:
            access.require(role, event)
        for event in {"start_take", "stop_take", "secondary_ready"}:
            with pytest.raises(Forbidden):
                access.require(role, event)
    assert access.may_connect(Role.CANDIDATE)


async def test_every_way_a_session_ends_is_published(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        heard: list[Ended] = []

        async def listener(ended: Ended) -> None:
            heard.append(ended)

        sessions = w.s.sessions
        sessions.on_ended.append(listener)
        who = await w.register()
        _, token = await w.s.accounts.login(who.phone, PASSWORD, "198.51.100.1")
        await w.s.accounts.logout(token, who, "198.51.100.1")
        assert heard == [Ended(token_hash=token_hash(token))]

        _, replaced = await w.s.accounts.login(who.phone, PASSWORD, "198.51.100.1")
        await w.s.accounts.login(who.phone, PASSWORD, "198.51.100.1", replacing=replaced)
        assert heard[-1] == Ended(token_hash=token_hash(replaced))

        _, expiring = await w.s.accounts.login(who.phone, PASSWORD, "198.51.100.1")
        w.clock.advance(8 * 3600)
        assert await sessions.account_id_for(expiring, touch=False) is None
        assert heard[-1] == Ended(token_hash=token_hash(expiring))

        await w.s.accounts.grant(who.phone, Role.STAFF_REVIEWER, None)
        assert heard[-1] == Ended(account_id=who.id)


async def test_a_check_without_touch_does_not_keep_a_session_alive(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        who = await w.register()
        _, token = await w.s.accounts.login(who.phone, PASSWORD, "198.51.100.1")
        for _ in range(3):
            w.clock.advance(1000)  # idle_s is 3600
            assert await w.s.sessions.account_id_for(token, touch=False) == who.id
        w.clock.advance(1000)
        assert await w.s.sessions.account_id_for(token, touch=False) is None

from __future__ import annotations

import asyncio

import pytest

from exams.identity.accounts import Registration, Role
from exams.identity.sessions import token_hash
from exams.shared.errors import Conflict, InvalidInput, TooManyRequests, WrongCredentials
from exams.shared.ports import Event
from tests.support.world import PASSWORD, World, resident_id


async def test_registration_reports_every_bad_field_at_once(w: World) -> None:
    form = Registration("12345", "12", "", "resident_id", "110105194912310021", "1234")
    with pytest.raises(InvalidInput) as bad:
        await w.s.accounts.register(form, "c")
    assert set(bad.value.details["fields"]) == {
        "phone",
        "sms_code",
        "name",
        "id_number",
        "password",
    }


async def test_register_then_log_in_with_phone_and_password(w: World) -> None:
    account = await w.register("李雷", phone="13800138000")
    assert account.role is Role.CANDIDATE and account.password_hash.startswith("$argon2id$")
    logged_in, token = await w.s.accounts.login("+86 138 0013 8000", PASSWORD, "c")
    assert logged_in.id == account.id
    assert (await w.s.accounts.account_for_token(token)) == account
    events = [e.event for e in await w.s.audit.recent(account_id=account.id)]
    assert Event.REGISTERED in events and Event.LOGIN_OK in events


async def test_one_account_per_phone_and_per_id_document(w: World) -> None:
    first = await w.register(phone="13800138000", id_number=resident_id(500))
    w.clock.advance(61)  # one SMS a minute per phone
    with pytest.raises(Conflict) as same_phone:
        await w.register(phone="13800138000")
    assert same_phone.value.details == {"field": "phone"}
    with pytest.raises(Conflict) as same_id:
        await w.register(id_number=first.id_number)
    assert same_id.value.details == {"field": "id_number", "claim": True}


async def test_wrong_password_and_unknown_phone_look_the_same(w: World) -> None:
    await w.register(phone="13800138000")
    with pytest.raises(WrongCredentials) as wrong:
        await w.s.accounts.login("13800138000", "not the password", "c")
    with pytest.raises(WrongCredentials) as unknown:
        await w.s.accounts.login("13900000000", PASSWORD, "c")
    assert wrong.value.message == unknown.value.message


async def test_guessing_is_slowed_per_address_but_the_owner_logs_in_elsewhere(w: World) -> None:
    await w.register(phone="13800138000")
    for _ in range(5):
        with pytest.raises(WrongCredentials):
            await w.s.accounts.login("13800138000", "guess", "attacker")
    with pytest.raises(TooManyRequests):
        await w.s.accounts.login("13800138000", PASSWORD, "attacker")
    account, _ = await w.s.accounts.login("13800138000", PASSWORD, "owner")
    assert account.phone == "13800138000"
    w.clock.advance(1)
    await w.s.accounts.login("13800138000", PASSWORD, "attacker")  # the delay, not a lock
    events = [e.event for e in await w.s.audit.recent()]
    assert Event.LOGIN_THROTTLED in events and Event.LOGIN_FAILED in events


async def test_login_replaces_the_old_session_and_logout_revokes(w: World) -> None:
    await w.register(phone="13800138000")
    _, first = await w.s.accounts.login("13800138000", PASSWORD, "c")
    account, second = await w.s.accounts.login("13800138000", PASSWORD, "c", replacing=first)
    assert await w.s.accounts.account_for_token(first) is None
    assert await w.s.accounts.account_for_token(second) is not None
    await w.s.accounts.logout(second, account, "c")
    assert await w.s.accounts.account_for_token(second) is None


async def test_sessions_end_when_idle_or_too_old_and_are_stored_hashed(w: World) -> None:
    await w.register(phone="13800138000")
    _, token = await w.s.accounts.login("13800138000", PASSWORD, "c")
    rows = await w.db.call(lambda c: c.execute("SELECT token_hash FROM sessions").fetchall())
    assert [r[0] for r in rows] == [token_hash(token)]
    for _ in range(8):  # active every 59 minutes: idle never reached...
        w.clock.advance(59 * 60)
        assert await w.s.accounts.account_for_token(token) is not None
    w.clock.advance(59 * 60)  # ...but 8 hours after log-in it ends anyway
    assert await w.s.accounts.account_for_token(token) is None
    _, idle = await w.s.accounts.login("13800138000", PASSWORD, "c")
    w.clock.advance(3600 + 60)  # idle for the idle window plus one last-seen write interval
    assert await w.s.accounts.account_for_token(idle) is None


async def test_granting_a_role_logs_the_account_out(w: World) -> None:
    account = await w.register(phone="13800138000")
    _, token = await w.s.accounts.login("13800138000", PASSWORD, "c")
    await w.s.units.add("10001", "Unit")
    admin = await w.s.accounts.grant(account.phone, Role.UNIT_ADMIN, "10001")
    assert admin.role is Role.UNIT_ADMIN and admin.unit_id == "10001"
    assert await w.s.accounts.account_for_token(token) is None
    with pytest.raises(InvalidInput):
        await w.s.accounts.grant(account.phone, Role.STAFF_REVIEWER, "10001")


async def test_parallel_log_ins_are_counted_before_the_password_is_checked(w: World) -> None:
    await w.register(phone="13800138000")
    await w.register(phone="13900139000", id_number=resident_id(77))
    guesses = [f"guess-{i:04d}" for i in range(39)] + [PASSWORD]  # the right one last
    results = await asyncio.gather(
        *(w.s.accounts.login("13800138000", g, "nat") for g in guesses), return_exceptions=True
    )
    judged = [r for r in results if not isinstance(r, TooManyRequests)]
    assert len(judged) == 5  # the free tries; the 35 others were refused unchecked
    assert all(isinstance(r, TooManyRequests) for r in results[5:])
    events = [e.event for e in await w.s.audit.recent(limit=100)]
    assert events.count(Event.LOGIN_FAILED) + events.count(Event.LOGIN_OK) == 5
    assert events.count(Event.LOGIN_THROTTLED) == 35
    # The address is not locked: everyone else behind it logs in at once.
    account, _ = await w.s.accounts.login("13900139000", PASSWORD, "nat")
    assert account.phone == "13900139000"

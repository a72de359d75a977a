"""Changing a password (old one required) and resetting it by SMS code (忘记密码), on the
real repositories with the injected clock; idle session expiry for any idle window."""

from __future__ import annotations

import asyncio

import pytest

from exams.identity.sessions import Sessions
from exams.shared.errors import (
    InvalidInput,
    NotFound,
    TooManyRequests,
    WrongCredentials,
    WrongSmsCode,
)
from exams.shared.ports import Event
from storage.accounts import SqliteSessions
from tests.support.world import PASSWORD, World

NEW = "violet-harbour-73"


async def reset_code(w: World, phone: str, client: str = "c") -> str:
    await w.s.sms.send(phone, "reset_password", client)
    message = w.s.outbox.latest(phone)
    assert message is not None and message.code is not None
    assert "重置密码" in message.text
    return message.code


async def test_change_needs_the_old_password_and_ends_every_other_session(w: World) -> None:
    account = await w.register(phone="13800138000")
    _, here = await w.s.accounts.login("13800138000", PASSWORD, "laptop")
    _, elsewhere = await w.s.accounts.login("13800138000", PASSWORD, "phone")
    with pytest.raises(WrongCredentials) as wrong:
        await w.s.credentials.change(account, "not it", NEW, "laptop")
    assert wrong.value.details == {"fields": {"old_password": "is wrong"}}
    with pytest.raises(InvalidInput) as weak:
        await w.s.credentials.change(account, PASSWORD, "aaaaaaaa", "laptop")
    assert weak.value.details["reasons"] == {"new_password": "repeats"}

    fresh = await w.s.credentials.change(account, PASSWORD, NEW, "laptop")
    assert await w.s.accounts.account_for_token(here) is None
    assert await w.s.accounts.account_for_token(elsewhere) is None
    assert (await w.s.accounts.account_for_token(fresh)) is not None
    with pytest.raises(WrongCredentials):
        await w.s.accounts.login("13800138000", PASSWORD, "laptop")
    await w.s.accounts.login("13800138000", NEW, "laptop")
    events = [e.event for e in await w.s.audit.recent(account_id=account.id)]
    assert Event.PASSWORD_CHANGED in events and Event.PASSWORD_CHANGE_FAILED in events


async def test_wrong_old_passwords_are_throttled_like_log_ins_even_in_parallel(w: World) -> None:
    account = await w.register(phone="13800138000")
    results = await asyncio.gather(
        *(w.s.credentials.change(account, f"guess-{i}", NEW, "x") for i in range(12)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, WrongCredentials) for r in results) == 5
    assert sum(isinstance(r, TooManyRequests) for r in results) == 7


async def test_reset_by_sms_code_ends_every_session(w: World) -> None:
    account = await w.register(phone="13800138000")
    _, token = await w.s.accounts.login("13800138000", PASSWORD, "c")
    w.clock.advance(61)  # one code a minute per phone, whatever it is for
    code = await reset_code(w, "13800138000")
    with pytest.raises(WrongSmsCode):  # a registration code does not reset
        await w.s.credentials.reset(
            "13800138000", "000000" if code != "000000" else "111111", NEW, "c"
        )
    done = await w.s.credentials.reset("138 0013 8000", code, NEW, "c")
    assert done.id == account.id
    assert await w.s.accounts.account_for_token(token) is None
    await w.s.accounts.login("13800138000", NEW, "c")
    with pytest.raises(WrongSmsCode):  # single use
        await w.s.credentials.reset("13800138000", code, "another-fine-pw", "c")
    assert Event.PASSWORD_RESET in [e.event for e in await w.s.audit.recent()]


async def test_reset_refuses_weak_passwords_with_reasons_and_the_id_after_the_code(
    w: World,
) -> None:
    account = await w.register(phone="13800138000")
    with pytest.raises(InvalidInput) as weak:
        await w.s.credentials.reset("13800138000", "123456", "password1", "c")
    assert weak.value.details["reasons"] == {"new_password": "common"}
    w.clock.advance(61)
    code = await reset_code(w, "13800138000")
    birthday = account.id_number[6:14]
    with pytest.raises(InvalidInput) as personal:
        await w.s.credentials.reset("13800138000", code, f"x{birthday}y", "c")
    assert personal.value.details["reasons"] == {"new_password": "personal"}


async def test_reset_of_a_phone_without_account_says_so_only_after_the_code(w: World) -> None:
    code = await reset_code(w, "13900001111")
    with pytest.raises(WrongSmsCode):
        await w.s.credentials.reset("13900001111", "999999" if code != "999999" else "1", NEW, "c")
    with pytest.raises(NotFound):
        await w.s.credentials.reset("13900001111", code, NEW, "c")


async def test_parallel_guesses_of_a_reset_code_get_five_tries(w: World) -> None:
    await w.register(phone="13800138000")
    w.clock.advance(61)
    code = await reset_code(w, "13800138000")
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 21)]
    results = await asyncio.gather(
        *(w.s.credentials.reset("13800138000", g, NEW, "c") for g in wrong),
        return_exceptions=True,
    )
    assert all(isinstance(r, WrongSmsCode) for r in results)
    tried = [r for r in results if isinstance(r, WrongSmsCode) and "wrong" in r.message]
    assert len(tried) == 5  # the rest found the code used up
    with pytest.raises(WrongSmsCode):  # even the right code is spent now
        await w.s.credentials.reset("13800138000", code, NEW, "c")


async def test_an_active_session_never_idles_out_even_with_a_one_minute_window(
    w: World,
) -> None:
    account = await w.register(phone="13800138000")
    sessions = Sessions(SqliteSessions(w.db), w.clock, idle_s=60, max_s=3600)
    token = await sessions.open(account.id, "c")
    for _ in range(30):  # a request every 10 s for 5 minutes
        w.clock.advance(10)
        assert await sessions.account_id_for(token) == account.id
    for gap in (59, 59, 59):  # a request just inside the window each time
        w.clock.advance(gap)
        assert await sessions.account_id_for(token) == account.id
    w.clock.advance(60 + 6)  # idle for the window plus one write interval: over
    assert await sessions.account_id_for(token) is None


async def test_purge_keeps_active_sessions_with_a_short_idle_window(w: World) -> None:
    account = await w.register(phone="13800138000")
    sessions = Sessions(SqliteSessions(w.db), w.clock, idle_s=60, max_s=3600)
    token = await sessions.open(account.id, "c")
    w.clock.advance(5)
    assert await sessions.account_id_for(token) == account.id  # not written (< 6 s)
    w.clock.advance(58)  # 63 s after the stored last-seen, 58 s after the last request
    assert await sessions.purge() == 0
    assert await sessions.account_id_for(token) == account.id

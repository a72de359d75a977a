from __future__ import annotations

import asyncio

import pytest

from exams.shared.errors import TooManyRequests, WrongSmsCode
from tests.support.world import World

PHONE = "13800138000"


async def send(w: World, client: str = "203.0.113.5") -> str:
    await w.s.sms.send(PHONE, "register", client)
    message = w.s.outbox.latest(PHONE)
    assert message is not None and message.code is not None
    return message.code


async def test_a_code_works_once(w: World) -> None:
    code = await send(w)
    await w.s.sms.consume(PHONE, "register", code)
    with pytest.raises(WrongSmsCode, match="already used"):
        await w.s.sms.consume(PHONE, "register", code)


async def test_a_code_expires_after_ten_minutes(w: World) -> None:
    code = await send(w)
    w.clock.advance(600)
    with pytest.raises(WrongSmsCode, match="expired"):
        await w.s.sms.consume(PHONE, "register", code)


async def test_five_wrong_guesses_end_the_code(w: World) -> None:
    code = await send(w)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongSmsCode) as bad:
            await w.s.sms.consume(PHONE, "register", wrong)
        assert bad.value.details == {"tries_left": left}
    with pytest.raises(WrongSmsCode, match="no longer"):
        await w.s.sms.consume(PHONE, "register", wrong)
    with pytest.raises(WrongSmsCode):
        await w.s.sms.consume(PHONE, "register", code)  # even the right one, now


async def test_only_the_newest_code_counts(w: World) -> None:
    first = await send(w)
    w.clock.advance(61)
    second = await send(w)
    if first != second:
        with pytest.raises(WrongSmsCode):
            await w.s.sms.consume(PHONE, "register", first)
    await w.s.sms.consume(PHONE, "register", second)


async def test_one_code_a_minute_and_ten_a_day_per_phone(w: World) -> None:
    await send(w)
    with pytest.raises(TooManyRequests) as refused:
        await send(w)
    assert refused.value.details == {"retry_after": 60}
    for _ in range(9):
        w.clock.advance(61)
        await send(w, client=f"203.0.113.{w.clock.now % 200:.0f}")
    w.clock.advance(61)
    with pytest.raises(TooManyRequests):
        await send(w)
    w.clock.advance(24 * 3600)
    await send(w)


async def test_thirty_codes_an_hour_per_client_address(w: World) -> None:
    for i in range(30):
        await w.s.sms.send(f"1390000{i:04d}", "register", "198.18.0.1")
    with pytest.raises(TooManyRequests):
        await w.s.sms.send("13900009999", "register", "198.18.0.1")
    await w.s.sms.send("13900009999", "register", "198.18.0.2")


async def test_codes_are_stored_only_as_keyed_hashes(w: World) -> None:
    code = await send(w)
    rows = await w.db.call(lambda c: c.execute("SELECT * FROM sms_codes").fetchall())
    values = [str(v) for row in rows for v in tuple(row)]
    assert not any(code in v for v in values)
    assert len(rows[0]["code_hash"]) == 64


async def test_parallel_guesses_are_counted_before_they_are_compared(w: World) -> None:
    code = await send(w)
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 40)]
    results = await asyncio.gather(
        *(w.s.sms.consume(PHONE, "register", guess) for guess in wrong),
        return_exceptions=True,
    )
    assert all(isinstance(r, WrongSmsCode) for r in results)
    judged = [r for r in results if isinstance(r, WrongSmsCode) and "is wrong" in r.message]
    assert len(judged) == 5  # the other 34 were refused before being compared
    assert sorted((r.details or {}).get("tries_left", 0) for r in judged) == [0, 1, 2, 3, 4]
    rows = await w.db.call(lambda c: c.execute("SELECT guesses FROM sms_codes").fetchall())
    assert [r[0] for r in rows] == [5]
    with pytest.raises(WrongSmsCode, match="expired or was already used"):
        await w.s.sms.consume(PHONE, "register", code)


async def test_the_right_code_among_parallel_guesses_is_judged_only_within_the_five(
    w: World,
) -> None:
    code = await send(w)
    guesses = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 40)] + [code]
    results = await asyncio.gather(
        *(w.s.sms.consume(PHONE, "register", guess) for guess in guesses),
        return_exceptions=True,
    )
    judged = [r for r in results if not isinstance(r, WrongSmsCode) or "is wrong" in r.message]
    assert len(judged) == 5
    rows = await w.db.call(lambda c: c.execute("SELECT guesses FROM sms_codes").fetchall())
    assert [r[0] for r in rows] == [5]

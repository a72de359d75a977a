"""Staff two-step log-in (TOTP + recovery codes) on the real repositories, the injected
clock and the in-memory limiter: enrolment forced at first log-in, codes once each,
guesses limited even when sent in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from exams.identity.accounts import Account, Role
from exams.identity.two_factor import (
    CHALLENGE_TTL_S,
    GUESSES,
    PERIOD_S,
    SecondFactorRequired,
    WrongSecondFactor,
)
from exams.shared.errors import Conflict, TooManyRequests, Unauthenticated
from exams.shared.ports import Event
from tests.support.world import PASSWORD, World, world


@pytest.fixture
async def w2(tmp_path: Path) -> AsyncIterator[World]:
    async with world(tmp_path, staff_two_factor=True) as built:
        yield built


async def challenge(w: World, who: Account, client: str = "c") -> dict[str, Any]:
    with pytest.raises(SecondFactorRequired) as asked:
        await w.s.accounts.login(who.phone, PASSWORD, client)
    details: dict[str, Any] = asked.value.details
    return details


def code_now(w: World, secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret, interval=PERIOD_S).at(w.clock() + offset_steps * PERIOD_S)


async def enrolled(w: World, who: Account) -> tuple[str, list[str]]:
    """Log in once, set up the authenticator as forced: (secret, recovery codes)."""
    asked = await challenge(w, who)
    assert asked["method"] == "enrol"
    setup = await w.s.two_factor.enrolment_for_challenge(asked["challenge"], who)
    account_id, codes = await w.s.two_factor.complete(
        asked["challenge"], code_now(w, setup["secret"]), "c"
    )
    assert account_id == who.id
    w.clock.advance(PERIOD_S)  # the code just used is spent
    return setup["secret"], codes


async def test_staff_must_enrol_at_first_log_in_then_give_a_code(w2: World) -> None:
    admin = await w2.staff(Role.UNIT_ADMIN, await unit(w2))
    asked = await challenge(w2, admin)
    assert asked["method"] == "enrol" and asked["expires_in"] == CHALLENGE_TTL_S
    setup = await w2.s.two_factor.enrolment_for_challenge(asked["challenge"], admin)
    assert setup["otpauth_uri"].startswith("otpauth://totp/examcast:")
    assert setup["secret"] not in str(await w2.s.audit.recent())
    with pytest.raises(WrongSecondFactor):
        await w2.s.two_factor.complete(asked["challenge"], "000000", "c")
    _, codes = await w2.s.two_factor.complete(
        asked["challenge"], code_now(w2, setup["secret"]), "c"
    )
    assert len(codes) == 10 and len(set(codes)) == 10
    with pytest.raises(Unauthenticated):  # a challenge works once
        await w2.s.two_factor.complete(asked["challenge"], code_now(w2, setup["secret"]), "c")

    w2.clock.advance(PERIOD_S)
    again = await challenge(w2, admin)
    assert again["method"] == "totp"
    account_id, none = await w2.s.two_factor.complete(
        again["challenge"], code_now(w2, setup["secret"]), "c"
    )
    assert account_id == admin.id and none == []
    token = await w2.s.accounts.open_session(admin, "c", None)
    assert (await w2.s.accounts.account_for_token(token)) is not None
    events = [e.event for e in await w2.s.audit.recent(account_id=admin.id)]
    for event in (
        Event.SECOND_FACTOR_ASKED,
        Event.SECOND_FACTOR_ENROLLED,
        Event.SECOND_FACTOR_OK,
        Event.SECOND_FACTOR_FAILED,
    ):
        assert event in events


async def unit(w: World) -> str:
    await w.s.units.add("10001", "甲")
    return "10001"


async def test_candidates_never_see_a_second_step(w2: World) -> None:
    candidate = await w2.register()
    account, token = await w2.s.accounts.login(candidate.phone, PASSWORD, "c")
    assert account.id == candidate.id and token


async def test_a_code_works_once_and_a_step_of_drift_is_accepted(w2: World) -> None:
    proctor = await w2.staff(Role.PROCTOR)
    secret, _ = await enrolled(w2, proctor)
    w2.clock.advance(PERIOD_S)  # the step before now was not used at enrolment
    first = await challenge(w2, proctor)
    code = code_now(w2, secret, -1)  # the phone's clock is 30 s behind
    await w2.s.two_factor.complete(first["challenge"], code, "c")
    replay = await challenge(w2, proctor)
    with pytest.raises(WrongSecondFactor):
        await w2.s.two_factor.complete(replay["challenge"], code, "c")
    with pytest.raises(WrongSecondFactor):  # two steps off: refused
        await w2.s.two_factor.complete(replay["challenge"], code_now(w2, secret, 2), "c")


async def test_recovery_codes_work_once_each_and_are_stored_hashed(w2: World) -> None:
    reviewer = await w2.staff(Role.STAFF_REVIEWER)
    _, codes = await enrolled(w2, reviewer)
    rows = await w2.db.call(lambda c: c.execute("SELECT code_hash FROM recovery_codes").fetchall())
    stored = {r[0] for r in rows}
    assert len(stored) == 10 and not stored & set(codes)
    first = await challenge(w2, reviewer)
    await w2.s.two_factor.complete(first["challenge"], codes[0].upper(), "c")
    second = await challenge(w2, reviewer)
    with pytest.raises(WrongSecondFactor):
        await w2.s.two_factor.complete(second["challenge"], codes[0], "c")
    assert (await w2.s.two_factor.status(reviewer))["recovery_codes_left"] == 9


async def test_parallel_code_guesses_are_limited_per_account(w2: World) -> None:
    admin = await w2.staff(Role.UNIT_ADMIN, await unit(w2))
    secret, _ = await enrolled(w2, admin)
    asked = await challenge(w2, admin)
    right = code_now(w2, secret)
    guesses = [f"{(int(right) + 1000 + i) % 10**6:06d}" for i in range(20)]
    results = await asyncio.gather(
        *(
            w2.s.two_factor.complete(asked["challenge"], g, f"10.0.0.{i}")
            for i, g in enumerate(guesses)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, WrongSecondFactor) for r in results) == GUESSES.free
    assert sum(isinstance(r, TooManyRequests) for r in results) == 20 - GUESSES.free
    with pytest.raises(TooManyRequests):  # even the right code waits now (no oracle)
        await w2.s.two_factor.complete(asked["challenge"], right, "c")
    w2.clock.advance(GUESSES.base_s)
    await w2.s.two_factor.complete(asked["challenge"], code_now(w2, secret), "c")


async def test_a_challenge_expires(w2: World) -> None:
    proctor = await w2.staff(Role.PROCTOR)
    secret, _ = await enrolled(w2, proctor)
    asked = await challenge(w2, proctor)
    w2.clock.advance(CHALLENGE_TTL_S)
    with pytest.raises(Unauthenticated, match="expired"):
        await w2.s.two_factor.complete(asked["challenge"], code_now(w2, secret), "c")


async def test_optional_mode_lets_staff_in_until_they_enrol(w: World) -> None:
    proctor = await w.staff(Role.PROCTOR)
    account, _ = await w.s.accounts.login(proctor.phone, PASSWORD, "c")
    assert account.id == proctor.id
    setup = await w.s.two_factor.begin(proctor)
    codes = await w.s.two_factor.confirm(proctor, code_now(w, setup["secret"]), "c")
    assert len(codes) == 10
    with pytest.raises(Conflict):
        await w.s.two_factor.begin(proctor)  # set up already
    w.clock.advance(PERIOD_S)
    with pytest.raises(SecondFactorRequired) as asked:
        await w.s.accounts.login(proctor.phone, PASSWORD, "c")
    assert asked.value.details["method"] == "totp"
    renewed = await w.s.two_factor.new_recovery_codes(proctor, code_now(w, setup["secret"]), "c")
    assert set(renewed).isdisjoint(codes)
    candidate = await w.register()
    with pytest.raises(Conflict):
        await w.s.two_factor.begin(candidate)


async def test_the_operator_resets_a_lost_authenticator(w2: World) -> None:
    admin = await w2.staff(Role.UNIT_ADMIN, await unit(w2))
    await enrolled(w2, admin)
    token = await w2.s.accounts.open_session(admin, "c", None)
    assert await w2.s.two_factor.reset(admin, w2.s.sessions)
    assert await w2.s.accounts.account_for_token(token) is None
    asked = await challenge(w2, admin)
    assert asked["method"] == "enrol"  # sets up a new one at the next log-in
    assert (await w2.s.two_factor.status(admin))["recovery_codes_left"] == 0
    assert Event.SECOND_FACTOR_RESET in [e.event for e in await w2.s.audit.recent()]

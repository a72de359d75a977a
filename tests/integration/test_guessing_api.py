"""Anti-guessing limits hold against parallel requests to a real server.

Each test fires its guesses at once (``asyncio.gather`` over HTTP) and counts
what the server actually judged — password-hash verifications, audit entries,
SMS code guesses in the database — never time. The server's domain clock is
frozen (moved by hand), so no back-off can expire while the requests run.

The password check and the verification check are the real ones behind a
gate: whatever reaches them waits there until every other request has been
answered. So every request is in flight at once, whatever the machine's speed:
a limit that is checked before it is counted lets them all through.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exams.identity.accounts import Account
from exams.identity.verification import IdSuffixVerifier, Verdict
from exams.shared.ports import Event
from tests.support.api import Reply, accept_agreements, api_client, log_in, register, signed_up
from tests.support.server import RunningServer, running_server, server_settings, wait_for
from tests.support.world import PASSWORD, FakeClock, resident_id
from web.keys import AUDIT, DATABASE, SMS_OUTBOX, VERIFICATION
from web.passwords import Argon2Hasher

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

REDIS_URL = os.environ.get("EXAMCAST_TEST_REDIS_URL")


class Gate:
    """Counts who reaches it; holds them until opened (bounded: never hangs a test)."""

    def __init__(self) -> None:
        self.reached = 0
        self.opened = asyncio.Event()
        self.opened.set()

    def close(self) -> None:
        self.reached = 0
        self.opened.clear()

    async def pass_(self) -> None:
        self.reached += 1
        await asyncio.wait_for(self.opened.wait(), 30)

    async def open_when_the_rest_answered(self, calls: list[asyncio.Task[Reply]]) -> list[Reply]:
        await wait_for(
            lambda: self.reached + sum(t.done() for t in calls) >= len(calls), 30, "the replies"
        )
        self.opened.set()
        return await asyncio.gather(*calls)


@dataclass
class Guarded:
    server: RunningServer
    clock: FakeClock
    password_checks: Gate
    verifier_checks: Gate


@asynccontextmanager
async def guarded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str = "memory"
) -> AsyncIterator[Guarded]:
    """A server on a frozen clock (moved by hand), its password and verifier checks gated."""
    if store == "redis" and not REDIS_URL:
        pytest.skip("EXAMCAST_TEST_REDIS_URL is not set")
    clock, password_checks, verifier_checks = FakeClock(), Gate(), Gate()

    class GatedHasher(Argon2Hasher):
        async def verify(self, hashed: str, password: str) -> bool:
            await password_checks.pass_()
            return await super().verify(hashed, password)

    class GatedVerifier(IdSuffixVerifier):
        async def check(
            self, account: Account, attempt_id: str, response: Mapping[str, Any]
        ) -> Verdict:
            await verifier_checks.pass_()
            return await super().check(account, attempt_id, response)

    monkeypatch.setattr("web.bootstrap.Argon2Hasher", GatedHasher)
    monkeypatch.setattr("web.verifiers.IdSuffixVerifier", GatedVerifier)
    settings = server_settings(
        tmp_path / "data",
        password_hash_memory_kib=1024,
        redis_url=REDIS_URL if store == "redis" else "",
    )
    async with running_server(settings, clock) as server:
        yield Guarded(server, clock, password_checks, verifier_checks)


def random_address() -> str:
    """A loopback address of this test alone (a Redis store outlives the server)."""
    return "127." + ".".join(str(b) for b in secrets.token_bytes(2)) + ".7"


def random_phone() -> str:
    return f"138{secrets.randbelow(10**8):08d}"


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_parallel_log_in_guesses_are_counted_before_any_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    victim, colleague = random_phone(), random_phone()
    hall = random_address()
    async with guarded_server(tmp_path, monkeypatch, store) as g:
        server = g.server
        async with api_client(server, random_address()) as setup:
            assert (await register(setup, victim, serial=1)).status == 201
            assert (await register(setup, colleague, serial=2)).status == 201
        async with api_client(server, hall) as attacker:
            guesses = [f"guess-{i:04d}" for i in range(40)]
            g.password_checks.close()
            calls = [asyncio.create_task(log_in(attacker, victim, guess)) for guess in guesses]
            replies = await g.password_checks.open_when_the_rest_answered(calls)
        codes = [r.status for r in replies]
        assert g.password_checks.reached == 5  # only the five free guesses were checked
        assert codes.count(429) == 35 and codes.count(401) == 5, codes
        events = [e.event for e in await server.app[AUDIT].recent(limit=200)]
        assert events.count(Event.LOGIN_FAILED) == 5
        assert events.count(Event.LOGIN_THROTTLED) == 35

        # Not a lockout of the exam hall: the others behind that address log in right away,
        # and the owner elsewhere too; the attacker's own pair waits a second, not minutes.
        async with api_client(server, hall) as neighbour:
            assert (await log_in(neighbour, colleague)).status == 200
        async with api_client(server, random_address()) as owner:
            assert (await log_in(owner, victim)).status == 200
        async with api_client(server, hall) as attacker:
            slowed = await log_in(attacker, victim)
            assert slowed.status == 429 and slowed.body["error"]["details"]["retry_after"] == 1
            g.clock.advance(1)
            assert (await log_in(attacker, victim)).status == 200


async def test_an_exam_hall_behind_one_address_logs_in_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hall = random_address()
    phones = [random_phone() for _ in range(40)]  # more mistypes than the old rule allowed
    async with guarded_server(tmp_path, monkeypatch) as g:
        server = g.server
        for serial, phone in enumerate(phones, start=1):
            async with api_client(server, random_address()) as setup:  # SMS: 30 per address
                assert (await register(setup, phone, serial=serial)).status == 201
        async with api_client(server, hall) as mistyping:  # everyone gets it wrong first...
            wrong = await asyncio.gather(*(log_in(mistyping, p, "typo-1234") for p in phones))
        assert {r.status for r in wrong} == {401}
        async with api_client(server, hall) as candidates:  # ...then right, all at once
            g.password_checks.close()
            calls = [asyncio.create_task(log_in(candidates, p)) for p in phones]
            right = await g.password_checks.open_when_the_rest_answered(calls)
        assert {r.status for r in right} == {200}


async def test_parallel_sms_code_guesses_are_counted_before_they_are_compared(
    api_server: RunningServer,
) -> None:
    phone = random_phone()
    async with api_client(api_server) as client:
        assert (await client.call("POST", "/api/sms-codes", {"phone": phone})).status == 202
        code = api_server.app[SMS_OUTBOX].latest(phone).code  # type: ignore[union-attr]
        assert code is not None

        def form(guess: str, serial: int) -> dict[str, str]:
            return {
                "phone": phone,
                "sms_code": guess,
                "name": "张三",
                "id_type": "resident_id",
                "id_number": resident_id(serial),
                "password": PASSWORD,
            }

        wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 40)]
        replies = await asyncio.gather(
            *(client.call("POST", "/api/accounts", form(g, i)) for i, g in enumerate(wrong))
        )
        assert {r.status for r in replies} == {400}
        judged = [r for r in replies if "is wrong" in r.body["error"]["message"]]
        assert len(judged) == 5  # the other 34 were refused without comparing
        rows = await api_server.app[DATABASE].call(
            lambda c: c.execute("SELECT guesses FROM sms_codes").fetchall()
        )
        assert [r[0] for r in rows] == [5]
        late = await client.call("POST", "/api/accounts", form(code, 99))
        assert late.status == 400 and late.code == "wrong_sms_code"  # the code is spent


async def test_a_verification_attempt_answered_at_once_is_judged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with guarded_server(tmp_path, monkeypatch) as g:
        server = g.server
        async with api_client(server) as client:
            who = await signed_up(client, random_phone())
            assert (await accept_agreements(client)).status == 200
            attempt = await client.call("POST", "/api/verification/attempts", {"scope": "login"})
            path = f"/api/verification/attempts/{attempt.body['attempt_id']}"
            g.verifier_checks.close()
            calls = [
                asyncio.create_task(client.call("POST", path, {"answer": f"{i:06d}"}))
                for i in range(30)
            ]
            replies = await g.verifier_checks.open_when_the_rest_answered(calls)
        codes = [r.status for r in replies]
        assert g.verifier_checks.reached == 1
        assert codes.count(200) == 1 and codes.count(404) == 29, codes
        state = await server.app[VERIFICATION].state(who.id, "login")
        assert state.failures == 1
        events = [e.event for e in await server.app[AUDIT].recent(account_id=who.id)]
        assert events.count(Event.VERIFICATION_FAILED) == 1

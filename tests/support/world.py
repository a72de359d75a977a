"""The accounts and admission services on a real database (a SQLite file, or PostgreSQL
when ``backend="postgresql"``), with a fake clock.

Domain rules are tested through the real repositories (the SQLite thread is
fast) and a clock the test moves by hand: no test sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from exams.admission.documents import Kind
from exams.admission.journey import Step
from exams.admission.units import ListInfo
from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account, Registration, Role
from exams.identity.admitted_csv import AdmittedEntry
from exams.shared.personal import gb11643_check_char
from storage.limits import MemoryRateLimiter
from storage.sql import Database
from storage.units import SqliteUnits
from tests.support.postgres import opened
from web.passwords import Argon2Hasher
from web.services import Services, build

PASSWORD = "correct horse"


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def resident_id(serial: int, born: str = "20070101") -> str:
    """A valid resident ID card number (right check character) for test person ``serial``."""
    first17 = f"110105{born}{serial % 1000:03d}"
    return first17 + gb11643_check_char(first17)


@dataclass
class World:
    s: Services
    clock: FakeClock
    db: Database
    serial: int = 0

    async def register(
        self,
        name: str = "张三",
        *,
        phone: str | None = None,
        id_number: str | None = None,
        id_type: str = "resident_id",
        client: str | None = None,
    ) -> Account:
        self.serial += 1
        client = client or f"198.51.100.{self.serial % 250}"
        phone = phone or f"139{self.serial:08d}"
        id_number = id_number or resident_id(self.serial)
        await self.s.sms.send(phone, "register", client)
        message = self.s.outbox.latest(phone)
        assert message is not None and message.code is not None
        form = Registration(phone, message.code, name, id_type, id_number, PASSWORD)
        return await self.s.accounts.register(form, client)

    async def staff(self, role: Role, unit_id: str | None = None) -> Account:
        account = await self.register(f"Staff {self.serial}")
        return await self.s.accounts.grant(account.phone, role, unit_id)

    async def stored_take(self, owner: str, purpose: str = "device_check") -> Take:
        self.serial += 1
        take = Take(
            id=f"take{self.serial}",
            owner=owner,
            session_id="s",
            purpose=purpose,
            state=TakeState.STORED,
            started_at=self.clock(),
            stopped_at=self.clock(),
            manifest={"segments": [{"index": 0}]},
        )
        await self.s.takes.save(take)
        return take

    async def candidate_at(self, step: Step, unit_id: str = "10001", name: str = "张三") -> Account:
        """A registered candidate who has done every step before ``step``."""
        who = await self.register(name)
        order = list(Step)
        docs = self.s.consent.documents
        if order.index(step) > order.index(Step.ACCEPT_AGREEMENTS):
            await self.s.consent.accept_agreements(
                who, docs.version(Kind.AGREEMENT), docs.version(Kind.PRIVACY), "c"
            )
        if order.index(step) > order.index(Step.VERIFY_IDENTITY):
            attempt = await self.s.verification.start(who, "login")
            answer = {"answer": who.id_number[-6:]}
            assert (await self.s.verification.answer(who, attempt["attempt_id"], answer, "c"))[
                "passed"
            ]
        if order.index(step) > order.index(Step.READ_NOTICE):
            await self.s.consent.read_notice(who, docs.version(Kind.NOTICE))
        if order.index(step) > order.index(Step.CHOOSE_UNIT):
            await self.admit(unit_id, [who])
            await self.s.admission.choose(who, unit_id, "c")
        if order.index(step) > order.index(Step.CONFIRM_DETAILS):
            await self.s.admission.confirm(who, "c")
        if order.index(step) > order.index(Step.ACCEPT_COMMITMENT):
            await self.s.consent.accept_commitment(who, docs.version(Kind.COMMITMENT))
        if order.index(step) > order.index(Step.DEVICE_CHECK):
            take = await self.stored_take(who.owner)
            await self.s.admission.device_check(who, take.id)
        return who

    async def admit(self, unit_id: str, people: list[Account]) -> None:
        """Put ``people`` (added to whoever is there) on the unit's list, as its admin would."""
        repo = SqliteUnits(self.db)
        if await repo.get(unit_id) is None:
            await self.s.units.add(unit_id, f"Unit {unit_id}")
        current = await repo.entries(unit_id, 0, 100_000)
        entries = current + [
            AdmittedEntry(p.name, p.id_type, p.id_number, len(current) + i + 2)
            for i, p in enumerate(people)
        ]
        await repo.replace_list(ListInfo(unit_id, self.clock(), "test", len(entries)), entries)


@asynccontextmanager
async def world(
    tmp_path: Path, *, staff_two_factor: bool = False, backend: str = "sqlite"
) -> AsyncIterator[World]:
    """The services on an empty database of ``backend`` ("sqlite" or "postgresql")."""
    async with opened(backend, tmp_path) as db:
        clock = FakeClock()
        hasher = Argon2Hasher(time_cost=1, memory_kib=64, threads=1)
        services = build(
            db,
            clock=clock,
            limiter=MemoryRateLimiter(),
            hasher=hasher,
            secret=b"k" * 32,
            reviews_dir=tmp_path / "reviews",
            session_idle_s=3600,
            session_max_s=8 * 3600,
            review_photo_max_bytes=256 * 1024,
            staff_two_factor_required=staff_two_factor,
        )
        try:
            yield World(services, clock, db)
        finally:
            hasher.close()

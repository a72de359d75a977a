"""Admission units (报考单位) and their admitted lists (准考名单).

A unit admin (role ``unit_admin``) is bound to one unit and may import and
read only that unit's list. An import replaces the unit's whole list in one
transaction, after the whole file was found valid. A person is on a list when
the ID type, the ID number and the name (compared without regard to case,
width or spacing) all match.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Protocol

from exams.identity.accounts import Account, Role
from exams.identity.admitted_csv import AdmittedEntry, parse_admitted_csv
from exams.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from exams.shared.personal import name_key, normalise_name
from exams.shared.ports import AuditLog, Clock, Entry, Event

_UNIT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    created_at: float

    def describe(self) -> dict[str, Any]:
        return {"unit_id": self.id, "name": self.name}


@dataclass(frozen=True)
class ListInfo:
    unit_id: str
    imported_at: float
    imported_by: str
    entries: int

    def describe(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "imported_at": self.imported_at,
            "imported_by": self.imported_by,
            "entries": self.entries,
        }


class UnitRepository(Protocol):
    async def add(self, unit: Unit) -> None: ...

    async def get(self, unit_id: str) -> Unit | None: ...

    async def all(self) -> list[Unit]: ...

    async def replace_list(self, info: ListInfo, entries: list[AdmittedEntry]) -> None: ...

    async def list_info(self, unit_id: str) -> ListInfo | None: ...

    async def entries(self, unit_id: str, offset: int, limit: int) -> list[AdmittedEntry]: ...

    async def holding(self, id_type: str, id_number: str) -> dict[str, AdmittedEntry]:
        """Unit id → the entry with this ID document, for every list holding it."""
        ...


class Units:
    def __init__(self, repo: UnitRepository, audit: AuditLog, clock: Clock) -> None:
        self._repo = repo
        self._audit = audit
        self._clock = clock

    async def add(self, unit_id: str, name: str) -> Unit:
        """Create a unit (an operator's command; the university console comes later)."""
        if not _UNIT_ID.fullmatch(unit_id):
            raise InvalidInput("a unit id has 1 to 32 letters, digits, _ or - (e.g. 10001)")
        if await self._repo.get(unit_id) is not None:
            raise Conflict(f"unit {unit_id} exists already")
        unit = Unit(unit_id, normalise_name(name), self._clock())
        await self._repo.add(unit)
        return unit

    async def get(self, unit_id: str) -> Unit:
        unit = await self._repo.get(unit_id)
        if unit is None:
            raise NotFound("no such admission unit")
        return unit

    async def all(self) -> list[Unit]:
        return await self._repo.all()

    async def admitted_units(self, account: Account) -> set[str]:
        """The units whose admitted list holds this account's name, ID type and number."""
        held = await self._repo.holding(account.id_type, account.id_number)
        mine = name_key(account.name)
        return {unit_id for unit_id, entry in held.items() if entry.name_key == mine}

    async def _admin_of(self, admin: Account, unit_id: str, client: str, what: str) -> Unit:
        if admin.role is not Role.UNIT_ADMIN or admin.unit_id != unit_id:
            await self._audit.record(
                Entry(
                    Event.ACCESS_DENIED,
                    admin.id,
                    client,
                    {"what": what, "unit_id": unit_id, "role": admin.role.value},
                    self._clock(),
                )
            )
            raise Forbidden("you can manage only the admission unit your account belongs to")
        return await self.get(unit_id)

    async def import_list(self, admin: Account, unit_id: str, data: bytes, client: str) -> ListInfo:
        entries = await self.parse(admin, unit_id, data, client)
        return await self.replace(admin, unit_id, entries, client)

    async def parse(
        self, admin: Account, unit_id: str, data: bytes, client: str
    ) -> list[AdmittedEntry]:
        """The entries of a file the admin may import (all valid, or every bad row named)."""
        await self._admin_of(admin, unit_id, client, "import_admitted_list")
        return await asyncio.to_thread(parse_admitted_csv, data)

    async def current(self, unit_id: str) -> list[AdmittedEntry]:
        """The whole list as imported now (empty before the first import)."""
        info = await self._repo.list_info(unit_id)
        return [] if info is None else await self._repo.entries(unit_id, 0, info.entries + 1)

    async def replace(
        self,
        admin: Account,
        unit_id: str,
        entries: list[AdmittedEntry],
        client: str,
        detail: dict[str, Any] | None = None,
    ) -> ListInfo:
        """Replace the unit's list with parsed ``entries``; ``detail`` joins the audit entry."""
        await self._admin_of(admin, unit_id, client, "import_admitted_list")
        info = ListInfo(unit_id, self._clock(), admin.id, len(entries))
        await self._repo.replace_list(info, entries)
        await self._audit.record(
            Entry(
                Event.ADMITTED_LIST_IMPORTED,
                admin.id,
                client,
                {"unit_id": unit_id, "entries": len(entries), **(detail or {})},
                info.imported_at,
            )
        )
        return info

    async def admitted_list(
        self, admin: Account, unit_id: str, client: str, offset: int = 0, limit: int = 500
    ) -> dict[str, Any]:
        unit = await self._admin_of(admin, unit_id, client, "read_admitted_list")
        info = await self._repo.list_info(unit_id)
        entries = await self._repo.entries(unit_id, offset, limit) if info else []
        return {
            "unit": unit.describe(),
            "list": None if info is None else info.describe(),
            "offset": offset,
            "entries": [e.describe() for e in entries],
        }

"""What an operator does in the console: the admission units (their admins are invited
with :mod:`exams.admission.invitations`). The ``examcast unit-add`` and ``grant`` commands stay
for the first operator and for scripts."""

from __future__ import annotations

from exams.admission.units import Unit, Units
from exams.identity.accounts import Account, Role
from exams.shared.errors import Forbidden
from exams.shared.ports import AuditLog, Clock, Entry, Event


class Operators:
    def __init__(self, units: Units, audit: AuditLog, clock: Clock) -> None:
        self._units = units
        self._audit = audit
        self._clock = clock

    async def units(self, operator: Account, client: str) -> list[Unit]:
        await self._check(operator, client, "list_units")
        return sorted(await self._units.all(), key=lambda u: u.id)

    async def create_unit(self, operator: Account, unit_id: str, name: str, client: str) -> Unit:
        """A new unit (409 if the id is taken); audited."""
        await self._check(operator, client, "create_unit")
        unit = await self._units.add(unit_id.strip(), name)
        detail = {"unit_id": unit.id, "name": unit.name}
        await self._audit.record(
            Entry(Event.UNIT_CREATED, operator.id, client, detail, unit.created_at)
        )
        return unit

    async def _check(self, who: Account, client: str, what: str) -> None:
        if who.role is Role.OPERATOR:
            return
        detail = {"what": what, "role": who.role.value}
        await self._audit.record(Entry(Event.ACCESS_DENIED, who.id, client, detail, self._clock()))
        raise Forbidden("only an operator manages admission units")

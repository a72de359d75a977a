"""Getting admitted (M2.1–M2.5): choose a unit, confirm details, then the device check.

The reading steps (system notice, commitment letter) are in ``exams.admission.consent``;
the order of all of them is kept by ``exams.admission.journey``.
"""

from __future__ import annotations

from typing import Any

from exams.admission.journey import Journey, Step, StepRecord
from exams.admission.units import Units
from exams.catalog.takes import TakeRepository, TakeState
from exams.identity.accounts import Account
from exams.shared.errors import Conflict, NotAdmitted, NotFound
from exams.shared.personal import ID_TYPES
from exams.shared.ports import AuditLog, Clock, Entry, Event

NOT_ADMITTED = (
    "you are not on the admitted list uploaded by the unit (你不在单位上传的准考名单中): "
    "check that the name, ID type and ID number of your account are exactly those you gave "
    "the unit; if they are, contact the unit"
)


class Admission:
    def __init__(
        self,
        units: Units,
        journey: Journey,
        takes: TakeRepository,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._units = units
        self._journey = journey
        self._takes = takes
        self._audit = audit
        self._clock = clock

    async def units_for(self, account: Account) -> dict[str, Any]:
        """Every unit, marked with whether its admitted list holds this candidate."""
        progress = await self._journey.require(account, Step.CHOOSE_UNIT)
        admitted = await self._units.admitted_units(account)
        return {
            "chosen_unit_id": progress.unit_id,
            "removed_from_unit": progress.removed_from,  # a re-import took them off its list
            "units": [
                {**unit.describe(), "admitted": unit.id in admitted}
                for unit in await self._units.all()
            ],
        }

    async def _not_admitted(self, account: Account, unit_id: str, client: str) -> NotAdmitted:
        await self._audit.record(
            Entry(
                Event.ACCESS_DENIED,
                account.id,
                client,
                {"what": "not_on_admitted_list", "unit_id": unit_id},
                self._clock(),
            )
        )
        return NotAdmitted(
            NOT_ADMITTED,
            {
                "unit_id": unit_id,
                "check": ["name", "id_type", "id_number"],
                "registered": self._details(account),
            },
        )

    async def choose(self, account: Account, unit_id: str, client: str) -> StepRecord:
        await self._journey.require(account, Step.CHOOSE_UNIT)
        unit = await self._units.get(unit_id)
        if unit.id not in await self._units.admitted_units(account):
            raise await self._not_admitted(account, unit.id, client)
        return await self._journey.record(account, Step.CHOOSE_UNIT, unit.id)

    @staticmethod
    def _details(account: Account) -> dict[str, Any]:
        return {
            "name": account.name,
            "id_type": ID_TYPES[account.id_type].describe(),
            "id_number": account.id_number,
            "phone": account.phone,
        }

    async def details(self, account: Account) -> dict[str, Any]:
        """What the candidate checks before confirming (资格确认)."""
        progress = await self._journey.require(account, Step.CONFIRM_DETAILS)
        assert progress.unit_id is not None
        unit = await self._units.get(progress.unit_id)
        confirmed = progress.done[Step.CONFIRM_DETAILS]
        return {
            "unit": unit.describe(),
            "details": self._details(account),
            "confirmed_at": None if confirmed is None else confirmed.done_at,
        }

    async def confirm(self, account: Account, client: str) -> StepRecord:
        """确认无误. The list may have been re-imported since the unit was chosen: check again."""
        progress = await self._journey.require(account, Step.CONFIRM_DETAILS)
        assert progress.unit_id is not None
        if progress.unit_id not in await self._units.admitted_units(account):
            raise await self._not_admitted(account, progress.unit_id, client)
        return await self._journey.record(
            account, Step.CONFIRM_DETAILS, "confirmed", unit_id=progress.unit_id
        )

    async def device_check(self, account: Account, take_id: str) -> StepRecord:
        """调试完毕: a stored device-check take of this account shows the devices work."""
        await self._journey.require(account, Step.DEVICE_CHECK)
        take = await self._takes.get(take_id)
        if take is None or take.owner != account.owner:
            raise NotFound("no such take: record a device-check take first")
        if take.purpose != "device_check":
            raise Conflict("this take is not a device-check recording")
        if take.state is not TakeState.STORED:
            raise Conflict(
                "this take is not stored yet (or failed): wait until it is stored, play it back, "
                "or record again",
                {"state": take.state.value},
            )
        return await self._journey.record(account, Step.DEVICE_CHECK, take.id)

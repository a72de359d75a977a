"""The candidate journey, in the order the server enforces.

accept the user agreement and privacy policy → real-person verification →
read the system notice → choose the admission unit → confirm personal details
→ accept the commitment letter → device check (unless every exam of the unit
has only offline questions) → the exam list.

Every step is recorded with its time (and what was accepted, chosen or
checked). The chosen unit counts only while its admitted list holds the
candidate now: after a re-import that removed them, the journey is back at
choosing a unit (``Progress.removed_from`` names the unit) and every later step
is refused with that reason. :meth:`Journey.require` refuses a step whose predecessors are not
done, naming the one to do first. Texts count only in their current version:
after the operator publishes a new user agreement, every candidate accepts it
again before anything else.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from exams.admission.documents import Documents, Kind
from exams.identity.accounts import Account, Role
from exams.shared.errors import Forbidden, StepRequired
from exams.shared.ports import Clock


class Step(StrEnum):
    ACCEPT_AGREEMENTS = "accept_agreements"
    VERIFY_IDENTITY = "verify_identity"
    READ_NOTICE = "read_notice"
    CHOOSE_UNIT = "choose_unit"
    CONFIRM_DETAILS = "confirm_details"
    ACCEPT_COMMITMENT = "accept_commitment"
    DEVICE_CHECK = "device_check"
    EXAMS = "exams"


ORDER = list(Step)

WHAT_TO_DO = {
    Step.ACCEPT_AGREEMENTS: "accept the user agreement and the privacy policy",
    Step.VERIFY_IDENTITY: "complete real-person verification",
    Step.READ_NOTICE: "read the system notice",
    Step.CHOOSE_UNIT: "choose your admission unit",
    Step.CONFIRM_DETAILS: "confirm your personal details",
    Step.ACCEPT_COMMITMENT: "accept the commitment letter",
    Step.DEVICE_CHECK: "complete the device check",
    Step.EXAMS: "choose an exam",
}

# Steps recorded per unit; the others once per account.
PER_UNIT = (Step.CONFIRM_DETAILS, Step.ACCEPT_COMMITMENT)


@dataclass(frozen=True)
class StepRecord:
    account_id: str
    step: Step
    done_at: float
    detail: str = ""
    unit_id: str = ""


class JourneyRepository(Protocol):
    async def records(self, account_id: str) -> list[StepRecord]: ...

    async def save(self, record: StepRecord) -> None:
        """Insert or replace the record of (account, unit, step)."""
        ...


# Hooks the other parts of the domain supply.
Verified = Callable[[str, str], Awaitable[float | None]]  # (account id, scope) -> passed at
DeviceCheckRequired = Callable[[str], Awaitable[bool]]  # unit id -> required?
AdmittedUnits = Callable[[Account], Awaitable[set[str]]]  # the units whose list holds them now
StepListener = Callable[["StepRecord"], Awaitable[None]]

REMOVED = (
    "the admitted list of your unit {unit} (准考名单) no longer holds you: the unit re-imported "
    "it without you. Choose your admission unit again, or contact the unit if this is a mistake"
)


async def always_required(unit_id: str) -> bool:
    return True


@dataclass(frozen=True)
class Progress:
    done: dict[Step, StepRecord | None]
    unit_id: str | None
    device_check_required: bool
    removed_from: str | None = None  # the chosen unit, whose list no longer holds them

    @property
    def next_step(self) -> Step:
        return next(step for step in ORDER if self.done.get(step) is None)

    def describe(self) -> dict[str, Any]:
        nxt = self.next_step
        return {
            "next_step": nxt.value,
            "what_to_do": WHAT_TO_DO[nxt],
            "unit_id": self.unit_id,
            "device_check_required": self.device_check_required,
            "removed_from_unit": self.removed_from,
            "steps": [
                {
                    "step": step.value,
                    "done_at": None if rec is None else rec.done_at,
                }
                for step, rec in self.done.items()
                if step is not Step.EXAMS
            ],
        }


class Journey:
    def __init__(
        self,
        repo: JourneyRepository,
        documents: Documents,
        verified: Verified,
        admitted: AdmittedUnits,
        clock: Clock,
        device_check_required: DeviceCheckRequired = always_required,
    ) -> None:
        self._repo = repo
        self._docs = documents
        self._verified = verified
        self._admitted = admitted
        self._clock = clock
        self.device_check_required = device_check_required
        self._listeners: list[StepListener] = []

    def add_listener(self, listener: StepListener) -> None:
        """``listener(record)`` after each step recorded (the proctors' wall follows them)."""
        self._listeners.append(listener)

    def agreement_versions(self) -> dict[str, str]:
        return {k.value: self._docs.version(k) for k in (Kind.AGREEMENT, Kind.PRIVACY)}

    async def progress(self, account: Account) -> Progress:
        records = {(r.unit_id, r.step): r for r in await self._repo.records(account.id)}
        done: dict[Step, StepRecord | None] = {}
        accepted = records.get(("", Step.ACCEPT_AGREEMENTS))
        ok = accepted is not None and json.loads(accepted.detail) == self.agreement_versions()
        done[Step.ACCEPT_AGREEMENTS] = accepted if ok else None
        verified_at = await self._verified(account.id, "login")
        done[Step.VERIFY_IDENTITY] = (
            None
            if verified_at is None
            else StepRecord(account.id, Step.VERIFY_IDENTITY, verified_at, "login")
        )
        notice = records.get(("", Step.READ_NOTICE))
        fresh = notice is not None and notice.detail == self._docs.version(Kind.NOTICE)
        done[Step.READ_NOTICE] = notice if fresh else None
        chosen = records.get(("", Step.CHOOSE_UNIT))
        unit_id = None if chosen is None else chosen.detail
        removed_from = None
        if unit_id is not None and unit_id not in await self._admitted(account):
            removed_from, unit_id, chosen = unit_id, None, None
        done[Step.CHOOSE_UNIT] = chosen
        done[Step.CONFIRM_DETAILS] = records.get((unit_id or "-", Step.CONFIRM_DETAILS))
        commitment = records.get((unit_id or "-", Step.ACCEPT_COMMITMENT))
        current = commitment is not None and commitment.detail == self._docs.version(
            Kind.COMMITMENT
        )
        done[Step.ACCEPT_COMMITMENT] = commitment if current else None
        required = True if unit_id is None else await self.device_check_required(unit_id)
        check = records.get(("", Step.DEVICE_CHECK))
        if check is None and not required:
            check = StepRecord(account.id, Step.DEVICE_CHECK, 0.0, "not_required")
        done[Step.DEVICE_CHECK] = check
        done[Step.EXAMS] = None
        return Progress(done, unit_id, required, removed_from)

    async def require(self, account: Account, step: Step) -> Progress:
        """Refuse unless every step before ``step`` is done."""
        if account.role is not Role.CANDIDATE:
            raise Forbidden("this is for candidates; your account has another role")
        progress = await self.progress(account)
        for earlier in ORDER[: ORDER.index(step)]:
            missing = progress.done[earlier] is None
            if missing and earlier is Step.CHOOSE_UNIT and progress.removed_from is not None:
                raise StepRequired(
                    REMOVED.format(unit=progress.removed_from),
                    {
                        "step": Step.CHOOSE_UNIT.value,
                        "requested": step.value,
                        "reason": "removed_from_admitted_list",
                        "unit_id": progress.removed_from,
                    },
                )
            if missing:
                raise StepRequired(
                    f"first {WHAT_TO_DO[earlier]}",
                    {"step": earlier.value, "requested": step.value},
                )
        return progress

    async def record(
        self, account: Account, step: Step, detail: str = "", unit_id: str = ""
    ) -> StepRecord:
        record = StepRecord(account.id, step, self._clock(), detail, unit_id)
        await self._repo.save(record)
        for listener in self._listeners:
            await listener(record)
        return record

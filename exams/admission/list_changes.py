"""What re-importing an admitted list (准考名单) changes, shown before and after.

An import replaces the unit's whole list, and a candidate it leaves out loses
the unit's exams at once (:mod:`exams.admission.exam_access`). So the console first
previews a file (:meth:`ListChanges.preview`: nothing changes) and says how
many people it removes, adds and keeps, and which of the removed ones have
already started or submitted an exam of the unit; the import itself
(:meth:`ListChanges.import_list`) answers with the same figures. A person is
the same when the ID type, the ID number and the name all match, as on the
list itself: a corrected name removes the old row and adds the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from exams.admission.units import Units
from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.identity.accounts import Account, Role
from exams.identity.admitted_csv import AdmittedEntry
from exams.shared.personal import name_key

SHOWN = 200  # removed people listed by name; the counts cover everyone

Key = tuple[str, str, str]  # id type, id number, name key


class AccountsByDocument(Protocol):
    async def by_document(self, id_type: str, id_number: str) -> Account | None: ...


class UnitExams(Protocol):
    async def for_unit(self, unit_id: str) -> list[Exam]: ...


class ExamAttempts(Protocol):
    async def of_exam(self, exam_id: str) -> list[Attempt]: ...


def _key(e: AdmittedEntry) -> Key:
    return (e.id_type, e.id_number, e.name_key)


@dataclass(frozen=True)
class Removal:
    entry: AdmittedEntry
    registered: bool
    started: bool
    submitted: int  # questions submitted in the unit's exams

    def describe(self) -> dict[str, Any]:
        return {
            **self.entry.describe(),
            "registered": self.registered,
            "started": self.started,
            "submitted": self.submitted,
        }


class ListChanges:
    def __init__(
        self,
        units: Units,
        accounts: AccountsByDocument,
        exams: UnitExams,
        attempts: ExamAttempts,
    ) -> None:
        self._units = units
        self._accounts = accounts
        self._exams = exams
        self._attempts = attempts

    async def preview(
        self, admin: Account, unit_id: str, data: bytes, client: str
    ) -> dict[str, Any]:
        """What importing ``data`` would change; nothing is changed."""
        entries = await self._units.parse(admin, unit_id, data, client)
        return {"unit_id": unit_id, **await self._changes(unit_id, entries)}

    async def import_list(
        self, admin: Account, unit_id: str, data: bytes, client: str
    ) -> dict[str, Any]:
        """Import ``data``; the list's info and what the import changed."""
        entries = await self._units.parse(admin, unit_id, data, client)
        changes = await self._changes(unit_id, entries)
        audit = {k: changes[k] for k in ("added", "removed", "removed_started")}
        info = await self._units.replace(admin, unit_id, entries, client, audit)
        return {**info.describe(), "changes": changes}

    async def _changes(self, unit_id: str, entries: list[AdmittedEntry]) -> dict[str, Any]:
        old = {_key(e): e for e in await self._units.current(unit_id)}
        new = {_key(e) for e in entries}
        gone = [e for k, e in old.items() if k not in new]
        attempts = await self._unit_attempts(unit_id) if gone else {}
        removals = [await self._removal(e, attempts) for e in gone]
        # The ones who already began come first: those are the ones to check.
        removals.sort(key=lambda r: (not r.started, not r.registered, r.entry.line))
        return {
            "entries": len(entries),
            "added": len(new - old.keys()),
            "kept": len(new & old.keys()),
            "removed": len(gone),
            "removed_registered": sum(1 for r in removals if r.registered),
            "removed_started": sum(1 for r in removals if r.started),
            "removed_submitted": sum(1 for r in removals if r.submitted),
            "removed_people": [r.describe() for r in removals[:SHOWN]],
        }

    async def _removal(self, entry: AdmittedEntry, attempts: dict[str, list[Attempt]]) -> Removal:
        who = await self._accounts.by_document(entry.id_type, entry.id_number)
        if who is None or name_key(who.name) != entry.name_key:
            return Removal(entry, False, False, 0)
        mine = attempts.get(who.id, []) if who.role is Role.CANDIDATE else []
        return Removal(entry, True, bool(mine), sum(1 for a in mine if a.submitted))

    async def _unit_attempts(self, unit_id: str) -> dict[str, list[Attempt]]:
        """Every attempt at the unit's exams, by candidate."""
        out: dict[str, list[Attempt]] = {}
        for exam in await self._exams.for_unit(unit_id):
            for a in await self._attempts.of_exam(exam.id):
                out.setdefault(a.candidate_id, []).append(a)
        return out

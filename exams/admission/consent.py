"""Reading and accepting the versioned texts: user agreement + privacy policy (M1.2),
system notice (M2.1) and commitment letter (M2.4).

The candidate sends the versions they were shown; a version that is no longer
current is refused, so nobody accepts a text they did not see.
"""

from __future__ import annotations

import json

from exams.admission.documents import Documents, Kind
from exams.admission.journey import Journey, Step, StepRecord
from exams.identity.accounts import Account
from exams.shared.errors import Conflict
from exams.shared.ports import AuditLog, Entry, Event


def _stale(kind: Kind, current: str) -> Conflict:
    return Conflict(
        f"the {kind.value.replace('_', ' ')} has a newer version ({current}): "
        "read it again and accept that one",
        {"kind": kind.value, "current_version": current},
    )


class Consent:
    def __init__(self, documents: Documents, journey: Journey, audit: AuditLog) -> None:
        self.documents = documents
        self._journey = journey
        self._audit = audit

    def _check(self, kind: Kind, version: str) -> str:
        current = self.documents.version(kind)
        if version != current:
            raise _stale(kind, current)
        return current

    async def accept_agreements(
        self, account: Account, agreement_version: str, privacy_version: str, client: str
    ) -> StepRecord:
        await self._journey.require(account, Step.ACCEPT_AGREEMENTS)
        versions = {
            Kind.AGREEMENT.value: self._check(Kind.AGREEMENT, agreement_version),
            Kind.PRIVACY.value: self._check(Kind.PRIVACY, privacy_version),
        }
        record = await self._journey.record(
            account, Step.ACCEPT_AGREEMENTS, json.dumps(versions, sort_keys=True)
        )
        await self._audit.record(
            Entry(Event.AGREEMENTS_ACCEPTED, account.id, client, versions, record.done_at)
        )
        return record

    async def read_notice(self, account: Account, version: str) -> StepRecord:
        await self._journey.require(account, Step.READ_NOTICE)
        return await self._journey.record(
            account, Step.READ_NOTICE, self._check(Kind.NOTICE, version)
        )

    async def accept_commitment(self, account: Account, version: str) -> StepRecord:
        progress = await self._journey.require(account, Step.ACCEPT_COMMITMENT)
        assert progress.unit_id is not None  # CHOOSE_UNIT is done
        return await self._journey.record(
            account,
            Step.ACCEPT_COMMITMENT,
            self._check(Kind.COMMITMENT, version),
            unit_id=progress.unit_id,
        )

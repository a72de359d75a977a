"""A timeline as staff read it: each incident with the names behind its ids."""

from __future__ import annotations

from typing import Any

from exams.identity.accounts import Account
from exams.proctoring.incident import Incident
from exams.proctoring.incident_ports import People


async def described(incidents: list[Incident], people: People) -> list[dict[str, Any]]:
    """:meth:`Incident.to_dict` with the candidate's name and the name and role of whoever
    decided (``None`` when unknown or undecided); each person looked up once."""
    names: dict[str, Account | None] = {}

    async def person(account_id: str | None) -> Account | None:
        if account_id is None:
            return None
        if account_id not in names:
            names[account_id] = await people.get(account_id)
        return names[account_id]

    out = []
    for incident in incidents:
        body = incident.to_dict()
        candidate = await person(incident.candidate_id)
        decider = await person(incident.disposed_by)
        body["candidate_name"] = None if candidate is None else candidate.name
        body["disposed_by_name"] = None if decider is None else decider.name
        body["disposed_by_role"] = None if decider is None else decider.role.value
        out.append(body)
    return out

"""What each judged verification answer leaves behind, and how long its evidence is kept.

A :class:`VerificationResult` per judged attempt: passed or not, the score, the model (name
and version) or vendor that judged, why it failed, and the keys of the JPEG frames kept as
evidence in the file store (``faces/evidence/<attempt id>/<n>.jpg``). The retention rule
(:meth:`EvidenceRetention.purge`, run by the server every hour) deletes the frames of results
older than ``keep_days`` and keeps the record (score, model, reason) without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from exams.shared.objects import ObjectStore
from exams.shared.ports import Clock

DAY_S = 86400.0
PURGE_BATCH = 200
_ATTEMPT = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class VerificationResult:
    attempt_id: str
    account_id: str
    scope: str
    at: float
    passed: bool
    score: float | None = None
    model: str | None = None
    reason: str | None = None
    evidence: tuple[str, ...] = ()  # keys in the file store

    def describe(self) -> dict[str, Any]:
        return {
            "attempt_id": self.attempt_id,
            "scope": self.scope,
            "at": self.at,
            "passed": self.passed,
            "score": self.score,
            "model": self.model,
            "reason": self.reason,
            "evidence": len(self.evidence),
        }


class ResultRepository(Protocol):
    async def add(self, result: VerificationResult) -> None: ...

    async def for_account(
        self, account_id: str, scope: str | None = None, limit: int = 50
    ) -> list[VerificationResult]:
        """Newest first."""
        ...

    async def with_evidence_before(self, before: float, limit: int) -> list[VerificationResult]:
        """Results judged before ``before`` that still keep evidence, oldest first."""
        ...

    async def drop_evidence(self, attempt_id: str) -> None:
        """Forget the evidence keys of this result (its files are deleted)."""
        ...


class Evidence:
    """The frames of one attempt in the file store (local disk or the object store)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @staticmethod
    def key(attempt_id: str, n: int) -> str:
        if not _ATTEMPT.fullmatch(attempt_id):
            raise ValueError(f"not an attempt id: {attempt_id!r}")
        return f"faces/evidence/{attempt_id}/{n:02d}.jpg"

    async def save(self, attempt_id: str, frames: tuple[bytes, ...]) -> tuple[str, ...]:
        keys = tuple(self.key(attempt_id, n) for n in range(len(frames)))
        for key, frame in zip(keys, frames, strict=True):
            await self._store.put_bytes(key, frame, {"content-type": "image/jpeg"})
        return keys

    async def read(self, key: str) -> bytes:
        return await self._store.read(key)

    async def delete(self, keys: tuple[str, ...]) -> None:
        if keys:
            await self._store.delete(*keys)


class EvidenceRetention:
    """The retention rule for verification evidence: frames older than ``keep_days`` go."""

    def __init__(
        self, results: ResultRepository, evidence: Evidence, clock: Clock, keep_days: float
    ) -> None:
        self._results = results
        self._evidence = evidence
        self._clock = clock
        self._keep_s = keep_days * DAY_S

    async def purge(self) -> int:
        """Delete the evidence past its time; how many attempts' frames went."""
        before = self._clock() - self._keep_s
        purged = 0
        while True:
            batch = await self._results.with_evidence_before(before, PURGE_BATCH)
            for result in batch:
                await self._evidence.delete(result.evidence)  # files first, then the keys
                await self._results.drop_evidence(result.attempt_id)
                purged += 1
            if len(batch) < PURGE_BATCH:
                return purged

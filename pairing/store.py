"""Where pairings and second-camera links are kept: the ports, and the in-memory stores
(``pairing.redis_store`` keeps both in Redis, for several nodes).

Pairings are ephemeral (DESIGN: Redis is for what may be lost): after a restart
the candidate shows a new QR code. A record is kept a while past its expiry so
a late scan is told "expired" rather than "not valid". A link (:mod:`pairing.links`)
is made where the phone scans and read where its camera connects, perhaps another node.
"""

from __future__ import annotations

from typing import Protocol

from pairing.links import Link
from pairing.tokens import Pairing

KEEP_AFTER_EXPIRY_S = 3600.0


class PairingStore(Protocol):
    async def add(self, pairing: Pairing) -> None: ...

    async def by_token_hash(self, token_hash: str) -> Pairing | None: ...

    async def get(self, pairing_id: str) -> Pairing | None: ...

    async def mark_redeemed(self, pairing: Pairing) -> bool:
        """Store ``pairing`` as redeemed; False if it already was (a concurrent replay).

        The compare-and-set is what makes a token single-use under concurrency
        (Redis: ``SET ... NX`` on a redeemed key).
        """
        ...

    async def purge(self, now: float) -> int: ...


class MemoryPairingStore:
    def __init__(self, keep_after_expiry_s: float = KEEP_AFTER_EXPIRY_S) -> None:
        self._keep = keep_after_expiry_s
        self._by_id: dict[str, Pairing] = {}
        self._by_hash: dict[str, str] = {}

    async def add(self, pairing: Pairing) -> None:
        self._by_id[pairing.id] = pairing
        self._by_hash[pairing.token_hash] = pairing.id

    async def by_token_hash(self, token_hash: str) -> Pairing | None:
        pairing_id = self._by_hash.get(token_hash)
        return None if pairing_id is None else self._by_id.get(pairing_id)

    async def get(self, pairing_id: str) -> Pairing | None:
        return self._by_id.get(pairing_id)

    async def mark_redeemed(self, pairing: Pairing) -> bool:
        current = self._by_id.get(pairing.id)
        if current is None or current.redeemed:
            return False
        self._by_id[pairing.id] = pairing
        return True

    async def purge(self, now: float) -> int:
        old = [p for p in self._by_id.values() if now >= p.expires_at + self._keep]
        for p in old:
            del self._by_id[p.id]
            self._by_hash.pop(p.token_hash, None)
        return len(old)

    def hashes(self) -> list[str]:
        """Every stored token hash (tests check no token is kept in clear)."""
        return [p.token_hash for p in self._by_id.values()]


class LinkStore(Protocol):
    """Each attempt's second-camera link, found by attempt, by scan, or by question."""

    async def put(self, link: Link) -> None: ...

    async def get(self, attempt_id: str) -> Link | None: ...

    async def by_pairing(self, pairing_id: str) -> Link | None: ...

    async def find(self, owner: str, exam_id: str, question_id: str) -> Link | None: ...

    async def delete(self, attempt_id: str) -> None: ...


class MemoryLinkStore:
    def __init__(self) -> None:
        self._links: dict[str, Link] = {}

    async def put(self, link: Link) -> None:
        self._links[link.attempt_id] = link

    async def get(self, attempt_id: str) -> Link | None:
        return self._links.get(attempt_id)

    async def by_pairing(self, pairing_id: str) -> Link | None:
        return next((x for x in self._links.values() if x.pairing_id == pairing_id), None)

    async def find(self, owner: str, exam_id: str, question_id: str) -> Link | None:
        return next(
            (
                x
                for x in self._links.values()
                if x.owner == owner and x.exam_id == exam_id and x.question_id == question_id
            ),
            None,
        )

    async def delete(self, attempt_id: str) -> None:
        self._links.pop(attempt_id, None)

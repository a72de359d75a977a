"""Where pairings are kept: a port, and the in-memory store (Redis later, with TTLs).

Pairings are ephemeral (DESIGN: Redis is for what may be lost): after a restart
the candidate shows a new QR code. A record is kept a while past its expiry so
a late scan is told "expired" rather than "not valid".
"""

from __future__ import annotations

from typing import Protocol

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

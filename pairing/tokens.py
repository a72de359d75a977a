"""Pairing tokens: what the QR code carries, and the rules for redeeming one (M3.5).

A token is 24 random bytes (URL-safe base64) made when the candidate's first
device asks for a QR code. It is bound to the account that asked, the exam,
the question and the attempt; it lives ``ttl_s`` seconds (120 by default) and
can be redeemed once. The server keeps only its SHA-256: the token has 192
bits of entropy, so no secret key is needed to make the hash useless for
guessing, and a copy of the store cannot be turned back into a working QR
code. Redeeming checks, in this order: a known token, not expired, not used
(a replay), the same account (the phone logs in with the candidate's own
account, as the manual says; another account's token is refused and
audited). The attempt's own rules (not submitted, not closed) are checked by
the service through its port.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Any

from exams.shared.errors import Conflict, Forbidden, NotFound

TOKEN_BYTES = 24
DEFAULT_TTL_S = 120.0


class PairingExpired(Conflict):
    code = "pairing_expired"


class PairingUsed(Conflict):
    code = "pairing_used"


class PairingNotYours(Forbidden):
    code = "pairing_not_yours"


@dataclass(frozen=True)
class Pairing:
    """One QR code: made for ``owner``'s ``attempt_id``; ``redeemed_at`` once scanned."""

    id: str
    token_hash: str
    owner: str
    exam_id: str
    question_id: str
    attempt_id: str
    created_at: float
    expires_at: float
    redeemed_at: float | None = None

    @property
    def redeemed(self) -> bool:
        return self.redeemed_at is not None

    def describe(self) -> dict[str, Any]:
        """What a client is shown (never the token's hash)."""
        return {
            "pairing_id": self.id,
            "candidate_id": self.owner,  # the phone's c= (the load balancer's media node)
            "exam_id": self.exam_id,
            "question_id": self.question_id,
            "attempt_id": self.attempt_id,
            "expires_at": self.expires_at,
            "redeemed_at": self.redeemed_at,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_pairing(
    owner: str, exam_id: str, question_id: str, attempt_id: str, now: float, ttl_s: float
) -> tuple[str, Pairing]:
    """A fresh token and the record kept of it (hashed)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    pairing = Pairing(
        id=secrets.token_hex(8),
        token_hash=hash_token(token),
        owner=owner,
        exam_id=exam_id,
        question_id=question_id,
        attempt_id=attempt_id,
        created_at=now,
        expires_at=now + ttl_s,
    )
    return token, pairing


def check_redeemable(pairing: Pairing | None, owner: str, now: float) -> Pairing:
    """Raise unless ``owner`` may redeem ``pairing`` now; the pairing as redeemed."""
    if pairing is None:
        raise NotFound("this QR code is not valid; show a new one on your first device")
    if now >= pairing.expires_at:
        raise PairingExpired(
            "this QR code has expired; tap to show a new one on your first device and scan it",
            {"expired_at": pairing.expires_at},
        )
    if pairing.redeemed:
        raise PairingUsed(
            "this QR code has already been scanned; show a new one on your first device"
        )
    if pairing.owner != owner:
        raise PairingNotYours(
            "this QR code belongs to another candidate's exam; log in on this phone with "
            "your own account and scan the code your first device shows"
        )
    return replace(pairing, redeemed_at=now)

"""The password policy and the port that hashes passwords.

The policy follows NIST SP 800-63B as ASVS 6.2 asks: a length floor and no
composition rules beyond refusing passwords made only of digits (a phone
number or a birthday). Hashing is Argon2id (``web.passwords``), run off the
event loop.
"""

from __future__ import annotations

from typing import Protocol

from exams.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 128


def check_password(password: str, *, phone: str = "", id_number: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"use at least {MIN_LENGTH} characters for your password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"use at most {MAX_LENGTH} characters for your password")
    if password.isdigit():
        raise InvalidInput("a password of digits only is too easy to guess: add letters or signs")
    lowered = password.casefold()
    if (phone and phone in lowered) or (id_number and id_number.casefold() in lowered):
        raise InvalidInput("do not use your phone or ID number in your password")


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, hashed: str, password: str) -> bool:
        """True when ``password`` matches; never raises for a mismatch."""
        ...

"""The password policy and the port that hashes passwords.

The policy follows NIST SP 800-63B as ASVS 6.2 asks: a length floor, no
composition rules, and a check against passwords attackers try first:

- the 30,000 most common passwords of public breach corpora (the ``zxcvbn``
  package's list) plus the ones common among Chinese users (``exams.identity.common_passwords``),
  compared without regard to case;
- trivial patterns: one character or a short unit repeated (``aaaaaaaa``,
  ``abcabcabc``), at most two runs of a sequence (``abcdefgh``, ``qwertyui``,
  ``abcd1234``), digits only (a phone number or a birthday);
- the account's own phone or ID number, or any 6 digits in a row of them
  (a birthday in the ID number, the phone's last digits).

Each refusal is a :class:`WeakPassword` whose ``reason`` the pages translate.
Hashing is Argon2id (``web.passwords``), run off the event loop.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Protocol

from exams.identity.common_passwords import CHINESE_COMMON
from exams.shared.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 128
PERSONAL_DIGITS = 6  # this many digits in a row of the phone or ID number may not appear
# Rows and runs people walk along on a keyboard or in the alphabet.
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1q2w3e4r5t6y7u8i9o0p",
)
REASONS = ("too_short", "too_long", "digits_only", "repeats", "sequence", "common", "personal")


class WeakPassword(InvalidInput):
    """A password the policy refuses; ``details["reason"]`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, {"reason": reason})
        self.reason = reason


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common passwords long enough to pass the length floor (loaded once)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    words = [*FREQUENCY_LISTS["passwords"], *CHINESE_COMMON]
    return frozenset(w.casefold() for w in words if len(w) >= MIN_LENGTH)


def _repeats(text: str) -> bool:
    if len(set(text)) <= 2:
        return True
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size)
        for size in range(1, len(text) // 2 + 1)
    )


@functools.cache
def _runs() -> tuple[str, ...]:
    return SEQUENCES + tuple(s[::-1] for s in SEQUENCES)


def _in_a_run(piece: str) -> bool:
    return len(piece) >= 3 and any(piece in run for run in _runs())


def _sequence(text: str) -> bool:
    """The whole text is one run of a sequence, or two runs one after the other."""
    if _in_a_run(text):
        return True
    return any(_in_a_run(text[:cut]) and _in_a_run(text[cut:]) for cut in range(3, len(text) - 2))


def _personal(text: str, phone: str, id_number: str) -> bool:
    for secret in (phone, id_number):
        digits = re.sub(r"\D", "", secret)
        if secret and secret.casefold() in text:
            return True
        for start in range(len(digits) - PERSONAL_DIGITS + 1):
            if digits[start : start + PERSONAL_DIGITS] in text:
                return True
    return False


class FormProblems:
    """Every problem of a person's form at once, as one :class:`InvalidInput`:
    ``details.fields`` maps a field to its message and ``details.reasons`` a refused
    password's field to its :data:`REASONS` code (the pages say it in their language)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.reasons: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.fields[field] = message

    def check(self, field: str, read: Callable[[], str]) -> str:
        """``read()``'s value, or "" with its :class:`InvalidInput` noted under ``field``
        (:meth:`raise_if_any` then raises, so an empty value never goes further)."""
        try:
            return read()
        except InvalidInput as exc:
            self.add(field, exc.message)
            return ""

    def password(self, field: str, password: str, *, phone: str = "", id_number: str = "") -> None:
        try:
            check_password(password, phone=phone, id_number=id_number)
        except WeakPassword as exc:
            self.add(field, exc.message)
            self.reasons[field] = exc.reason

    def raise_if_any(self) -> None:
        if self.fields:
            details: dict[str, Any] = {"fields": self.fields}
            if self.reasons:
                details["reasons"] = self.reasons
            raise InvalidInput("some fields need fixing: see details.fields", details)


def check_password(password: str, *, phone: str = "", id_number: str = "") -> None:
    """Refuse a weak password with :class:`WeakPassword`, saying why."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword("too_short", f"use at least {MIN_LENGTH} characters for your password")
    if len(password) > MAX_LENGTH:
        raise WeakPassword("too_long", f"use at most {MAX_LENGTH} characters for your password")
    lowered = password.casefold()
    if _personal(lowered, phone, id_number):
        raise WeakPassword(
            "personal", "do not use your phone or ID number (or part of it) in your password"
        )
    if password.isdigit():
        raise WeakPassword(
            "digits_only", "a password of digits only is too easy to guess: add letters or signs"
        )
    if _repeats(lowered):
        raise WeakPassword(
            "repeats", "this password repeats the same characters: choose something less regular"
        )
    if _sequence(lowered):
        raise WeakPassword(
            "sequence",
            "this password is a run of the keyboard or the alphabet: choose something else",
        )
    if lowered in common_passwords():
        raise WeakPassword(
            "common",
            "this password is one of the most common ones attackers try first: choose another",
        )


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, hashed: str, password: str) -> bool:
        """True when ``password`` matches; never raises for a mismatch."""
        ...

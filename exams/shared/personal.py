"""Personal details as the candidate gives them: mobile number, name, ID document.

Each ``normalise_*`` function returns the canonical form the server stores and
compares, or raises :class:`InvalidInput` with a message that says what to fix.
The ID types are the documents a candidate for a Chinese university can
register with; the resident ID card (居民身份证) number is checked against its
GB 11643-1999 check character and its date of birth.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from exams.shared.errors import InvalidInput

_PHONE = re.compile(r"1[3-9]\d{9}")
_PHONE_PREFIXES = ("+86", "0086", "86")
_SEPARATORS = re.compile(r"[\s\-()]")
_MIDDLE_DOTS = re.compile(r"[·•・‧∙⋅．.]")
_SPACES = re.compile(r"\s+")
NAME_MAX = 50


@dataclass(frozen=True)
class IdType:
    code: str
    name_zh: str
    name_en: str
    pattern: re.Pattern[str]
    hint: str

    def describe(self) -> dict[str, str]:
        return {"code": self.code, "name_zh": self.name_zh, "name_en": self.name_en}


ID_TYPES: dict[str, IdType] = {
    t.code: t
    for t in (
        IdType(
            "resident_id",
            "居民身份证",
            "Resident ID card",
            re.compile(r"\d{17}[\dX]"),
            "18 characters: 17 digits and a last digit or X",
        ),
        IdType(
            "passport",
            "护照",
            "Passport",
            re.compile(r"[A-Z0-9]{5,17}"),
            "5 to 17 letters and digits, as printed in the passport",
        ),
        IdType(
            "hk_macao_permit",
            "港澳居民来往内地通行证",
            "Mainland Travel Permit for Hong Kong and Macao Residents",
            re.compile(r"[HM]\d{8}(\d{2})?"),
            "H or M followed by 8 (or 10) digits",
        ),
        IdType(
            "taiwan_permit",
            "台湾居民来往大陆通行证",
            "Mainland Travel Permit for Taiwan Residents",
            re.compile(r"\d{8}"),
            "8 digits",
        ),
        IdType(
            "foreign_permanent_resident",
            "外国人永久居留身份证",
            "Foreign Permanent Resident ID Card",
            re.compile(r"[A-Z]{3}\d{12}|9\d{16}[\dX]"),
            "15 characters (3 letters and 12 digits) or, since 2023, 18 starting with 9",
        ),
    )
}

# Names a list file may use for an ID type, besides its code.
ID_TYPE_ALIASES: dict[str, str] = {
    **{t.name_zh: t.code for t in ID_TYPES.values()},
    **{t.name_en.casefold(): t.code for t in ID_TYPES.values()},
    "身份证": "resident_id",
    "港澳通行证": "hk_macao_permit",
    "台胞证": "taiwan_permit",
    "外国人永久居留证": "foreign_permanent_resident",
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def normalise_phone(raw: str) -> str:
    """A mainland mobile number as its 11 digits (``+86 138-0013-8000`` → ``13800138000``)."""
    phone = _SEPARATORS.sub("", _fold(raw))
    for prefix in _PHONE_PREFIXES:
        if phone.startswith(prefix) and len(phone) == len(prefix) + 11:
            phone = phone[len(prefix) :]
            break
    if not _PHONE.fullmatch(phone):
        raise InvalidInput(
            "enter a mainland China mobile number: 11 digits starting with 13 to 19 "
            "(e.g. 13800138000)"
        )
    return phone


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "***"


def normalise_name(raw: str) -> str:
    """The name as shown: width-folded, single spaces, one kind of middle dot (·)."""
    name = _SPACES.sub(" ", _MIDDLE_DOTS.sub("·", _fold(raw)))
    if not name:
        raise InvalidInput("enter your name exactly as it is on your ID document")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"a name has at most {NAME_MAX} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidInput("the name contains characters that cannot be part of a name")
    return name


def name_key(name: str) -> str:
    """What two names are compared by: case and spaces around dots do not matter."""
    return normalise_name(name).casefold().replace(" · ", "·").replace(" ·", "·").replace("· ", "·")


def id_type(code: str) -> IdType:
    found = ID_TYPES.get(code) or ID_TYPES.get(ID_TYPE_ALIASES.get(_fold(code).casefold(), ""))
    found = found or ID_TYPES.get(ID_TYPE_ALIASES.get(_fold(code), ""))
    if found is None:
        raise InvalidInput(
            f"unknown ID type {code!r}: use one of {', '.join(ID_TYPES)}",
            {"known": [t.describe() for t in ID_TYPES.values()]},
        )
    return found


def normalise_id_number(type_code: str, raw: str) -> str:
    """The ID number in canonical form (upper case, no spaces), checked for its type."""
    kind = id_type(type_code)
    number = _SEPARATORS.sub("", _fold(raw)).upper()
    if not number:
        raise InvalidInput(f"enter the {kind.name_en} number")
    if not kind.pattern.fullmatch(number):
        raise InvalidInput(f"this is not a {kind.name_en} number: it has {kind.hint}")
    if kind.code == "resident_id" or (
        kind.code == "foreign_permanent_resident" and len(number) == 18
    ):
        if gb11643_check_char(number[:17]) != number[17]:
            raise InvalidInput(
                "the last character of this ID number does not match the others: "
                "check every digit against the ID card",
                {"reason": "checksum"},
            )
    if kind.code == "resident_id" and not _plausible_birth_date(number[6:14]):
        raise InvalidInput("digits 7 to 14 of this ID number are not a date of birth: check them")
    return number


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def gb11643_check_char(first17: str) -> str:
    """The check character of an 18-character citizen identity number (ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _plausible_birth_date(digits: str) -> bool:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return born.year >= 1900


def mask_id_number(number: str) -> str:
    return number[:3] + "*" * max(0, len(number) - 7) + number[-4:] if len(number) > 7 else "***"

from __future__ import annotations

import pytest

from exams.shared.errors import InvalidInput
from exams.shared.personal import (
    gb11643_check_char,
    id_type,
    name_key,
    normalise_id_number,
    normalise_name,
    normalise_phone,
)


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138 0013 8000",
        "0086-138-0013-8000",
        "8613800138000",
        "１３８００１３８０００",
    ],
)
def test_phones_are_normalised_to_eleven_digits(raw: str) -> None:
    assert normalise_phone(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw", ["", "1380013800", "12800138000", "23800138000", "138001380001", "abc"]
)
def test_bad_phones_are_refused_with_what_to_enter(raw: str) -> None:
    with pytest.raises(InvalidInput, match="11 digits"):
        normalise_phone(raw)


def test_gb11643_check_character() -> None:
    # The standard's own example, and one ending in a digit.
    assert gb11643_check_char("11010519491231002") == "X"
    assert gb11643_check_char("44052418800101001") == "4"


def test_resident_id_checksum_date_and_lower_case_x() -> None:
    assert normalise_id_number("resident_id", "11010519491231002x") == "11010519491231002X"
    with pytest.raises(InvalidInput) as bad:
        normalise_id_number("resident_id", "110105194912310021")
    assert bad.value.details == {"reason": "checksum"}
    first17 = "11010519491331002"  # month 13
    with pytest.raises(InvalidInput, match="date of birth"):
        normalise_id_number("resident_id", first17 + gb11643_check_char(first17))
    with pytest.raises(InvalidInput, match="18 characters"):
        normalise_id_number("resident_id", "1101051949123100")


@pytest.mark.parametrize(
    "kind,raw,expected",
    [
        ("passport", "e1234 5678", "E12345678"),
        ("hk_macao_permit", "h12345678", "H12345678"),
        ("taiwan_permit", "12345678", "12345678"),
        ("foreign_permanent_resident", "usa123456789012", "USA123456789012"),
    ],
)
def test_other_documents(kind: str, raw: str, expected: str) -> None:
    assert normalise_id_number(kind, raw) == expected


def test_new_foreign_permanent_resident_cards_carry_a_check_character() -> None:
    first17 = "93310019900101001"
    good = first17 + gb11643_check_char(first17)
    assert normalise_id_number("foreign_permanent_resident", good) == good
    bad = first17 + ("0" if good[-1] != "0" else "1")
    with pytest.raises(InvalidInput):
        normalise_id_number("foreign_permanent_resident", bad)


def test_id_types_by_code_chinese_or_english_name() -> None:
    assert id_type("居民身份证").code == "resident_id"
    assert id_type("Passport").code == "passport"
    assert id_type("台胞证").code == "taiwan_permit"
    with pytest.raises(InvalidInput, match="unknown ID type"):
        id_type("driving_licence")


def test_names_compare_without_width_case_or_dot_style() -> None:
    assert normalise_name("  张 三 ") == "张 三"
    assert name_key("阿依古丽・买买提") == name_key("阿依古丽 · 买买提")
    assert name_key("Li  LEI") == name_key("li lei")
    with pytest.raises(InvalidInput):
        normalise_name("   ")
    with pytest.raises(InvalidInput):
        normalise_name("x" * 51)

from __future__ import annotations

import pytest

from exams.identity.admitted_csv import parse_admitted_csv
from exams.shared.errors import InvalidAdmittedList
from tests.support.world import resident_id

GOOD = resident_id(1)
GOOD2 = resident_id(2)


def problems(text: str | bytes) -> list[tuple[int, str]]:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(InvalidAdmittedList) as bad:
        parse_admitted_csv(data)
    assert bad.value.details["imported"] == 0
    return [(p["line"], p["code"]) for p in bad.value.details["errors"]]


def test_a_valid_list_with_bom_chinese_header_and_type_names() -> None:
    text = (
        f"\ufeff姓名,证件类型,证件号码\r\n张三,居民身份证,{GOOD.lower()}\r\n"
        "John Smith,passport,E1234567\r\n\r\n"
    )
    entries = parse_admitted_csv(text.encode())
    assert [(e.name, e.id_type, e.id_number, e.line) for e in entries] == [
        ("张三", "resident_id", GOOD, 2),
        ("John Smith", "passport", "E1234567", 3),
    ]


def test_columns_in_any_order() -> None:
    entries = parse_admitted_csv(f"id_number,name,id_type\n{GOOD},张三,resident_id\n".encode())
    assert entries[0].name == "张三"


def test_every_bad_row_is_reported_with_its_line() -> None:
    bad_checksum = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")
    text = (
        "name,id_type,id_number\n"
        f"张三,resident_id,{GOOD}\n"
        f",resident_id,{GOOD2}\n"
        f"李四,driving_licence,{GOOD2}\n"
        f"王五,resident_id,{bad_checksum}\n"
        f"赵六,resident_id,{GOOD}\n"
        "钱七,resident_id\n"
        "孙八,passport,!!\n"
    )
    assert problems(text) == [
        (3, "name"),
        (4, "id_type"),
        (5, "id_checksum"),
        (6, "duplicate"),
        (7, "columns"),
        (8, "id_number"),
    ]


def test_duplicate_message_names_the_first_line() -> None:
    with pytest.raises(InvalidAdmittedList) as bad:
        parse_admitted_csv(
            f"name,id_type,id_number\nA,resident_id,{GOOD}\nB,身份证,{GOOD}\n".encode()
        )
    assert "line 2" in bad.value.details["errors"][0]["reason"]


def test_header_and_encoding_problems() -> None:
    assert problems("名字,类型,号码\n张三,resident_id,x\n") == [(1, "header")]
    assert problems("name,name,id_number\n") == [(1, "header")]
    assert problems(f"name,id_type,id_number\n张三,resident_id,{GOOD}\n".encode("gbk")) == [
        (2, "encoding")
    ]
    assert problems("") == []
    assert problems("name,id_type,id_number\n\n") == []


def test_an_optional_phone_column_is_read_and_checked() -> None:
    text = (
        f"姓名,证件类型,证件号码,手机号\n张三,居民身份证,{GOOD},+86 138 0013 8000\n"
        f"李四,居民身份证,{GOOD2},\n"
    )
    entries = parse_admitted_csv(text.encode())
    assert [e.phone for e in entries] == ["13800138000", ""]
    assert entries[0].describe()["phone"] == "13800138000"
    assert "phone" not in entries[1].describe()
    assert problems(f"name,id_type,id_number,phone\n张三,resident_id,{GOOD},12345\n") == [
        (2, "phone")
    ]

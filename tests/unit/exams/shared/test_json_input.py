"""JSON from outside: what json.loads accepts but the server could not hold is refused."""

from __future__ import annotations

import pytest

from exams.shared.errors import InvalidInput
from exams.shared.json_input import MAX_DEPTH, MAX_INTEGER, loads


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "raw,words",
    [
        (nested(100_000), "nested more than"),  # json.loads: RecursionError
        (nested(MAX_DEPTH + 1), "nested more than"),
        ('{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "nested more than"),
        ('"\\ud800"', "not valid Unicode"),
        ('{"\\udfff": 1}', "not valid Unicode"),
        ('["ok", "\\udc00x"]', "not valid Unicode"),
        ("9" * 400, "outside"),
        ("-" + "9" * 400, "outside"),
        ("9" * 5000, "outside"),  # past sys.get_int_max_str_digits: json.loads' ValueError
        (str(MAX_INTEGER + 1), "outside"),
        ("1e400", "outside"),  # inf
        ("NaN", "NaN"),
        ("[Infinity]", "Infinity"),
        ('{"a": ', "not valid JSON (line 1, column 7)"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_refused_with_a_plain_message(raw: str | bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        loads(raw, "the body")
    message = refused.value.message
    assert message.startswith("the body ") and words in message, message
    for python in ("Error", "Expecting", "surrogates not allowed", "Exceeds the limit"):
        assert python not in message


def test_what_a_page_sends_is_read_as_before() -> None:
    numbers = f"[{MAX_INTEGER}, -{MAX_INTEGER}, 1.5e300]"
    value = loads(
        '{"name": "张三 \\ud83d\\ude00", "n": '
        + numbers
        + ', "deep": '
        + nested(MAX_DEPTH - 1)
        + ', "ok": true}'
    )
    assert value["name"] == "张三 😀"  # a surrogate *pair* is one character
    assert value["n"] == [MAX_INTEGER, -MAX_INTEGER, 1.5e300]
    assert loads(b'"\\\\ud800"') == "\\ud800"  # an escaped backslash, not a surrogate

"""Reading typed settings: a number of seconds (the monitoring rules' and the retake rule's)."""

from __future__ import annotations

from typing import Any

import pytest

from exams.shared.fields import Fields, Problems


def seconds(value: Any, maximum: float = 60.0) -> tuple[float | None, list[dict[str, str]]]:
    problems = Problems()
    data = {} if value is ... else {"after_s": value}
    got = Fields(data, problems, "rule.").seconds("after_s", 5.0, maximum)
    return got, problems.items


def test_absent_seconds_are_the_default() -> None:
    assert seconds(...) == (5.0, [])
    assert seconds(None) == (5.0, [])


@pytest.mark.parametrize(("typed", "read"), [(0, 0.0), (60, 60.0), (2.34567, 2.346)])
def test_seconds_from_zero_to_the_maximum_are_read_to_the_millisecond(
    typed: float, read: float
) -> None:
    assert seconds(typed) == (read, [])


@pytest.mark.parametrize("typed", [True, "5", float("nan"), [1]])
def test_what_is_not_a_number_is_named_under_its_path(typed: Any) -> None:
    assert seconds(typed) == (
        None,
        [{"field": "rule.after_s", "message": "must be a number of seconds"}],
    )


@pytest.mark.parametrize("typed", [-0.5, 60.001, float("inf")])
def test_seconds_out_of_range_say_the_range(typed: float) -> None:
    message = "must be from 0 to 60 seconds"
    assert seconds(typed) == (None, [{"field": "rule.after_s", "message": message}])

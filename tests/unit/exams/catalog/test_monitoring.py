"""An exam's monitoring rules: defaults, partial edits, and every bad value reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from exams.catalog.monitoring import DEFAULTS, AlertKind, Monitoring, Rule
from exams.shared.errors import InvalidInput
from exams.shared.fields import Problems


def read(data: Any) -> Monitoring:
    problems = Problems()
    found = Monitoring.from_dict(data, problems)
    problems.raise_if_any("the exam")
    return found


def test_the_defaults_hold_for_an_exam_that_says_nothing() -> None:
    m = read(None)
    assert m == Monitoring()
    assert m.rule(AlertKind.NO_FACE) == Rule(True, 10.0)
    assert m.rule("camera_dark") == Rule(True, 5.0)
    assert m.rule(AlertKind.SILENCE).after_s == 20.0
    assert m.rule(AlertKind.PAGE_HIDDEN) == Rule(True, 0.0)
    assert m.rule(AlertKind.HAND_RAISED) == Rule(True, 0.0)  # no rule: always, at once
    assert set(m.to_dict()) == {k.value for k in DEFAULTS}


def test_a_partial_edit_keeps_the_other_defaults_and_round_trips() -> None:
    m = read({"no_face": {"after_s": 15}, "silence": {"enabled": False}})
    assert m.rule(AlertKind.NO_FACE) == Rule(True, 15.0)
    assert m.rule(AlertKind.SILENCE) == Rule(False, 20.0)
    assert m.rule(AlertKind.MANY_FACES) == DEFAULTS[AlertKind.MANY_FACES]
    assert read(m.to_dict()) == m
    hash(m)  # the exam stays hashable


def test_every_bad_value_is_reported_at_once_with_its_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        read(
            {
                "no_face": {"after_s": -1},
                "silence": {"after_s": "20"},
                "camera_dark": {"enabled": "yes"},
                "camera_lost": {"after_s": 5},
                "many_faces": {"after_s": 7200},
                "picture_frozen": {"after_s": 10, "colour": "red"},
                "smoke": {"enabled": True},
                "hand_raised": {"enabled": False},
            }
        )
    fields = {d["field"] for d in caught.value.details}
    assert fields == {
        "monitoring.no_face.after_s",
        "monitoring.silence.after_s",
        "monitoring.camera_dark.enabled",
        "monitoring.camera_lost.after_s",
        "monitoring.many_faces.after_s",
        "monitoring.picture_frozen.colour",
        "monitoring.smoke",
        "monitoring.hand_raised",
    }
    messages = " ".join(d["message"] for d in caught.value.details)
    assert "fixed at 2 seconds" in messages and "from 0 to 3600 seconds" in messages


def test_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput):
        read([1, 2])
    with pytest.raises(InvalidInput):
        read({"no_face": 10})

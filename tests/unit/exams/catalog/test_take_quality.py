"""What counts as a take damaged by the system: the report read, the unit's rule applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from exams.catalog.exam_rules import Exam
from exams.catalog.take_quality import Damage, RetakeRule, damage, read_damage, read_quality
from exams.shared.errors import InvalidInput
from exams.shared.fields import Problems
from tests.unit.exams.builders import exam_of, online


def camera(
    lost: Sequence[tuple[float, float]] = (),
    low_fps_s: float = 0.0,
    audio: bool = True,
) -> dict[str, Any]:
    lost_s = sum(b - a for a, b in lost)
    return {
        "video": {
            "frames": 900,
            "fps": 29.5,
            "low_fps_s": low_fps_s,
            "resolutions": [{"from_s": 0.0, "width": 1280, "height": 720}],
            "bitrate_kbps": 1800.0,
            "frozen_s": 0.0,
            "black_s": 0.0,
            "lost_s": lost_s,
            "lost": [{"from_s": a, "to_s": b, "reason": "network"} for a, b in lost],
        },
        "audio": {
            "present": audio,
            "frames": 1500 if audio else 0,
            "bitrate_kbps": 128.0 if audio else 0.0,
            "channels": 2 if audio else 0,
            "bandwidth_hz": 20000 if audio else None,
            "lost_s": lost_s,
        },
    }


def report(**cameras: dict[str, Any]) -> dict[str, Any]:
    lost = max((c["video"]["lost_s"] for c in cameras.values()), default=0.0)
    return {"version": 1, "duration_s": 30.0, "lost_s": lost, "cameras": cameras}


RULE = RetakeRule()


def test_a_clean_take_is_not_damaged() -> None:
    assert damage(report(primary=camera()), RULE) == []


def test_more_than_two_seconds_lost_is_damage_with_when() -> None:
    [d] = damage(report(primary=camera(lost=[(12.1, 15.3)])), RULE)
    assert (d.kind, d.camera, round(d.seconds, 1)) == ("lost", "primary", 3.2)
    assert d.text == "this take lost 3.2 s to the network (0:12-0:15)"
    assert d.to_dict()["stretches"] == [{"from_s": 12.1, "to_s": 15.3, "reason": "network"}]


def test_two_seconds_lost_exactly_is_not_damage() -> None:
    assert damage(report(primary=camera(lost=[(5.0, 7.0)])), RULE) == []


def test_the_worst_camera_counts_and_is_named() -> None:
    q = report(primary=camera(lost=[(1.0, 2.0)]), secondary=camera(lost=[(3.0, 9.0)]))
    [d] = damage(q, RULE)
    assert (d.camera, d.seconds) == ("secondary", 6.0)
    assert "on the secondary camera" in d.text


def test_low_fps_for_more_than_five_seconds_is_damage() -> None:
    assert damage(report(primary=camera(low_fps_s=5.0)), RULE) == []
    [d] = damage(report(primary=camera(low_fps_s=7.5)), RULE)
    assert (d.kind, d.seconds) == ("low_fps", 7.5)
    assert d.text == "the picture ran below 15 fps for 7.5 s"


def test_audio_missing_counts_only_when_no_camera_has_sound() -> None:
    [d] = damage(report(primary=camera(audio=False)), RULE)
    assert d.kind == "audio_missing" and d.text == "this take has no audio"
    assert damage(report(primary=camera(audio=False), secondary=camera()), RULE) == []
    assert damage(report(primary=camera(audio=False)), RetakeRule(audio_missing=False)) == []


def test_several_kinds_at_once() -> None:
    q = report(primary=camera(lost=[(0.0, 4.0)], low_fps_s=10.0, audio=False))
    assert [d.kind for d in damage(q, RULE)] == ["lost", "low_fps", "audio_missing"]


def test_the_rule_switched_off_or_stricter() -> None:
    q = report(primary=camera(lost=[(0.0, 4.0)]))
    assert damage(q, RetakeRule(enabled=False)) == []
    assert damage(q, RetakeRule(lost_over_s=5.0)) == []
    assert len(damage(report(primary=camera(lost=[(0.0, 1.0)])), RetakeRule(lost_over_s=0))) == 1


@pytest.mark.parametrize("bad", [None, {}, {"version": 2, "cameras": {}}, "x", {"version": 1}])
def test_no_report_or_another_shape_judges_nothing(bad: Any) -> None:
    assert read_quality(bad) is None
    assert damage(bad, RULE) == []


def test_a_malformed_camera_is_read_leniently() -> None:
    q = {"version": 1, "duration_s": 3, "lost_s": "x", "cameras": {"primary": {"video": 3}}}
    parsed = read_quality(q)
    assert parsed is not None and parsed.cameras[0].lost_s == 0.0
    assert [d.kind for d in damage(q, RULE)] == ["audio_missing"]


def test_damage_round_trips_through_storage() -> None:
    [d] = damage(report(primary=camera(lost=[(12.1, 15.3)])), RULE)
    again = read_damage(d.to_dict())
    assert again.kind == d.kind and again.text == d.text
    assert isinstance(again, Damage)


def test_the_rule_is_an_exam_setting_with_defaults() -> None:
    exam = exam_of(online())
    assert exam.retake == RetakeRule(True, 2.0, 5.0, True, 2)
    data = exam.to_dict()
    assert data["retake"] == {
        "enabled": True,
        "lost_over_s": 2.0,
        "low_fps_over_s": 5.0,
        "audio_missing": True,
        "max_extra": 2,
    }
    data["retake"] = {"enabled": False, "lost_over_s": 4, "max_extra": 1}
    changed = Exam.from_dict(data)
    assert changed.retake == RetakeRule(False, 4.0, 5.0, True, 1)
    assert Exam.from_dict(changed.to_dict()) == changed


def test_bad_rule_values_are_listed_by_field() -> None:
    data = exam_of(online()).to_dict()
    data["retake"] = {"lost_over_s": -1, "max_extra": 11, "audio_missing": "yes", "x": 1}
    with pytest.raises(InvalidInput) as info:
        Exam.from_dict(data)
    fields = {d["field"] for d in info.value.details}
    assert fields == {
        "retake.lost_over_s",
        "retake.max_extra",
        "retake.audio_missing",
        "retake.x",
    }
    problems = Problems()
    RetakeRule.from_dict([], problems)
    assert problems.items and problems.items[0]["field"] == "retake"

from __future__ import annotations

from typing import Any

import pytest

from exams.catalog.questions import (
    FileKind,
    MaterialKind,
    OfflineSettings,
    OnlineSettings,
    Question,
    QuestionMode,
)
from exams.shared.errors import InvalidInput
from tests.unit.exams.builders import offline, online


def problems(data: Any) -> dict[str, str]:
    """The per-field problems Question.from_dict reports, as {field: message}."""
    with pytest.raises(InvalidInput) as err:
        Question.from_dict(data)
    return {p["field"]: p["message"] for p in err.value.details}


def online_data(**settings: Any) -> dict[str, Any]:
    base = {"id": "q1", "title": "Scales", "order": 1, "mode": "online", "recording_limit_s": 180}
    return base | settings


def test_online_question_defaults() -> None:
    q = online()
    assert q.mode is QuestionMode.ONLINE
    s = q.online
    assert s.recording_limit_s == 180
    assert s.reading_limit_s is None  # unlimited: the candidate starts by hand
    assert s.submission_limit_s is None  # until the exam ends
    assert (s.rehearsal_allowed, s.rehearsal_count, s.formal_count) == (False, 0, 1)
    assert not (s.second_camera_required or s.formal_playback_allowed or s.auto_submit)
    assert s.materials == ()


def test_every_problem_is_reported_at_once_with_its_field() -> None:
    found = problems(
        {
            "id": "",
            "order": 0,
            "mode": "online",
            "reading_limit_s": 0,
            "recording_limit_s": "three minutes",
            "formal_count": 0,
            "rehearsal_allowed": "yes",
            "recordng_limit_s": 180,
        }
    )
    assert set(found) == {
        "id",
        "title",
        "order",
        "reading_limit_s",
        "recording_limit_s",
        "formal_count",
        "rehearsal_allowed",
        "recordng_limit_s",
    }
    assert "spelling" in found["recordng_limit_s"]
    assert "null for unlimited" in found["reading_limit_s"]


def test_error_code_and_message_say_what_to_do() -> None:
    with pytest.raises(InvalidInput) as err:
        Question.from_dict(online_data(recording_limit_s=0, formal_count=0))
    assert err.value.code == "invalid_input"
    assert "2 problems" in err.value.message and "fix each field" in err.value.message


def test_mode_must_be_online_or_offline() -> None:
    assert "mode" in problems(online_data(mode="live"))
    assert "mode" in problems({"id": "q", "title": "t", "order": 1})


def test_body_must_be_an_object() -> None:
    assert problems(["not", "an", "object"]) == {"(body)": "must be an object with named fields"}


@pytest.mark.parametrize("value", [0, 3601, -5, 1.5, True, "60"])
def test_reading_limit_is_1_to_3600_seconds_or_unlimited(value: Any) -> None:
    assert "reading_limit_s" in problems(online_data(reading_limit_s=value))


def test_reading_limit_bounds_accepted() -> None:
    assert online(reading_limit_s=1).online.reading_limit_s == 1
    assert online(reading_limit_s=3600, recording_limit_s=60).online.reading_limit_s == 3600
    assert online(reading_limit_s=None).online.reading_limit_s is None


@pytest.mark.parametrize("value", [None, 0, 7201])
def test_recording_limit_is_required_and_1_to_7200_seconds(value: Any) -> None:
    assert "recording_limit_s" in problems(online_data(recording_limit_s=value))


def test_submission_limit_must_exceed_reading_plus_recording() -> None:
    found = problems(online_data(reading_limit_s=120, submission_limit_s=300))
    assert "reading plus recording time (300 s)" in found["submission_limit_s"]
    assert "submission_limit_s" in problems(online_data(submission_limit_s=180))
    ok = online(reading_limit_s=120, submission_limit_s=301).online
    assert ok.submission_limit_s == 301


def test_submission_limit_without_reading_limit_counts_recording_only() -> None:
    assert online(submission_limit_s=181).online.submission_limit_s == 181


def test_rehearsal_count_is_at_least_one_when_rehearsals_are_allowed() -> None:
    assert "rehearsal_count" in problems(online_data(rehearsal_allowed=True))
    assert "rehearsal_count" in problems(online_data(rehearsal_allowed=True, rehearsal_count=0))
    s = online(rehearsal_allowed=True, rehearsal_count=2).online
    assert (s.rehearsal_allowed, s.rehearsal_count) == (True, 2)


def test_rehearsal_count_is_zero_when_rehearsals_are_not_allowed() -> None:
    found = problems(online_data(rehearsal_count=3))
    assert "not allowed" in found["rehearsal_count"]
    assert online(rehearsal_count=0).online.rehearsal_count == 0


def test_formal_count_is_at_least_one() -> None:
    assert "formal_count" in problems(online_data(formal_count=0))
    assert online(formal_count=3).online.formal_count == 3


def test_auto_submit_only_for_a_single_recording() -> None:
    found = problems(online_data(formal_count=2, auto_submit=True))
    assert "formal_count is 1" in found["auto_submit"]
    assert online(auto_submit=True).online.auto_submit


def test_auto_submit_cannot_wait_for_required_materials() -> None:
    text = {"kind": "text", "required": True, "max_chars": 500}
    found = problems(online_data(auto_submit=True, materials=[text]))
    assert "required materials" in found["auto_submit"]
    optional = {"kind": "text", "max_chars": 500}
    assert online(auto_submit=True, materials=[optional]).online.auto_submit


def test_flags_are_booleans() -> None:
    found = problems(online_data(second_camera_required=1, formal_playback_allowed="no"))
    assert set(found) == {"second_camera_required", "formal_playback_allowed"}
    s = online(second_camera_required=True, formal_playback_allowed=True).online
    assert s.second_camera_required and s.formal_playback_allowed


def test_text_material_is_bounded_by_characters() -> None:
    s = online(materials=[{"kind": "text", "required": True, "max_chars": 500}]).online
    (rule,) = s.materials
    assert (rule.key, rule.kind, rule.required, rule.max_chars) == (
        "text",
        MaterialKind.TEXT,
        True,
        500,
    )
    assert rule.max_count == 1 and rule.max_bytes is None
    assert s.material("text") is rule


def test_text_material_rejects_file_limits() -> None:
    found = problems(
        online_data(
            materials=[{"kind": "text", "max_bytes": 10, "formats": ["txt"], "max_count": 2}]
        )
    )
    assert set(found) == {
        "materials[0].max_chars",
        "materials[0].max_bytes",
        "materials[0].formats",
        "materials[0].max_count",
    }


def test_file_material_needs_size_and_formats() -> None:
    found = problems(online_data(materials=[{"kind": "audio", "max_chars": 20}]))
    assert set(found) == {
        "materials[0].max_bytes",
        "materials[0].formats",
        "materials[0].max_chars",
    }


def test_file_material_formats_are_normalised() -> None:
    s = online(
        materials=[
            {
                "key": "score",
                "label": "Sheet music",
                "kind": "image",
                "max_count": 3,
                "max_bytes": 5_000_000,
                "formats": [".JPG", "png", "jpg"],
            }
        ]
    ).online
    (rule,) = s.materials
    assert rule.formats == ("jpg", "png")
    assert (rule.key, rule.label, rule.max_count, rule.required) == (
        "score",
        "Sheet music",
        3,
        False,
    )


def test_material_problems_are_listed_per_material() -> None:
    found = problems(
        online_data(
            materials=[
                {"kind": "hologram"},
                {"kind": "video", "max_bytes": 1, "formats": ["mp4", "m p4"]},
                {"kind": "video", "max_bytes": 1, "formats": ["mp4"]},
            ]
        )
    )
    assert set(found) == {"materials[0].kind", "materials[1].formats[1]", "materials[2].key"}
    assert "its own key" in found["materials[2].key"]


def test_unknown_material_key_says_which_exist() -> None:
    s = online(materials=[{"kind": "text", "max_chars": 10}]).online
    with pytest.raises(InvalidInput, match="it asks for: text"):
        s.material("video")


def test_offline_question_file_rule() -> None:
    q = offline()
    assert q.mode is QuestionMode.OFFLINE
    rule = q.offline.files
    assert rule.kinds == (FileKind.VIDEO,)
    assert (rule.min_count, rule.max_count, rule.min_bytes, rule.max_bytes) == (
        1,
        8,
        0,
        30 * 1024 * 1024,
    )
    assert q.offline.submission_limit_s is None


def test_offline_rule_accepts_pdf_and_a_submission_limit() -> None:
    q = offline(
        submission_limit_s=2400,
        files={
            "kinds": ["pdf", "image"],
            "formats": ["pdf", "png"],
            "max_count": 2,
            "max_bytes": 10,
        },
    )
    assert q.offline.files.kinds == (FileKind.PDF, FileKind.IMAGE)
    assert q.offline.submission_limit_s == 2400


def test_offline_rule_problems() -> None:
    data = {
        "id": "q9",
        "title": "Prepared video",
        "order": 9,
        "mode": "offline",
        "files": {
            "kinds": ["video", "smell"],
            "formats": [],
            "min_count": 3,
            "max_count": 2,
            "min_bytes": 100,
            "max_bytes": 10,
            "max_size": 3,
        },
    }
    assert set(problems(data)) == {
        "files.kinds[1]",
        "files.formats",
        "files.max_count",
        "files.max_bytes",
        "files.max_size",
    }


def test_offline_rule_needs_kinds_and_max_bytes() -> None:
    data = {"id": "q9", "title": "t", "order": 9, "mode": "offline", "files": {"formats": ["mp4"]}}
    assert set(problems(data)) == {"files.kinds", "files.max_count", "files.max_bytes"}
    data.pop("files")
    assert "files" in problems(data)


def test_settings_of_the_other_mode_are_rejected() -> None:
    assert "files" in problems(online_data(files={"kinds": ["video"]}))
    off = offline().to_dict() | {"recording_limit_s": 60}
    assert "recording_limit_s" in problems(off)


def test_mode_accessors_say_what_to_do_instead() -> None:
    with pytest.raises(InvalidInput, match="upload your prepared files"):
        _ = offline().online
    with pytest.raises(InvalidInput, match="record your answer"):
        _ = online().offline


@pytest.mark.parametrize(
    "question",
    [
        online(
            reading_limit_s=60,
            submission_limit_s=600,
            rehearsal_allowed=True,
            rehearsal_count=2,
            formal_count=3,
            second_camera_required=True,
            formal_playback_allowed=True,
            materials=[
                {"kind": "text", "max_chars": 200, "required": True, "label": "Title of the piece"},
                {"key": "acc", "kind": "audio", "max_bytes": 9, "formats": ["mp3"], "max_count": 2},
            ],
        ),
        offline(submission_limit_s=1800),
    ],
)
def test_to_dict_round_trips(question: Question) -> None:
    assert Question.from_dict(question.to_dict()) == question


def test_settings_types() -> None:
    assert isinstance(online().settings, OnlineSettings)
    assert isinstance(offline().settings, OfflineSettings)

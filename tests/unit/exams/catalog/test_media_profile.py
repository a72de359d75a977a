"""An exam's sound and picture (issue #18): what the unit may set, and what it asks for."""

from __future__ import annotations

from typing import Any

import pytest

from exams.catalog.exam_rules import Exam
from exams.catalog.media_profile import (
    DEFAULT,
    LOW_AUDIO_BITRATE,
    LOW_FPS,
    LOW_VIDEO_BITRATE,
    MONO_SOUND,
    NARROW_SOUND,
    NO_PICTURE,
    NO_SOUND,
    SMALL_PICTURE,
    MediaProfile,
    shortfalls,
    strictest,
)
from exams.shared.errors import InvalidInput

EXAM = {"id": "e1", "unit_id": "u1", "title": "Piano", "opens_at": 0, "closes_at": 10}


def test_an_exam_that_says_nothing_gets_music_at_128_kbits_and_720p() -> None:
    exam = Exam.from_dict(EXAM)
    assert exam.media == DEFAULT
    assert exam.to_dict()["media"] == {
        "audio": "music",
        "audio_kbps": 128,
        "video": "720p",
        "min_fps": 20,
    }
    assert Exam.from_dict(exam.to_dict()) == exam


def test_the_unit_sets_each_field_and_it_survives_a_round_trip() -> None:
    media = {"audio": "music", "audio_kbps": 256, "video": "480p", "min_fps": 25}
    exam = Exam.from_dict({**EXAM, "media": media})
    assert exam.media == MediaProfile("music", 256, "480p", 25)
    assert Exam.from_dict(exam.to_dict()).media == exam.media
    # voice without a bitrate: a voice's own
    assert Exam.from_dict({**EXAM, "media": {"audio": "voice"}}).media.audio_kbps == 32


@pytest.mark.parametrize(
    "media,field",
    [
        ({"audio": "opera"}, "media.audio"),
        ({"audio_kbps": 31}, "media.audio_kbps"),
        ({"audio_kbps": 511}, "media.audio_kbps"),
        ({"audio_kbps": "high"}, "media.audio_kbps"),
        ({"video": "4k"}, "media.video"),
        ({"min_fps": 0}, "media.min_fps"),
        ({"min_fps": 31}, "media.min_fps"),
        ({"bitrate": 5}, "media.bitrate"),
        ("music", "media"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(media: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Exam.from_dict({**EXAM, "media": media})
    assert field in [item["field"] for item in caught.value.details]


def test_music_asks_opus_for_stereo_full_band_no_dtx_with_fec() -> None:
    assert MediaProfile("music", 192).opus_fmtp() == {
        "stereo": "1",
        "maxplaybackrate": "48000",
        "maxaveragebitrate": "192000",
        "usedtx": "0",
        "useinbandfec": "1",
    }
    assert MediaProfile("voice", 32).opus_fmtp() == {"useinbandfec": "1"}


@pytest.mark.parametrize(
    "audio,kbps,ptime",
    [
        ("voice", 32, 40),
        ("music", 32, 40),
        ("music", 128, 40),  # the default: 640 bytes a packet on average
        ("music", 133, 40),  # 998 bytes at its peaks
        ("music", 134, None),
        ("music", 160, None),  # 800 on average, 1200 at its peaks: a browser's 20 ms
        ("music", 192, None),
        ("music", 510, None),
    ],
)
def test_sound_comes_in_40_ms_packets_unless_they_would_not_fit_one(
    audio: str, kbps: int, ptime: int | None
) -> None:
    assert MediaProfile(audio, kbps).ptime_ms() == ptime


def test_the_sender_gets_the_target_picture_and_bitrates() -> None:
    sending = MediaProfile("music", 128, "720p", 20).sending()
    assert sending["stereo"] is True
    assert (sending["width"], sending["height"], sending["fps"]) == (1280, 720, 30)
    assert sending["video_min_kbps"] < sending["video_max_kbps"]
    assert MediaProfile("voice", 32, "480p").sending()["stereo"] is False


def test_the_strictest_of_a_units_exams_meets_them_all() -> None:
    assert strictest([]) == DEFAULT
    voice = MediaProfile("voice", 64, "480p", 15)
    music = MediaProfile("music", 160, "480p", 10)
    assert strictest([voice]) == voice
    assert strictest([voice, music, MediaProfile("voice", 96, "720p", 25)]) == MediaProfile(
        "music", 160, "720p", 25
    )


def received(**over: Any) -> dict[str, Any]:
    video = {"frames": 300, "fps": 30.0, "width": 1280, "height": 720, "bitrate_kbps": 1800.0}
    audio = {"present": True, "channels": 2, "bandwidth_hz": 20000, "bitrate_kbps": 130.0}
    for key, value in over.items():
        kind, name = key.split("__")
        (video if kind == "video" else audio)[name] = value
    return {"video": video, "audio": audio}


def test_what_the_server_receives_meets_the_exam_or_says_where_not() -> None:
    music = MediaProfile("music", 128, "720p", 20)
    assert shortfalls(music, received()) == []
    # a phone held upright: 720x1280 is 720p too
    assert shortfalls(music, received(video__width=720, video__height=1280)) == []
    assert shortfalls(
        music,
        received(
            video__width=640,
            video__height=360,
            video__fps=12.0,
            video__bitrate_kbps=250.0,
            audio__channels=1,
            audio__bandwidth_hz=8000,
            audio__bitrate_kbps=32.0,
        ),
    ) == [
        SMALL_PICTURE,
        LOW_FPS,
        LOW_VIDEO_BITRATE,
        MONO_SOUND,
        NARROW_SOUND,
        LOW_AUDIO_BITRATE,
    ]
    assert shortfalls(music, {"video": {"frames": 0}, "audio": {"present": False}}) == [
        NO_PICTURE,
        NO_SOUND,
    ]
    # a voice exam asks nothing of the sound but that it comes
    voice = MediaProfile("voice", 32, "480p", 15)
    assert shortfalls(voice, received(audio__channels=1, audio__bandwidth_hz=8000)) == []

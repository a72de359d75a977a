"""The signal detectors' state machines on their own: time moved by hand, no media."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from exams.proctoring.conditions import End, Onset
from media.detectors.audio_level import SOUND_MAX_LEVEL, LevelNote, SilenceWatch
from media.detectors.camera_lost import LostWatch, last_frame_at
from media.detectors.second_camera import SecondCameraWatch
from media.sources import TrackSource

T0 = 1_700_000_000.0  # server clock
M0 = 5_000.0  # media clock (monotonic)


def packets(note: LevelNote, count: int, level: int, at: float) -> None:
    """``count`` packets of ``level`` -dBov arriving at media time ``at`` (as the tap notes)."""
    for _ in range(count):
        note.packets += 1
        if level <= SOUND_MAX_LEVEL:
            note.loud += 1
            note.last_loud_at = at


def test_silence_fires_after_its_time_with_the_onset_of_the_last_sound() -> None:
    note, watch = LevelNote(), SilenceWatch(after_s=20.0, started_at=T0)
    assert watch.sample(note, T0, M0) is None  # the first look only takes the counts
    packets(note, 50, 35, M0 + 0.5)  # speech
    assert watch.sample(note, T0 + 1, M0 + 1) is None
    packets(note, 50, 127, M0 + 1.5)  # muted: digital silence
    assert watch.sample(note, T0 + 2, M0 + 2) is None
    assert watch.condition.since == T0 + 2 - 1.5  # the last loud packet, 1.5 s before
    for s in range(3, 21):
        packets(note, 50, 127, M0 + s)
        assert watch.sample(note, T0 + s, M0 + s) is None
    packets(note, 50, 127, M0 + 21)
    fired = watch.sample(note, T0 + 21, M0 + 21)
    assert fired == Onset(started_at=T0 + 0.5, at=T0 + 21)
    packets(note, 50, 127, M0 + 22)
    assert watch.sample(note, T0 + 22, M0 + 22) is None  # once
    packets(note, 1, 40, M0 + 22.5)  # sound back
    assert watch.sample(note, T0 + 23, M0 + 23) == End(started_at=T0 + 0.5, ended_at=T0 + 23)


def test_a_quiet_room_is_not_silence_and_short_silence_does_not_fire() -> None:
    note, watch = LevelNote(), SilenceWatch(after_s=20.0, started_at=T0)
    watch.sample(note, T0, M0)
    for s in range(1, 60):
        level = 65 if s % 10 else 127  # room noise at -65 dBov, a second of silence now and then
        packets(note, 50, level, M0 + s)
        assert watch.sample(note, T0 + s, M0 + s) is None
    assert not watch.condition.fired


def test_no_levels_heard_is_no_evidence_and_a_new_track_starts_afresh() -> None:
    note, watch = LevelNote(), SilenceWatch(after_s=5.0, started_at=T0)
    watch.sample(note, T0, M0)
    packets(note, 50, 127, M0 + 1)
    assert watch.sample(note, T0 + 1, M0 + 1) is None
    onset = watch.condition.since
    assert onset == T0  # never a sound: since the take began
    # no packets carry a level for a while (the extension is missing, or nothing arrives)
    assert watch.sample(note, T0 + 3, M0 + 3) is None
    assert watch.condition.since == onset
    # a reconnect: a new track's counts are taken, not judged
    fresh = LevelNote()
    packets(fresh, 50, 127, M0 + 4)
    assert watch.sample(fresh, T0 + 4, M0 + 4) is None
    assert watch.sample(None, T0 + 6, M0 + 6) == Onset(started_at=T0, at=T0 + 6)


def test_silence_from_the_first_packet_begins_at_the_take_start() -> None:
    note, watch = LevelNote(), SilenceWatch(after_s=0.0, started_at=T0 + 10)
    packets(note, 5, 35, M0)  # loud, long before the take
    watch.sample(note, T0 + 10, M0 + 10)
    packets(note, 5, 127, M0 + 11)
    assert watch.sample(note, T0 + 11, M0 + 11) == Onset(started_at=T0 + 10, at=T0 + 10)


def source(kind: str, last: float | None) -> TrackSource:
    return cast(TrackSource, SimpleNamespace(kind=kind, last_frame_at=last))


def test_the_freshest_frame_is_the_picture_when_there_is_one() -> None:
    assert last_frame_at([]) is None
    assert last_frame_at([source("audio", M0 + 5), source("video", M0 + 1)]) == M0 + 1
    assert last_frame_at([source("audio", M0 + 5)]) == M0 + 5
    assert last_frame_at([source("video", None)]) is None


def test_a_camera_is_lost_two_seconds_after_its_last_frame() -> None:
    watch = LostWatch(after_s=2.0, started_at=T0)
    assert watch.sample(M0, T0, M0) is None  # fresh
    assert watch.sample(M0 + 0.9, T0 + 1, M0 + 1) is None
    assert watch.sample(M0 + 0.9, T0 + 2, M0 + 2) is None  # stale: began at T0 + 0.9
    assert watch.condition.since == T0 + 0.9
    fired = watch.sample(M0 + 0.9, T0 + 3, M0 + 3)
    assert fired == Onset(started_at=T0 + 0.9, at=T0 + 3)
    assert watch.sample(None, T0 + 4, M0 + 4) is None  # the session went: still lost
    back = watch.sample(M0 + 4.9, T0 + 5, M0 + 5)
    assert back == End(started_at=T0 + 0.9, ended_at=T0 + 5)


def test_a_camera_that_never_sent_is_lost_from_the_take_start() -> None:
    watch = LostWatch(after_s=2.0, started_at=T0)
    assert watch.sample(None, T0 + 1, M0 + 1) is None
    assert watch.sample(None, T0 + 2, M0 + 2) == Onset(started_at=T0, at=T0 + 2)


def test_a_server_clock_jump_carries_the_media_age_over() -> None:
    """Frames come in real time; a test that jumps the server clock does not age them."""
    watch = LostWatch(after_s=2.0, started_at=T0)
    assert watch.sample(M0 + 0.98, T0 + 3600, M0 + 1) is None
    assert not watch.condition.fired


def test_the_second_camera_is_missing_unless_ready_or_recording() -> None:
    watch = SecondCameraWatch(after_s=10.0)
    assert watch.sample("recording", T0) is None
    assert watch.sample("lost", T0 + 1) is None
    assert watch.sample("lost", T0 + 10) is None
    assert watch.sample("stopped", T0 + 11) == Onset(started_at=T0 + 1, at=T0 + 11)
    assert watch.link == "stopped"
    assert watch.sample("ready", T0 + 12) == End(started_at=T0 + 1, ended_at=T0 + 12)
    never: Any = SecondCameraWatch(after_s=0.0)
    assert never.sample(None, T0) == Onset(started_at=T0, at=T0)  # none paired at all

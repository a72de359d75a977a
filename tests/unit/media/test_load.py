"""Load shedding: lag figures injected, no wall clock; viewers give way, never the recorder."""

from __future__ import annotations

import asyncio

import pytest

from exams.shared.errors import Busy, Unavailable
from media.load import (
    CALM_SAMPLES,
    STALL_S,
    CameraAdmission,
    CameraRefused,
    LoopLag,
    ViewerLoad,
)
from media.relay_queue import RelayFrame, ViewerQueue

SOURCE = object()


def frame(i: int, keyframe: bool = False) -> RelayFrame:
    return RelayFrame(bytes([i % 256]), i * 3000, 90000, keyframe, SOURCE, 0.0)


def feed(load: ViewerLoad | CameraAdmission, *lags: float) -> None:
    for lag in lags:
        load.note_lag(lag)


def test_a_calm_loop_sheds_nothing() -> None:
    load = ViewerLoad(shed_lag_s=0.1, refuse_lag_s=0.3, calm_samples=8)
    feed(load, *[0.0, 0.02, 0.05, 0.09] * 10)  # a busy loop that keeps up
    assert not load.shedding and not load.refusing
    load.admit_viewer()  # no error
    assert load.sheds == 0 and load.max_lag_s == pytest.approx(0.09)


def test_a_few_late_samples_are_no_overload_but_a_loop_that_stays_late_is() -> None:
    load = ViewerLoad(shed_lag_s=0.1, refuse_lag_s=0.3, calm_samples=8)
    seen: list[bool] = []
    load.add_listener(seen.append)
    feed(load, 0.3, 0.0, 0.0, 0.2, 0.0, 0.0)  # late callbacks now and then (handshakes, GC)
    assert not load.shedding and load.mean_lag_s < 0.1
    feed(load, *[0.12] * 8)  # late the whole window: short of CPU
    assert load.shedding and not load.refusing
    load.admit_viewer()  # shedding alone still admits new viewers (keyframe-only)
    assert seen == [True] and load.sheds == 1


def test_a_very_late_loop_refuses_new_viewers_with_busy() -> None:
    load = ViewerLoad(shed_lag_s=0.1, refuse_lag_s=0.3, calm_samples=8)
    feed(load, *[0.4] * 8)
    assert load.shedding and load.refusing
    with pytest.raises(Busy) as refused:
        load.admit_viewer()
    body = refused.value.to_json()["error"]
    assert body["code"] == "busy" and "try again" in body["message"]
    assert body["details"]["retry_after_s"] > 0
    assert isinstance(refused.value, Unavailable)  # 503's family
    assert load.refused == 1


def test_a_stall_sheds_and_refuses_at_once() -> None:
    load = ViewerLoad()
    load.note_lag(STALL_S)
    assert load.shedding and load.refusing


def test_it_ends_once_the_window_is_calm() -> None:
    load = ViewerLoad(shed_lag_s=0.1, refuse_lag_s=0.3, calm_samples=CALM_SAMPLES)
    seen: list[bool] = []
    load.add_listener(seen.append)
    feed(load, *[0.4] * CALM_SAMPLES)
    feed(load, *[0.0] * (CALM_SAMPLES - 1))  # the late samples leave the window one by one
    assert load.shedding and load.refusing
    feed(load, 0.0)
    assert not load.shedding and not load.refusing
    load.admit_viewer()
    # a mean between half the mark and the mark changes nothing either way
    feed(load, *[0.07] * CALM_SAMPLES)
    assert not load.shedding
    feed(load, *[0.2] * CALM_SAMPLES, *[0.07] * CALM_SAMPLES)
    assert load.shedding
    assert seen == [True, False, True]


def test_bad_marks_are_refused() -> None:
    with pytest.raises(ValueError):
        ViewerLoad(shed_lag_s=0.3, refuse_lag_s=0.2)
    with pytest.raises(ValueError):
        ViewerLoad(calm_samples=0)


def test_a_camera_past_the_cap_is_refused_as_full() -> None:
    admission = CameraAdmission(max_cameras=3, refuse_lag_s=0)
    for cameras in range(3):
        admission.admit(cameras)
    with pytest.raises(CameraRefused) as refused:
        admission.admit(3)
    assert refused.value.reason == "full" and refused.value.code == "busy"
    assert refused.value.details["retry_after_s"] > 0
    assert isinstance(refused.value, Busy)
    CameraAdmission(max_cameras=0, refuse_lag_s=0).admit(10_000)  # 0: no cap


def test_cameras_are_refused_while_the_loop_stays_late_and_taken_once_it_caught_up() -> None:
    admission = CameraAdmission(refuse_lag_s=0.5, calm_samples=8)
    feed(admission, *[0.3] * 20)  # a loop late, keeping up: viewers go, cameras stay
    admission.admit(50)
    feed(admission, 1.0, 1.0, 1.0)  # the mean of the window reaches 0.5 (0.3 * 5 + 3)
    assert admission.overloaded
    with pytest.raises(CameraRefused, match="busy") as refused:
        admission.admit(0)
    assert refused.value.reason == "overloaded"
    feed(admission, *[0.2] * 8)  # calmer, its mean over a quarter of the mark: still
    assert admission.overloaded
    feed(admission, 0.0, 0.0, 0.0, 0.0, 0.0)  # under a quarter: taken again
    assert not admission.overloaded
    admission.admit(0)


def test_no_lag_mark_never_refuses_for_the_lag() -> None:
    admission = CameraAdmission(refuse_lag_s=0)
    feed(admission, *[5.0] * 10)
    assert not admission.overloaded
    admission.admit(0)
    with pytest.raises(ValueError):
        CameraAdmission(max_cameras=-1)


async def test_a_shedding_viewer_queue_takes_keyframes_only_and_resumes_at_a_keyframe() -> None:
    load = ViewerLoad(shed_lag_s=0.05, refuse_lag_s=0.2, calm_samples=2)
    asked: list[int] = []
    queue = ViewerQueue("video", 90, lambda: asked.append(1), lambda: load.shedding)
    queue.put(frame(0, keyframe=True))
    queue.put(frame(1))
    feed(load, 0.1, 0.1)  # the loop lags: shed
    for i in range(2, 6):
        queue.put(frame(i))  # left out
    queue.put(frame(6, keyframe=True))  # a keyframe goes through
    queue.put(frame(7))  # and its deltas do not while shedding
    feed(load, 0.0, 0.0)  # calm again
    queue.put(frame(8))  # mid-GOP after a gap: not decodable, waits for the keyframe
    queue.put(frame(9, keyframe=True))
    queue.put(frame(10))
    got = []
    while len(queue):
        item = await queue.get()
        assert item is not None
        got.append(item.timestamp // 3000)
    assert got == [0, 1, 6, 9, 10]
    assert queue.stats.shed == 5 and asked == []  # shedding asks no extra keyframes


async def test_audio_is_never_shed() -> None:
    load = ViewerLoad()
    load.note_lag(STALL_S)
    queue = ViewerQueue("audio", 10, lambda: None, lambda: load.shedding)
    for i in range(3):
        queue.put(frame(i))
    assert len(queue) == 3 and queue.stats.shed == 0


async def test_loop_lag_samples_a_blocked_loop() -> None:
    load = ViewerLoad(shed_lag_s=0.05, refuse_lag_s=0.2)
    lag = LoopLag(load, period_s=0.01)
    lag.start()
    lag.start()  # idempotent
    try:
        for _ in range(200):  # bounded: until a sample has been taken
            if load.samples:
                break
            await asyncio.sleep(0.01)
        assert load.samples >= 1
        before = load.samples
        # block the loop well past the period: the next sample is at least that late
        blocked = 0.12
        loop = asyncio.get_running_loop()
        end = loop.time() + blocked
        while loop.time() < end:
            pass
        for _ in range(200):
            if load.samples > before:
                break
            await asyncio.sleep(0.01)
        assert load.max_lag_s >= blocked - 0.02
    finally:
        lag.stop()
    samples = load.samples
    await asyncio.sleep(0.05)
    assert load.samples == samples  # stopped

"""The vision runner: a recording take's pictures judged, alerts raised and ended with their
onsets, the take's picture claim held and given back. Real pictures (shipped photos through the
wall's picture code), time given with each picture; the incidents port records its calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest

from bench import vision_fixtures as fx
from exams.catalog.monitoring import DEFAULTS, AlertKind, Monitoring, Rule
from exams.catalog.takes import Take, TakeState
from media.detectors.vision import VisionDetectors
from media.pictures import Picture, WatchHandle
from tests.unit.exams.fakes import RecordingAlerts

T0 = 1_700_000_000.0
OWNER = "cand-1"


@dataclass
class Claims:
    """Stands for WallPictures' watch/release (the claim's bookkeeping only)."""

    held: list[WatchHandle] = field(default_factory=list)

    def watch(self, owners: list[str]) -> WatchHandle:
        handle = WatchHandle(frozenset(owners))
        self.held.append(handle)
        return handle

    def release(self, handle: WatchHandle) -> None:
        handle.released = True
        self.held.remove(handle)


class Found:
    def __init__(self, value: object) -> None:
        self.value = value

    async def get(self, key: str) -> Any:
        return self.value


def runner(rules: Monitoring | None = None) -> tuple[VisionDetectors, Claims, RecordingAlerts]:
    claims, alerts = Claims(), RecordingAlerts()
    attempt = SimpleNamespace(id="a1", exam_id="e1")
    exam = SimpleNamespace(id="e1", monitoring=rules or Monitoring())
    return VisionDetectors(claims, Found(attempt), Found(exam), alerts, clock), claims, alerts


NOW = [T0]  # the server clock when a take's end is told


def clock() -> float:
    return NOW[0]


def take(take_id: str = "t1") -> Take:
    return Take(take_id, OWNER, "s1", "formal", TakeState.RECORDING, T0, attempt_id="a1")


FACE = fx.picture(fx.paste(fx.scene("brick"), fx.astronaut(), 160, 40, 360))
BLACK = fx.picture(np.zeros((fx.HEIGHT, fx.WIDTH, 3), np.uint8))
EMPTY = fx.picture(fx.scene("coffee"))
TWO = fx.picture(
    fx.paste(fx.paste(fx.scene("brick"), fx.astronaut(), 20, 100, 280), fx.lfw_faces()[0],
             340, 120, 240)
)  # fmt: skip
FACE_MOVED = fx.picture(fx.paste(fx.scene("brick"), fx.astronaut(), 175, 46, 360))


async def show(
    v: VisionDetectors, frame: av.VideoFrame, at: float, camera: str = "primary", seq: int = 0
) -> None:
    pic = Picture(OWNER, camera, b"", frame.width, frame.height, at, seq, frame)
    pending = v.on_picture(OWNER, camera, pic)
    if pending is not None:
        await pending


async def test_a_covered_camera_raises_camera_dark_from_its_first_dark_picture() -> None:
    v, claims, alerts = runner()
    await v.on_take_event("take_started", take())
    assert [h.owners for h in claims.held] == [frozenset({OWNER})]  # pictured though unwatched
    await show(v, FACE, T0)
    for k in range(1, 4):  # dark from T0+2.5; 5 s later it fires
        await show(v, BLACK, T0 + 2.5 * k)
    assert alerts.brief() == [("raise", "camera_dark", "primary", T0 + 2.5)]
    detail = alerts.calls[0][5]
    assert detail["take_id"] == "t1" and detail["mean"] < 5
    await show(v, FACE_MOVED, T0 + 10)
    assert alerts.brief()[1:] == [("end", "camera_dark", "primary", T0 + 10)]
    await v.on_take_event("take_stopped", take())
    assert claims.held == []
    await v.close()


async def test_a_frozen_picture_begins_at_the_picture_it_repeats() -> None:
    v, _, alerts = runner()
    await v.on_take_event("take_started", take())
    await show(v, FACE_MOVED, T0)
    for k in range(1, 6):
        await show(v, FACE, T0 + 2.5 * k)  # the same picture from T0+2.5 on
    assert alerts.brief() == [("raise", "picture_frozen", "primary", T0 + 2.5)]
    NOW[0] = T0 + 14
    await v.on_take_event("take_stopped", take())  # the take's end ends it
    assert alerts.brief()[1:] == [("end", "picture_frozen", "primary", T0 + 14)]
    await v.close()


async def test_faces_no_face_after_its_rule_and_two_faces_after_theirs() -> None:
    rules = Monitoring(tuple({**DEFAULTS, AlertKind.PICTURE_FROZEN: Rule(False, 10.0)}.items()))
    v, _, alerts = runner(rules)
    await v.on_take_event("take_started", take())
    for k in range(4):  # nobody: 7.5 s is not the 10 s of the rule
        await show(v, EMPTY, T0 + 2.5 * k)
    assert alerts.calls == []
    await show(v, EMPTY, T0 + 10)
    assert alerts.brief() == [("raise", "no_face", "primary", T0)]
    assert alerts.calls[0][5]["faces"] == 0
    await show(v, TWO, T0 + 12.5)  # a face is back (two): no_face ends, many_faces counts
    await show(v, TWO, T0 + 15)
    assert alerts.brief()[1:] == [("end", "no_face", "primary", T0 + 12.5)]
    await show(v, TWO, T0 + 17.5)  # 5 s >= 3 s
    assert alerts.brief()[2:] == [("raise", "many_faces", "primary", T0 + 12.5)]
    await v.close()


async def test_a_picture_from_before_the_take_is_not_the_takes() -> None:
    """Its keyframe came before the take began and its decode ended after (on a real
    server the reading time may be minutes before): judged, it would date the take's
    "no face" from then and raise it at the next picture."""
    rules = Monitoring(tuple({**DEFAULTS, AlertKind.PICTURE_FROZEN: Rule(False, 10.0)}.items()))
    v, _, alerts = runner(rules)
    await v.on_take_event("take_started", take())
    await show(v, EMPTY, T0 - 60)
    await show(v, EMPTY, T0 + 2.5)
    assert alerts.calls == [] and v.stats().judged == 1
    for k in range(2, 5):  # 10 s after its first picture of nobody, not before
        await show(v, EMPTY, T0 + 2.5 * k)
    assert alerts.calls == []
    await show(v, EMPTY, T0 + 12.5)
    assert alerts.brief() == [("raise", "no_face", "primary", T0 + 2.5)]
    await v.close()


async def test_the_second_camera_is_not_asked_for_a_face_and_other_people_are_ignored() -> None:
    v, _, alerts = runner()
    await v.on_take_event("take_started", take())
    for k in range(8):
        await show(v, EMPTY if k % 2 else fx.picture(fx.scene("rocket")), T0 + 2.5 * k, "secondary")
    assert alerts.calls == []
    stranger = Picture("someone", "primary", b"", 320, 240, T0, 1, BLACK)
    assert v.on_picture("someone", "primary", stranger) is None
    assert v.stats().judged == 8
    await v.close()


async def test_switched_off_kinds_are_not_judged_and_a_take_without_any_is_not_watched() -> None:
    off = Monitoring(tuple((k, Rule(False, r.after_s)) for k, r in DEFAULTS.items()))
    v, claims, _ = runner(off)
    await v.on_take_event("take_started", take())
    assert claims.held == [] and v.watching(OWNER) is None
    await show(v, BLACK, T0)
    assert v.stats().judged == 0
    await v.close()


async def test_one_picture_per_camera_in_work_at_a_time() -> None:
    v, _, _ = runner()
    await v.on_take_event("take_started", take())
    first = v.on_picture(OWNER, "primary", Picture(OWNER, "primary", b"", 320, 240, T0, 1, FACE))
    again = v.on_picture(OWNER, "primary", Picture(OWNER, "primary", b"", 320, 240, T0, 2, FACE))
    assert first is not None and again is None
    await first
    assert v.stats().skipped == 1 and v.stats().judged == 1
    await v.close()


async def test_a_take_that_stops_while_a_picture_is_judged_tells_nothing_late() -> None:
    v, claims, alerts = runner(
        Monitoring(tuple({**DEFAULTS, AlertKind.CAMERA_DARK: Rule(True, 0.0)}.items()))
    )
    await v.on_take_event("take_started", take())
    pending = v.on_picture(OWNER, "primary", Picture(OWNER, "primary", b"", 320, 240, T0, 1, BLACK))
    assert pending is not None
    await v.on_take_event("take_stored", take())
    await pending
    assert alerts.calls == [] and claims.held == []
    await v.close()


@pytest.mark.parametrize("event", ["take_stopped", "take_failed"])
async def test_a_new_take_replaces_one_that_never_said_it_stopped(event: str) -> None:
    v, claims, _ = runner()
    await v.on_take_event("take_started", take("t1"))
    await v.on_take_event("take_started", take("t2"))
    assert len(claims.held) == 1 and v.watching(OWNER) == "t2"
    await v.on_take_event(event, take("t2"))
    assert claims.held == []
    await asyncio.sleep(0)
    await v.close()

"""The in-exam face check: a recording take's pictures compared with the verified face every
so often; another person seen twice in a row, or a second face, raises face_not_recognised
once; the right person back ends it. Real photos shipped in scikit-image (the astronaut as the
candidate, an LFW face as someone else) through the wall's own picture code; the reference
photo is the astronaut photo itself as a JPEG."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from types import SimpleNamespace
from typing import Any

import av
import cv2
import pytest

from bench import vision_fixtures as fx
from exams.catalog.monitoring import DEFAULTS, AlertKind, Monitoring, Rule
from exams.catalog.takes import Take, TakeState
from media import face_engine
from media.detectors.face_match import (
    RECHECK_S,
    FaceCheck,
    FaceWorker,
    compare,
    reference_embedding,
)
from media.pictures import Picture
from tests.unit.exams.fakes import RecordingAlerts
from tests.unit.media.test_vision_runner import Claims, Found

T0 = 1_700_000_000.0
OWNER = "cand-1"
KIND = AlertKind.FACE_NOT_RECOGNISED


def jpeg(rgb: Any) -> bytes:
    ok, out = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return out.tobytes()


REFERENCE = jpeg(fx.astronaut())
SAME = fx.picture(fx.paste(fx.scene("brick"), fx.astronaut(), 160, 40, 360))
SAME_MOVED = fx.picture(fx.paste(fx.scene("brick"), fx.astronaut(), 175, 46, 360))
OTHER = fx.picture(fx.paste(fx.scene("brick"), fx.lfw_faces()[3], 160, 40, 360))
# two faces side by side, both large enough for dlib's detector at the picture's own size
# (~90 px on the wall's picture: a face of ~75 px is on the edge of what it finds there)
TWO = fx.picture(
    fx.paste(fx.paste(fx.scene("brick"), fx.astronaut(), 0, 20, 460), fx.lfw_faces()[5],
             450, 100, 190)
)  # fmt: skip
EMPTY = fx.picture(fx.scene("coffee"))


class Photos:
    def __init__(self, photo: bytes | None) -> None:
        self.photo = photo
        self.reads = 0

    async def get(self, account_id: str) -> bytes | None:
        self.reads += 1
        return self.photo


Made = tuple[FaceCheck, Claims, RecordingAlerts, Photos]


@pytest.fixture(scope="module")
def worker() -> Iterator[FaceWorker]:
    """One face worker process for the module's checkers (its models load once)."""
    found = FaceWorker()
    yield found
    found.close()


@pytest.fixture
async def checker(worker: FaceWorker) -> AsyncIterator[Callable[..., Made]]:
    made: list[FaceCheck] = []

    def make(photo: bytes | None = REFERENCE, rules: Monitoring | None = None) -> Made:
        claims, alerts, photos = Claims(), RecordingAlerts(), Photos(photo)
        attempt = SimpleNamespace(id="a1", exam_id="e1")
        exam = SimpleNamespace(id="e1", monitoring=rules or Monitoring())
        check = FaceCheck(
            claims,
            Found(attempt),
            Found(exam),
            photos,
            alerts,
            lambda: T0,
            interval_s=30,
            worker=worker,
        )
        made.append(check)
        return check, claims, alerts, photos

    yield make
    for check in made:
        await check.close()


def take(take_id: str = "t1") -> Take:
    return Take(take_id, OWNER, "s1", "formal", TakeState.RECORDING, T0, attempt_id="a1")


async def show(c: FaceCheck, frame: av.VideoFrame, at: float, camera: str = "primary") -> bool:
    """Give the checker a picture taken at ``at``; whether it was compared."""
    pic = Picture(OWNER, camera, b"", frame.width, frame.height, at, 0, frame)
    pending = c.on_picture(OWNER, camera, pic)
    if pending is None:
        return False
    await pending
    return True


def test_the_astronaut_on_the_wall_matches_her_photo_and_an_lfw_face_does_not() -> None:
    reference, _ = reference_embedding(REFERENCE)
    assert reference is not None
    same = compare(SAME.to_ndarray(format="rgb24"), reference)
    other = compare(OTHER.to_ndarray(format="rgb24"), reference)
    two = compare(TWO.to_ndarray(format="rgb24"), reference)
    assert same.faces == 1 and same.distance is not None
    assert same.distance <= face_engine.DEFAULT_THRESHOLD
    assert other.faces == 1 and other.distance is not None
    assert other.distance > face_engine.DEFAULT_THRESHOLD
    assert two.faces == 2 and two.distance is None


async def test_the_same_person_is_checked_every_interval_and_raises_nothing(
    checker: Callable[..., Made],
) -> None:
    c, claims, alerts, photos = checker()
    await c.on_take_event("take_started", take())
    assert [h.owners for h in claims.held] == [frozenset({OWNER})]
    compared = [await show(c, SAME, T0 + 2.5 * k) for k in range(30)]  # 75 s of pictures
    assert compared.count(True) == 3  # at T0, T0+30, T0+60: the first at once
    assert compared[0] and compared[12] and compared[24]
    assert alerts.brief() == []
    assert photos.reads == 1 and c.stats().checks == 3
    await c.on_take_event("take_stopped", take())
    assert claims.held == []


async def test_another_person_twice_in_a_row_raises_one_incident_ended_by_the_candidate(
    checker: Callable[..., Made],
) -> None:
    c, _, alerts, _ = checker()
    await c.on_take_event("take_started", take())
    assert await show(c, SAME, T0)
    assert await show(c, OTHER, T0 + 30)  # a mismatch: checked again RECHECK_S later
    assert alerts.brief() == []
    assert not await show(c, OTHER, T0 + 32.5)
    assert await show(c, OTHER, T0 + 30 + RECHECK_S)
    assert alerts.brief() == [("raise", KIND.value, "primary", T0 + 30)]  # onset: the first
    detail = alerts.calls[0][5]
    assert detail["reason"] == "mismatch" and detail["take_id"] == "t1"
    assert detail["distance"] > detail["threshold"]
    for k in range(1, 5):  # still someone else: no second incident, not one per picture
        await show(c, OTHER, T0 + 35 + 30 * k)
    assert len(alerts.brief()) == 1
    assert await show(c, SAME_MOVED, T0 + 185)
    assert alerts.brief()[1:] == [("end", KIND.value, "primary", T0 + 185)]


async def test_one_mismatch_between_matches_is_not_an_incident(
    checker: Callable[..., Made],
) -> None:
    c, _, alerts, _ = checker()
    await c.on_take_event("take_started", take())
    assert await show(c, OTHER, T0)
    assert await show(c, SAME, T0 + RECHECK_S)
    assert await show(c, OTHER, T0 + RECHECK_S + 30)
    assert await show(c, EMPTY, T0 + 2 * RECHECK_S + 30)  # no face: neither way
    assert await show(c, SAME, T0 + 2 * RECHECK_S + 60)
    assert alerts.brief() == []
    assert c.stats().mismatches == 2


async def test_a_second_face_raises_at_once_and_a_stopped_take_ends_it(
    checker: Callable[..., Made],
) -> None:
    c, claims, alerts, _ = checker()
    await c.on_take_event("take_started", take())
    assert await show(c, TWO, T0 + 1)
    assert alerts.brief() == [("raise", KIND.value, "primary", T0 + 1)]
    assert alerts.calls[0][5]["reason"] == "several_faces"
    assert not await show(c, TWO, T0 + 3.5, camera="secondary")  # the desk camera: not asked
    await c.on_take_event("take_stopped", take())
    assert alerts.brief()[1:] == [("end", KIND.value, "primary", T0)]
    assert claims.held == []


@pytest.mark.parametrize("photo", [None, jpeg(fx.scene("coffee"))])
async def test_without_a_usable_reference_photo_the_candidate_is_not_checked(
    photo: bytes | None, checker: Callable[..., Made]
) -> None:
    c, claims, alerts, _ = checker(photo)
    await c.on_take_event("take_started", take())
    assert await show(c, OTHER, T0)
    assert not await show(c, OTHER, T0 + 60)
    assert alerts.brief() == [] and claims.held == [] and c.stats().unchecked == 1


async def test_the_exam_may_switch_the_check_off(checker: Callable[..., Made]) -> None:
    rules = Monitoring(tuple({**DEFAULTS, KIND: Rule(False, 0.0)}.items()))
    c, claims, _, _ = checker(rules=rules)
    await c.on_take_event("take_started", take())
    assert claims.held == [] and c.watching(OWNER) is None
    assert not await show(c, OTHER, T0)


async def test_the_reference_is_embedded_once_per_photo_across_takes(
    checker: Callable[..., Made],
) -> None:
    c, _, _, photos = checker()
    for k in range(3):
        await c.on_take_event("take_started", take(f"t{k}"))
        assert await show(c, SAME, T0 + 100 * k)
        await c.on_take_event("take_stored", take(f"t{k}"))
    assert photos.reads == 3  # read once per take (a replaced photo counts from the next)
    stats = c.stats()
    assert stats.checks == 3 and stats.references == 1 and stats.reference_cpu_s > 0
    assert stats.cpu_s > 0


def test_a_worker_process_that_dies_is_replaced_at_the_next_check() -> None:
    worker = FaceWorker()
    try:
        reference, _ = worker.reference(REFERENCE)
        assert reference is not None
        [pid] = list(worker._executor()._processes)
        os.kill(pid, signal.SIGKILL)  # the worker this test started
        with pytest.raises(BrokenProcessPool):
            worker.compare(SAME.to_ndarray(format="rgb24"), reference)
        seen = worker.compare(SAME.to_ndarray(format="rgb24"), reference)
        assert seen.faces == 1 and seen.distance is not None
    finally:
        worker.close()

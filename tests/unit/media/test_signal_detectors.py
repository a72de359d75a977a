"""The signal detectors' runner: takes watched while they record, alerts raised and ended.

Sessions and tracks are stand-ins with the fields the runner reads; both clocks are moved
by hand (the server's and the media's), so nothing sleeps.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take, TakeState
from exams.proctoring.monitoring import AlertKind
from media.detectors.audio_level import LevelNote
from media.detectors.signals import SignalDetectors
from media.hub import MediaSession
from tests.unit.exams.builders import FakeClock, attempt, exam_of, online
from tests.unit.exams.fakes import RecordingAlerts

ME = "candidate-1"


class World:
    def __init__(self, exam: Exam) -> None:
        self.exam = exam
        self.attempt: Attempt = attempt(exam)
        self.sessions: list[MediaSession] = []
        self.link: str | None = None
        self.clock = FakeClock()
        self.media_now = 1000.0
        self.alerts = RecordingAlerts()
        self.detectors = SignalDetectors(
            self,
            self,
            self,
            self.alerts,
            lambda attempt_id: self.link,
            self.clock,
            media_clock=lambda: self.media_now,
        )

    def sessions_of(self, owner: str) -> list[MediaSession]:
        return [s for s in self.sessions if s.owner == owner]

    async def get(self, some_id: str) -> Any:
        return {self.exam.id: self.exam, self.attempt.id: self.attempt}.get(some_id)

    def take(self) -> Take:
        return Take("t1", ME, "s1", "formal", TakeState.RECORDING, self.clock(), attempt_id="a1")

    def camera(self, role: str, take_id: str | None = "t1") -> SimpleNamespace:
        video = SimpleNamespace(kind="video", last_frame_at=self.media_now, levels=None)
        audio = SimpleNamespace(kind="audio", last_frame_at=self.media_now, levels=LevelNote())
        session = MediaSession(f"s-{role}", ME, role, take_id=take_id)
        session.sources = [video, audio]  # type: ignore[list-item]
        self.sessions.append(session)
        return SimpleNamespace(session=session, video=video, audio=audio)

    async def step(self, seconds: float, *cams: SimpleNamespace, level: int = 30) -> None:
        """``seconds`` pass; the cameras named send frames (and sound at ``level``)."""
        self.clock.advance(seconds)
        self.media_now += seconds
        for cam in cams:
            cam.video.last_frame_at = cam.audio.last_frame_at = self.media_now
            note = cam.audio.levels
            note.packets += 50
            if level <= 70:
                note.loud += 50
                note.last_loud_at = self.media_now
        await self.detectors.tick()


async def test_a_take_of_a_question_is_watched_and_its_alerts_end_with_it() -> None:
    w = World(exam_of(online()))
    cam = w.camera("primary")
    t0 = w.clock()
    await w.detectors.on_take_event("take_started", w.take())
    assert w.detectors.watched == 1
    await w.step(1, cam)
    await w.step(1, cam, level=127)  # muted from here
    for _ in range(19):
        await w.step(1, cam, level=127)
    assert w.alerts.by_camera() == [("raise", AlertKind.SILENCE, "primary", t0 + 1)]
    await w.step(1)  # the camera stops sending
    await w.step(1)
    await w.step(1)
    assert w.alerts.by_camera()[-1] == ("raise", AlertKind.CAMERA_LOST, "primary", t0 + 21)
    await w.detectors.on_take_event("take_stopped", w.take())
    assert w.detectors.watched == 0
    assert sorted(w.alerts.by_camera()[-2:]) == [
        ("end", AlertKind.CAMERA_LOST, "primary", t0 + 24),
        ("end", AlertKind.SILENCE, "primary", t0 + 24),
    ]
    await w.step(30, cam, level=127)
    assert len(w.alerts.calls) == 4  # nothing watched after the take


async def test_device_checks_are_not_watched() -> None:
    w = World(exam_of(online()))
    w.camera("primary")
    check = replace(w.take(), purpose="device_check", attempt_id=None)
    await w.detectors.on_take_event("take_started", check)
    assert w.detectors.watched == 0


async def test_the_second_camera_where_the_question_needs_it() -> None:
    w = World(exam_of(online(second_camera_required=True)))
    cam = w.camera("primary")
    t0 = w.clock()
    w.link = "recording"
    await w.detectors.on_take_event("take_started", w.take())
    phone = w.camera("secondary")
    await w.step(1, cam, phone)
    w.link = "lost"
    phone.session.take_id = None  # the phone's session left the take
    for _ in range(3):
        await w.step(1, cam)
    assert w.alerts.by_camera() == [("raise", AlertKind.CAMERA_LOST, "secondary", t0 + 1)]
    for _ in range(8):
        await w.step(1, cam)
    assert w.alerts.by_camera()[-1] == (
        "raise",
        AlertKind.SECOND_CAMERA_MISSING,
        "secondary",
        t0 + 2,
    )
    w.link = "recording"
    phone.session.take_id = "t1"
    await w.step(1, cam, phone)
    assert sorted(w.alerts.by_camera()[-2:]) == [
        ("end", AlertKind.CAMERA_LOST, "secondary", t0 + 13),
        ("end", AlertKind.SECOND_CAMERA_MISSING, "secondary", t0 + 13),
    ]


async def test_no_second_camera_alert_where_the_question_does_not_need_one() -> None:
    w = World(exam_of(online()))
    cam = w.camera("primary")
    await w.detectors.on_take_event("take_started", w.take())
    for _ in range(30):
        await w.step(1, cam)
    assert w.alerts.calls == []

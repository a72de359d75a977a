"""The signal detectors' runner: what a recording take's media says, once a second.

While a take of a question (an attempt's take: rehearsal or formal) records,
:meth:`SignalDetectors.tick` samples, for its candidate:

- the microphone's level notes (:mod:`.audio_level`): ``silence``;
- each camera's freshest frame (:mod:`.camera_lost`): ``camera_lost``, per camera
  (the second one once it has joined the take);
- the second camera's pairing link, if the question needs one
  (:mod:`.second_camera`): ``second_camera_missing``;

What fires goes to ``Incidents.raise_alert`` with the condition's onset; what stops,
to ``end_alert``; a take that stops ends them all. (What the page reports of itself,
a reload included, is :mod:`exams.proctoring.page_events`.)

Rules (``enabled``, ``after_s``) are the exam's, read when the take starts (the take
service tells a take's end only once its start has been handled: see
:mod:`exams.catalog.take_events`). Frames arrive on the media clock (monotonic);
conditions run on the server clock, onto which media times are carried as "so long ago".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from exams.catalog.attempts import Attempt
from exams.catalog.questions import OnlineSettings
from exams.catalog.takes import MOVED, Take
from exams.proctoring.conditions import Change, End, Onset
from exams.proctoring.monitoring import AlertKind, Monitoring
from exams.proctoring.page_events import Alerts, ExamSource
from exams.shared.ports import Clock
from media.detectors.audio_level import LevelNote, SilenceWatch
from media.detectors.camera_lost import LostWatch, last_frame_at
from media.detectors.second_camera import SecondCameraWatch
from media.hub import MediaSession

log = logging.getLogger(__name__)

TICK_S = 1.0  # how often the runner samples (on the server clock)
PRIMARY, SECONDARY = "primary", "secondary"
ENDS = ("take_stopped", "take_stored", "take_failed", MOVED)

LinkState = Callable[[str], str | None]  # attempt id -> its second camera's link state


class Sessions(Protocol):
    """Implemented by :class:`media.hub.MediaHub`."""

    def sessions_of(self, owner: str) -> list[MediaSession]: ...


class AttemptSource(Protocol):
    async def get(self, attempt_id: str) -> Attempt | None: ...


@dataclass(eq=False)
class _Watched:
    """One recording take of a question and its conditions."""

    take_id: str
    owner: str
    started_at: float
    rules: Monitoring
    silence: SilenceWatch | None
    second: SecondCameraWatch | None
    attempt_id: str
    lost: dict[str, LostWatch] = field(default_factory=dict)  # camera -> its watch

    def watches(self) -> list[tuple[AlertKind, str, Any]]:
        out: list[tuple[AlertKind, str, Any]] = []
        if self.silence is not None:
            out.append((AlertKind.SILENCE, PRIMARY, self.silence))
        out += [(AlertKind.CAMERA_LOST, cam, w) for cam, w in self.lost.items()]
        if self.second is not None:
            out.append((AlertKind.SECOND_CAMERA_MISSING, SECONDARY, self.second))
        return out


class SignalDetectors:
    def __init__(
        self,
        sessions: Sessions,
        attempts: AttemptSource,
        exams: ExamSource,
        alerts: Alerts,
        link_state: LinkState,
        clock: Clock,
        *,
        media_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._attempts = attempts
        self._exams = exams
        self._alerts = alerts
        self._link_state = link_state
        self._clock = clock
        self._media_clock = media_clock
        self._watched: dict[str, _Watched] = {}  # take id -> its watch

    @property
    def watched(self) -> int:
        """Takes being watched now."""
        return len(self._watched)

    def since(self, take_id: str, kind: AlertKind, camera: str) -> float | None:
        """When an ongoing condition of the take began (None: none under way)."""
        w = self._watched.get(take_id)
        found = (
            None
            if w is None
            else next((x for k, c, x in w.watches() if k == kind and c == camera), None)
        )
        return None if found is None else found.condition.since

    # -- listeners ---------------------------------------------------------------------------

    async def on_take_event(self, event: str, take: Take) -> None:
        """``exams.catalog.takes`` listener: watch a question's take while it records."""
        if event == "take_started" and take.attempt_id is not None:
            await self._watch(take, take.attempt_id)
        elif event in ENDS:
            await self._unwatch(take.id)

    # -- sampling ------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Sample every watched take once (run every :data:`TICK_S` by the composition root)."""
        now, media_now = self._clock(), self._media_clock()
        for w in list(self._watched.values()):
            try:
                await self._sample(w, now, media_now)
            except Exception:
                log.exception("signal detectors: take %s could not be sampled", w.take_id)

    async def _sample(self, w: _Watched, now: float, media_now: float) -> None:
        mine = [s for s in self._sessions.sessions_of(w.owner) if s.take_id == w.take_id]
        by_camera = {cam: [s for s in mine if s.role == cam] for cam in (PRIMARY, SECONDARY)}
        if by_camera[SECONDARY] and SECONDARY not in w.lost and PRIMARY in w.lost:
            after = w.rules.rule(AlertKind.CAMERA_LOST).after_s
            w.lost[SECONDARY] = LostWatch(after, now)  # the second camera joined the take
        changes: list[tuple[AlertKind, str, Change | None, dict[str, Any]]] = []
        for camera, watch in w.lost.items():
            sources = [src for s in by_camera[camera] for src in s.sources]
            change = watch.sample(last_frame_at(sources), now, media_now)
            changes.append((AlertKind.CAMERA_LOST, camera, change, {}))
        if w.silence is not None:
            change = w.silence.sample(_level_note(by_camera[PRIMARY]), now, media_now)
            changes.append((AlertKind.SILENCE, PRIMARY, change, {}))
        if w.second is not None:
            change = w.second.sample(self._link_state(w.attempt_id), now)
            changes.append(
                (AlertKind.SECOND_CAMERA_MISSING, SECONDARY, change, {"link": w.second.link})
            )
        for kind, camera, change, detail in changes:
            await self._tell(w, kind, camera, change, detail)

    async def _tell(
        self,
        w: _Watched,
        kind: AlertKind,
        camera: str,
        change: Change | None,
        detail: dict[str, Any],
    ) -> None:
        if isinstance(change, Onset):
            await self._alerts.raise_alert(
                w.owner,
                kind,
                camera=camera,
                started_at=change.started_at,
                detail={"take_id": w.take_id, **detail},
            )
        elif isinstance(change, End):
            await self._alerts.end_alert(w.owner, kind, camera=camera, ended_at=change.ended_at)

    # -- watching ----------------------------------------------------------------------------

    async def _watch(self, take: Take, attempt_id: str) -> None:
        attempt = await self._attempts.get(attempt_id)
        exam = None if attempt is None else await self._exams.get(attempt.exam_id)
        if attempt is None or exam is None or take.id in self._watched:
            return
        rules = exam.monitoring
        needs_second = False
        try:
            settings = exam.question(attempt.question_id).settings
            needs_second = isinstance(settings, OnlineSettings) and settings.second_camera_required
        except Exception:  # the question was removed meanwhile: no second camera asked
            log.info("take %s: its question is gone from exam %s", take.id, exam.id)
        start = take.started_at

        def rule_of(kind: AlertKind) -> float | None:
            rule = rules.rule(kind)
            return rule.after_s if rule.enabled else None

        silence, lost, second = (
            rule_of(AlertKind.SILENCE),
            rule_of(AlertKind.CAMERA_LOST),
            rule_of(AlertKind.SECOND_CAMERA_MISSING),
        )
        self._watched[take.id] = _Watched(
            take.id,
            take.owner,
            start,
            rules,
            None if silence is None else SilenceWatch(silence, start),
            None if second is None or not needs_second else SecondCameraWatch(second),
            attempt_id,
            {} if lost is None else {PRIMARY: LostWatch(lost, start)},
        )

    async def _unwatch(self, take_id: str) -> None:
        w = self._watched.pop(take_id, None)
        if w is None:
            return
        now = self._clock()
        for kind, camera, watch in w.watches():
            await self._tell(w, kind, camera, watch.condition.clear(now), {})


def _level_note(sessions: list[MediaSession]) -> LevelNote | None:
    """The level note of the camera's newest audio track (a reconnect makes a new one)."""
    for session in reversed(sessions):
        for source in session.sources:
            note = getattr(source, "levels", None)
            if source.kind == "audio" and isinstance(note, LevelNote):
                return note
    return None

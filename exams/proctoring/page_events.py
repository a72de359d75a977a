"""What the candidate's question page reports of itself: hidden, window left, fullscreen left.

The page sends ``page_event {kind}`` over its socket as each happens
(:data:`PAGE_KINDS`: the start of a condition and its end); the server times
it on its own clock when it arrives, so a page cannot move an event in time.
Each (candidate, alert kind) is a :class:`Condition` with the exam's rule
(``after_s`` 0 by default: at once); a longer ``after_s`` fires on a timer
while the page has not come back. Only while the candidate is in a question
(an answer in a live phase: reading, recording, answering); otherwise the
event is answered (``counted: false``) and forgotten.

``reloaded``: the page loaded while a take of its question was recording (a
reload, or the question opened again). A reload cannot be told from the
server's side: the page resumes its camera session (kept in the tab) exactly as
it does after a network blip, so the page says it; the server counts it only if
a take of the candidate is recording when it arrives, as a moment
(``page_reloaded``, ended as it is raised).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from exams.catalog.attempts import Attempt, phase
from exams.catalog.exam_ports import CandidateAttempts, ExamSource
from exams.catalog.exam_rules import Exam
from exams.proctoring.conditions import Change, Condition, End, Onset
from exams.proctoring.monitoring import AlertKind, Monitoring
from exams.shared.locks import MemoryLocks
from exams.shared.ports import Clock, Locks, Scheduler

log = logging.getLogger(__name__)

LIVE_PHASES = ("reading", "recording", "answering")
# page_event kind -> (the alert, whether the condition holds from now)
PAGE_KINDS: dict[str, tuple[AlertKind, bool]] = {
    "hidden": (AlertKind.PAGE_HIDDEN, True),
    "visible": (AlertKind.PAGE_HIDDEN, False),
    "window_left": (AlertKind.WINDOW_LEFT, True),
    "window_back": (AlertKind.WINDOW_LEFT, False),
    "fullscreen_left": (AlertKind.FULLSCREEN_LEFT, True),
    "fullscreen_back": (AlertKind.FULLSCREEN_LEFT, False),
    "reloaded": (AlertKind.PAGE_RELOADED, True),  # a moment: see the module's words
}


class Alerts(Protocol):
    """Implemented by :class:`exams.proctoring.incidents.Incidents`."""

    async def raise_alert(
        self,
        candidate_id: str,
        kind: AlertKind,
        *,
        camera: str | None = None,
        started_at: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> object | None: ...

    async def end_alert(
        self,
        candidate_id: str,
        kind: AlertKind,
        *,
        camera: str | None = None,
        ended_at: float | None = None,
    ) -> None: ...


def monitoring(exam: Exam) -> Monitoring:
    """The exam's rules (kept for the detectors that import it: ``exam.monitoring``)."""
    return exam.monitoring


Key = tuple[str, AlertKind]


class PageEvents:
    def __init__(
        self,
        attempts: CandidateAttempts,
        exams: ExamSource,
        alerts: Alerts,
        clock: Clock,
        scheduler: Scheduler,
        locks: Locks | None = None,
    ) -> None:
        self._attempts = attempts
        self._exams = exams
        self._alerts = alerts
        self._clock = clock
        self._scheduler = scheduler
        self._conditions: dict[Key, Condition] = {}
        self._timers: dict[Key, Callable[[], None]] = {}
        # per candidate: events are judged in the order they arrived, whatever the awaits
        # between
        self._locks = locks if locks is not None else MemoryLocks()

    async def report(self, candidate_id: str, kind: str) -> dict[str, Any]:
        """The page says ``kind`` (one of :data:`PAGE_KINDS`, checked by the caller) now."""
        now = self._clock()  # on arrival: the order and times are the server's
        alert, holds = PAGE_KINDS[kind]
        async with self._locks.hold(f"page:{candidate_id}"):
            counted = await self._judge(candidate_id, alert, holds, now)
        return {"kind": kind, "at": now, "counted": counted}

    async def _judge(self, candidate_id: str, alert: AlertKind, holds: bool, now: float) -> bool:
        live = await self._live(candidate_id, now)
        exam = None if live is None else live[0]
        if alert is AlertKind.PAGE_RELOADED:
            if live is None or live[1].recording_take is None:
                return False  # not during a take: a page loaded, nothing more
            if not live[0].monitoring.rule(alert).enabled:
                return False
            detail = {"source": "page", "take_id": live[1].recording_take.id}
            await self._alerts.raise_alert(candidate_id, alert, started_at=now, detail=detail)
            return True
        key = (candidate_id, alert)
        rule = None if exam is None else exam.monitoring.rule(alert)
        if rule is None or not rule.enabled:
            condition = self._conditions.get(key)
            await self._apply(key, None if condition is None else condition.clear(now))
            return False
        condition = self._conditions.setdefault(key, Condition(rule.after_s))
        condition.after_s = rule.after_s
        await self._apply(key, condition.feed(holds, now))
        return True

    async def answer_over(self, candidate_id: str) -> None:
        """The candidate's answer was submitted or closed: what the page showed ends now."""
        now = self._clock()
        for key in [k for k in self._conditions if k[0] == candidate_id]:
            await self._apply(key, self._conditions[key].clear(now))

    async def _live(self, candidate_id: str, now: float) -> tuple[Exam, Attempt] | None:
        """The candidate's answer in a live phase (one at a time) and its exam."""
        attempts = await self._attempts.of_candidate(candidate_id)
        live = next((a for a in attempts if phase(a, now) in LIVE_PHASES), None)
        exam = None if live is None else await self._exams.get(live.exam_id)
        return None if exam is None or live is None else (exam, live)

    async def _apply(self, key: Key, change: Change | None) -> None:
        candidate_id, alert = key
        condition = self._conditions.get(key)
        cancel = self._timers.pop(key, None)
        if cancel is not None:
            cancel()
        if condition is not None and condition.due is not None:
            due = condition.due
            self._timers[key] = self._scheduler.call_at(due, lambda: self._due(key))
        elif condition is not None and condition.since is None:
            del self._conditions[key]  # nothing under way: forget it
        if isinstance(change, Onset):
            await self._alerts.raise_alert(
                candidate_id, alert, started_at=change.started_at, detail={"source": "page"}
            )
        elif isinstance(change, End):
            await self._alerts.end_alert(candidate_id, alert, ended_at=change.ended_at)

    async def _due(self, key: Key) -> None:
        self._timers.pop(key, None)
        async with self._locks.hold(f"page:{key[0]}"):
            condition = self._conditions.get(key)
            if condition is not None:
                await self._apply(key, condition.poll(self._clock()))

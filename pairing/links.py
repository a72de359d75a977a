"""The link between an attempt and its second camera (二机位), as plain data.

One link per attempt, made when a QR code is scanned and replaced by the next
scan (the phone rejoins with a new code). What the primary page is told,
``state``, is derived from a few facts the server observes:

- ``paired``: the code was scanned; the phone's camera has not reached the server yet;
- ``connected``: the phone's media arrives;
- ``ready``: the phone tapped Ready (就绪): a formal take may start, with both cameras;
- ``recording``: the phone's media is recorded into the attempt's take;
- ``lost``: the phone's media stopped arriving (network, app in the background, closed
  page). It comes back by itself when the same session reconnects, or by a new scan;
- ``stopped``: the phone closed its camera.

``warning`` is true while a take of the attempt records but the second camera
does not (M3.5: the candidate is told at once).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class SecondaryState(StrEnum):
    PAIRED = "paired"
    CONNECTED = "connected"
    READY = "ready"
    RECORDING = "recording"
    LOST = "lost"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Link:
    attempt_id: str
    owner: str
    exam_id: str
    question_id: str
    pairing_id: str
    changed_at: float
    session_id: str | None = None  # the phone's media session, once it opened one
    healthy: bool = False  # its media arrives now
    was_healthy: bool = False  # it did since this pairing
    ready: bool = False  # tapped Ready for the next (or current) take
    stopped: bool = False  # the phone closed its camera
    take_id: str | None = None  # the attempt's take recording now, with or without this camera
    in_take: bool = False  # this session feeds that take's "secondary" camera
    reason: str | None = None  # why the state last changed

    @property
    def state(self) -> SecondaryState:
        if self.stopped:
            return SecondaryState.STOPPED
        if not self.healthy:
            return SecondaryState.LOST if self.was_healthy else SecondaryState.PAIRED
        if self.in_take and self.take_id is not None:
            return SecondaryState.RECORDING
        return SecondaryState.READY if self.ready else SecondaryState.CONNECTED

    @property
    def warning(self) -> bool:
        return self.take_id is not None and self.state is not SecondaryState.RECORDING

    def event(self, now: float) -> dict[str, Any]:
        """The ``secondary_state`` message (and the state endpoint's body)."""
        return {
            "attempt_id": self.attempt_id,
            "exam_id": self.exam_id,
            "question_id": self.question_id,
            "pairing_id": self.pairing_id,
            "session_id": self.session_id,
            "state": self.state.value,
            "take_id": self.take_id,
            "warning": self.warning,
            "reason": self.reason,
            "changed_at": self.changed_at,
            "now": now,
        }

    def shown(self) -> tuple[SecondaryState, bool, str | None]:
        """What the pages see; an event goes out when it changes."""
        return self.state, self.warning, self.take_id


def paired(previous: Link | None, link: Link) -> Link:
    """A new scan: the phone starts over, the attempt's take (if any) carries on. ``link``
    may know that take already (the first scan during a take): the previous link's, if it
    knows one, wins."""
    if previous is None:
        return link
    take_id = link.take_id if previous.take_id is None else previous.take_id
    return replace(link, take_id=take_id, reason="paired")


def bound(link: Link, session_id: str, now: float) -> Link:
    return replace(link, session_id=session_id, changed_at=now, reason="session_opened")


def health(link: Link, healthy: bool, now: float, reason: str) -> Link:
    if healthy == link.healthy:
        return link
    return replace(
        link,
        healthy=healthy,
        was_healthy=link.was_healthy or healthy,
        changed_at=now,
        reason=reason,
    )


def made_ready(link: Link, now: float) -> Link:
    return replace(link, ready=True, changed_at=now, reason="ready")


def take_started(link: Link, take_id: str, with_camera: bool, now: float) -> Link:
    return replace(
        link, take_id=take_id, in_take=with_camera, changed_at=now, reason="take_started"
    )


def joined(link: Link, take_id: str, now: float) -> Link:
    return replace(link, take_id=take_id, in_take=True, changed_at=now, reason="joined_take")


def take_ended(link: Link, take_id: str, now: float) -> Link:
    """The take stopped (its secondary recording stopped and stored with it); Ready is
    needed again before the next take."""
    if link.take_id != take_id:
        return link
    return replace(
        link, take_id=None, in_take=False, ready=False, changed_at=now, reason="take_stopped"
    )


def closed(link: Link, reason: str, now: float) -> Link:
    """The phone's session closed: by the phone (``session_closed``), or gone for good."""
    return replace(
        link,
        healthy=False,
        ready=False,
        in_take=False,
        stopped=reason == "session_closed",
        session_id=None,
        changed_at=now,
        reason=reason,
    )

"""Load shedding: the recording comes first, live viewers give way.

Candidates' media, the recorder and the proctors' live viewers share one event
loop. When that loop falls behind, packets wait in the kernel's socket buffers
and, past them, are lost: a recording with holes. Viewers are what can give
way, so :class:`ViewerLoad` watches how late the loop runs (fed by
:class:`LoopLag`) and, in two steps, makes them cheaper:

- **shedding** (the loop ran :attr:`ViewerLoad.shed_lag_s` late on average
  over the last :attr:`ViewerLoad.calm_samples` samples, 2 s, or once
  :data:`STALL_S` late): every
  viewer's video goes keyframe-only (a still picture each time the candidate
  sends a keyframe, sound unchanged) and viewers ask no keyframes of the
  candidates more than one each 2.5 s (:class:`media.relay.SourceRelay`); it
  ends when that mean is under half the mark, and the pictures resume at the
  next keyframe;
- **refusing** (a mean of :attr:`ViewerLoad.refuse_lag_s`, or a stall): new viewer sessions are
  refused with ``busy`` (HTTP 503's family, "try again shortly") until the
  same calm returns; open ones keep going, keyframe-only.

The recorder is never shed. (A single viewer whose queue fills, its connection
slower than the camera, already skips to the next keyframe on its own:
:class:`media.relay_queue.ViewerQueue`.) Single late callbacks (a burst of DTLS
handshakes, a collection) shed nothing: only a loop that stays late, short of
CPU, gives the viewers' share back (measured in docs/bench.md).

New cameras give way too, later (:class:`CameraAdmission`). Past its capacity a
node does not record its newest camera worse than the others: every camera loses
packets once the loop cannot read them all, and each one more makes it worse for
everyone. So a camera new to the node (a candidate with no session here yet) is
refused with ``busy`` while the node already has ``max_cameras`` (the operator's
sizing, from ``examcast bench --capacity``) or its loop runs
:attr:`CameraAdmission.refuse_lag_s` late on average over the window (a loop that
late has its sockets' buffers filling: much past it, and media is lost). A
candidate already on the node (a reconnect, a page reload, their second camera) is
never refused, and the page retries a refused camera after a few seconds.

The decisions are pure: :meth:`ViewerLoad.note_lag` and
:meth:`CameraAdmission.note_lag` take lag figures in seconds, so tests inject them;
only :class:`LoopLag` reads the loop's clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from exams.shared.errors import Busy

log = logging.getLogger(__name__)

SHED_LAG_S = 0.1  # the loop ran this late on average over the window: keyframe-only viewers
REFUSE_LAG_S = 0.2  # this late on average: new viewer sessions are refused too
STALL_S = 1.0  # one sample this late sheds and refuses at once
CALM_SAMPLES = 8  # the window: 2 s at LoopLag's pace; its mean under half SHED_LAG_S ends it
SAMPLE_S = 0.25  # LoopLag's pace
CAMERA_REFUSE_LAG_S = 0.5  # new cameras are refused while the loop is this late on average
CAMERA_RETRY_S = 5  # what a refused camera is told to wait before it asks again


class ViewerLoad:
    """Whether viewers are shed or refused now, from the loop's lag figures."""

    def __init__(
        self,
        *,
        shed_lag_s: float = SHED_LAG_S,
        refuse_lag_s: float = REFUSE_LAG_S,
        calm_samples: int = CALM_SAMPLES,
    ) -> None:
        if not 0 < shed_lag_s <= refuse_lag_s or calm_samples < 1:
            raise ValueError("0 < shed_lag_s <= refuse_lag_s and calm_samples >= 1")
        self.shed_lag_s = shed_lag_s
        self.refuse_lag_s = refuse_lag_s
        self.calm_samples = calm_samples
        self.shedding = False
        self.refusing = False
        self.last_lag_s = 0.0
        self.max_lag_s = 0.0
        self.samples = 0
        self.sheds = 0  # times shedding began
        self.refused = 0  # viewer sessions refused
        self.mean_lag_s = 0.0
        self._recent: deque[float] = deque(maxlen=calm_samples)
        self._listeners: list[Callable[[bool], None]] = []

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """``listener(shedding)`` whenever shedding begins or ends."""
        self._listeners.append(listener)

    def note_lag(self, lag_s: float) -> None:
        """One sample: how late the loop ran a callback due now, in seconds."""
        self.samples += 1
        self.last_lag_s = lag_s
        self.max_lag_s = max(self.max_lag_s, lag_s)
        self._recent.append(lag_s)
        # the mean over the window (samples not taken yet count as 0): one late callback,
        # a collection or a burst of handshakes, is no overload; a loop that stays late is
        mean = sum(self._recent) / self.calm_samples
        self.mean_lag_s = mean
        was = self.shedding
        stall = lag_s >= STALL_S
        if stall or mean >= self.shed_lag_s:
            self.shedding = True
            if stall or mean >= self.refuse_lag_s:
                self.refusing = True
        elif mean < self.shed_lag_s / 2:
            self.shedding = self.refusing = False
        if self.shedding != was:
            if self.shedding:
                self.sheds += 1
                log.warning(
                    "the event loop runs %.0f ms late (%.0f ms on average): live viewers go "
                    "keyframe-only",
                    lag_s * 1000,
                    mean * 1000,
                )
            else:
                log.warning("the event loop has caught up: live viewers get every frame again")
            for listener in self._listeners:
                try:
                    listener(self.shedding)
                except Exception:
                    log.exception("a load listener failed")

    def admit_viewer(self) -> None:
        """Raise :class:`Busy` while new viewer sessions are refused."""
        if self.refusing:
            self.refused += 1
            raise Busy(
                "the server is busy recording; live viewing is paused for new viewers, "
                "try again in a few seconds",
                {"retry_after_s": round(self.calm_samples * SAMPLE_S, 1)},
            )


class CameraRefused(Busy):
    """A new camera is refused: the node is full (``reason`` ``full``) or its loop is
    overloaded (``overloaded``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, {"retry_after_s": CAMERA_RETRY_S})
        self.reason = reason


class CameraAdmission:
    """Whether the node takes a camera new to it (see the module).

    ``max_cameras`` 0: no cap; ``refuse_lag_s`` 0: the loop's lag refuses none. Refusing
    for the lag ends once the window's mean is under a quarter of the mark (a loop that
    has caught up, not one hovering at it).
    """

    def __init__(
        self,
        *,
        max_cameras: int = 0,
        refuse_lag_s: float = CAMERA_REFUSE_LAG_S,
        calm_samples: int = CALM_SAMPLES,
    ) -> None:
        if max_cameras < 0 or refuse_lag_s < 0 or calm_samples < 1:
            raise ValueError("max_cameras >= 0, refuse_lag_s >= 0 and calm_samples >= 1")
        self.max_cameras = max_cameras
        self.refuse_lag_s = refuse_lag_s
        self.calm_samples = calm_samples
        self.overloaded = False
        self._recent: deque[float] = deque(maxlen=calm_samples)

    def note_lag(self, lag_s: float) -> None:
        """One sample: how late the loop ran a callback due now, in seconds."""
        if not self.refuse_lag_s:
            return
        self._recent.append(lag_s)
        mean = sum(self._recent) / self.calm_samples
        if not self.overloaded and mean >= self.refuse_lag_s:
            self.overloaded = True
            log.warning(
                "the event loop runs %.0f ms late on average: new cameras are refused until "
                "it catches up (the cameras here keep recording)",
                mean * 1000,
            )
        elif self.overloaded and mean < self.refuse_lag_s / 4:
            self.overloaded = False
            log.warning("the event loop has caught up: new cameras are taken again")

    def admit(self, cameras: int) -> None:
        """Raise :class:`CameraRefused` unless a new camera may join the ``cameras`` the
        node has (its media sessions, those waiting out a grace period included)."""
        if self.max_cameras and cameras >= self.max_cameras:
            raise CameraRefused(
                "full",
                f"this server records as many cameras as it may ({self.max_cameras}); "
                "your camera connects as soon as one is free, try again in a few seconds",
            )
        if self.overloaded:
            raise CameraRefused(
                "overloaded",
                "this server is busy recording the cameras it has; "
                "your camera connects in a few seconds",
            )


class LagListener(Protocol):
    def note_lag(self, lag_s: float) -> None: ...


class LoopLag:
    """Measures the running loop's lag every ``period_s`` and tells ``load``."""

    def __init__(self, load: LagListener, period_s: float = SAMPLE_S) -> None:
        self._load = load
        self._period = period_s
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self._period
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._load.note_lag(max(0.0, now - self._due))
        self._due = now + self._period
        self._handle = loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

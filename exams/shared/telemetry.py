"""What a node tells its operator: the port every layer reports its counts and calls to.

The domain, ``storage`` and ``media`` never import a metrics library; they are given a
:class:`Telemetry` (``web.metrics.Metrics`` in the server, :data:`NO_TELEMETRY` by
default) and call it where the thing happens. Names are the fixed :class:`Count` and
:class:`Sample` members and a few bounded labels (a backend, an operation, a reason):
never a candidate, take or session id, so the number of series stays small.

``observe_call(backend, op, seconds, ok)`` is the hook for every call to a shared
service: ``backend`` one of :data:`BACKENDS`, ``op`` a short fixed name of what was
done (``"call"``, ``"take_many"``, ``"put_part"``): how long it took and whether it
failed (an exception, or a timeout). :class:`CallTimer` measures one.

The take id of the work in hand rides in :data:`take_id` (a context variable) so that
log lines say which take they are about (``web.logs``); :func:`about_take` sets it.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from enum import StrEnum
from types import TracebackType
from typing import Protocol

BACKENDS = ("sqlite", "postgresql", "redis", "s3")


class Count(StrEnum):
    """Counters (they only go up); the label each takes is in its comment."""

    FRAMES_WRITTEN = "frames_written"  # kind: video, audio
    # reason: waiting_keyframe, out_of_order, backlog, malformed, duplicate, write_error
    FRAMES_LOST = "frames_lost"
    TAKES_ENDED = "takes_ended"  # outcome: stored, failed
    UPLOAD_BYTES = "upload_bytes"  # kind: tus, answer_file
    DEADLINES_FIRED = "deadlines_fired"  # action: start_recording, stop_recording, ...
    MEDIA_SESSIONS_REFUSED = "media_sessions_refused"  # reason: draining, full, overloaded
    OBJECT_STORE_BYTES = "object_store_bytes"  # op: put (pieces, small objects), put_file
    TAKES_ADOPTED = "takes_adopted"  # how: finished, continued (a gone node's take)


class Sample(StrEnum):
    """Histograms (seconds)."""

    RECORDER_LAG = "recorder_lag"  # submitted to the mux pool -> written to the file


class Telemetry(Protocol):
    def count(self, what: Count, label: str = "", amount: float = 1.0) -> None: ...

    def sample(self, what: Sample, seconds: float) -> None: ...

    def observe_call(self, backend: str, op: str, seconds: float, ok: bool) -> None: ...


class NoTelemetry:
    """Counts nothing: the default where no operator is listening (unit tests, tools)."""

    def count(self, what: Count, label: str = "", amount: float = 1.0) -> None:
        pass

    def sample(self, what: Sample, seconds: float) -> None:
        pass

    def observe_call(self, backend: str, op: str, seconds: float, ok: bool) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()


class CallTimer:
    """``with CallTimer(telemetry, "redis", "take_many"): await ...``: one observed call
    (failed when the block raises, a cancellation included). Usable in sync code and around
    ``await`` alike. Durations are measured on the monotonic counter, not the domain clock:
    they are how long the machine took, not exam time."""

    __slots__ = ("_backend", "_op", "_started", "_telemetry")

    def __init__(self, telemetry: Telemetry, backend: str, op: str) -> None:
        self._telemetry = telemetry
        self._backend = backend
        self._op = op
        self._started = 0.0

    def __enter__(self) -> CallTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        seconds = time.perf_counter() - self._started
        self._telemetry.observe_call(self._backend, self._op, seconds, kind is None)


# The take the current task (and the tasks it starts) works on, for the logs.
take_id: ContextVar[str | None] = ContextVar("examcast_take_id", default=None)


def about_take(take: str | None) -> None:
    """From here on, this task's log lines (and those of tasks it starts) name ``take``."""
    take_id.set(take)

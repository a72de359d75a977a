"""Draining and readiness: how a node leaves the load balancer's pool without losing takes.

See :mod:`web.ops` for the endpoints and docs/deploy.md ("Operating a node").
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from exams.catalog.takes import MOVED, Take
from media.hub import MediaHub

log = logging.getLogger(__name__)

SETTLE_S = 1.0  # drained: the last answers go out before the process stops
CHECK_TIMEOUT_S = 2.0  # a readiness check slower than this counts as failed
Probe = Callable[[], Awaitable[None]]


def _stop_now() -> None:
    """Stop the server as SIGINT does: aiohttp's run_app runs every cleanup step."""

    def stop() -> None:
        raise web.GracefulExit()

    asyncio.get_running_loop().call_soon(stop)


class Drain:
    """The node's draining state, and the takes it waits for (a TakeService listener)."""

    def __init__(self, hub: MediaHub, timeout_s: float) -> None:
        self._hub = hub
        self._timeout_s = timeout_s
        # What ends the process once drained: set by install_signals (``examcast serve``).
        # An app in a test's event loop drains and stays up.
        self._stop: Callable[[], None] | None = None
        self._in_flight: set[str] = set()  # takes recording or finalising
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.draining = False

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def take_event(self, event: str, take: Take) -> None:
        if event == "take_started":
            self._in_flight.add(take.id)
            self._idle.clear()
        elif event in ("take_stored", "take_failed", MOVED):
            self._in_flight.discard(take.id)
            if not self._in_flight:
                self._idle.set()

    def on_signal(self) -> None:
        """SIGTERM: drain; a second one (or no drain time at all): stop now."""
        if self.draining or self._timeout_s <= 0:
            log.warning("stopping now: what still records is stopped and stored")
            self._stop_process()
            return
        self.begin()

    def begin(self) -> None:
        if self.draining:
            return
        self.draining = True
        self._hub.draining = True
        log.warning(
            "draining: no new media sessions; waiting for %d take(s) to end (at most %ss)",
            self.in_flight,
            self._timeout_s,
        )
        self._task = asyncio.ensure_future(self._wait_then_stop())

    async def _wait_then_stop(self) -> None:
        try:
            await asyncio.wait_for(self._drained(), self._timeout_s)
            log.warning("drained: every take has ended; stopping")
        except TimeoutError:
            log.warning(
                "drain_timeout_s passed with %d take(s) still running; stopping", self.in_flight
            )
        self._stop_process()

    async def _drained(self) -> None:
        """No take in flight, and none for SETTLE_S: the answer to the last ``stop_take``
        (sent after its ``take_stored``) reaches its page before the sockets close."""
        while True:
            await self._idle.wait()
            await asyncio.sleep(SETTLE_S)
            if self._idle.is_set():
                return

    def _stop_process(self) -> None:
        if self._stop is not None:
            self._stop()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def install_signals(self, stop: Callable[[], None] = _stop_now) -> None:
        """SIGTERM drains, then ``stop`` ends the process (``examcast serve`` only: a
        test's event loop keeps its own signals)."""
        self._stop = stop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.on_signal)


class Readiness:
    """Is this node ready for new work? Each named probe must answer in time."""

    def __init__(self, drain: Drain, probes: Sequence[tuple[str, Probe]]) -> None:
        self._drain = drain
        self._probes = list(probes)

    async def report(self) -> tuple[bool, dict[str, Any]]:
        results = await asyncio.gather(*(_check(probe) for _, probe in self._probes))
        checks = {name: result for (name, _), result in zip(self._probes, results, strict=True)}
        healthy = all(result["ok"] for result in checks.values())
        status = "draining" if self._drain.draining else "ready" if healthy else "unavailable"
        return status == "ready", {"status": status, "checks": checks}


async def _check(probe: Probe) -> dict[str, object]:
    started = time.perf_counter()
    error = None
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except TimeoutError:
        error = "timeout"
    except Exception as exc:  # unreachable: what kind, never its text (hosts, passwords)
        error = type(exc).__name__
    out: dict[str, object] = {
        "ok": error is None,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if error is not None:
        out["error"] = error
    return out

"""Slow clients: bound the time to send headers, and require a minimum body rate.

A connection that trickles its request holds a socket, a buffer and often a
lock (a tus upload's) for as long as it likes unless the server bounds the
*whole* exchange rather than each read. Two rules, as Apache's mod_reqtimeout:

- **Headers**: complete request headers must arrive within ``header_timeout_s``
  of the connection opening or of the previous response ending. aiohttp's
  keep-alive timer does exactly this (it closes a connection whose handler
  still waits for a complete request when the timer fires, whatever bytes
  trickled in meanwhile), so the rule is that timer set to our bound.
- **Bodies**: a request body has ``grace_s`` and then must keep up
  ``min_rate`` bytes per second on average: the deadline is ``start + grace_s
  + received / min_rate``. Time while the server itself has paused reading
  (flow control: the handler is behind, e.g. fsyncing) does not count against
  the client. A body that falls behind ends with :class:`SlowBody` raised in
  the handler's read (an upload keeps what it received and can resume) and the
  connection is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web

from exams.shared.errors import UploadInterrupted

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHECK_EVERY_S = 1.0


class SlowBody(UploadInterrupted):
    """The body stopped keeping the minimum rate (an upload keeps what arrived)."""

    code = "body_too_slow"


def runner_options(header_timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner`` / ``web.run_app`` that bound header time."""
    return {"keepalive_timeout": header_timeout_s}


class _BodyWatch:
    """Checks one request body's progress every ``CHECK_EVERY_S`` until it is complete."""

    def __init__(self, request: web.Request, grace_s: float, min_rate: float) -> None:
        self._request = request
        self._content = request.content
        self._transport = request.transport
        self._min_rate = min_rate
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._grace = grace_s
        self._paused_s = 0.0
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(CHECK_EVERY_S, self._check)

    def _check(self) -> None:
        self._handle = None
        transport = self._transport
        if self._content.is_eof() or transport is None or transport.is_closing():
            return
        if not transport.is_reading():  # paused by us (flow control): not the client's fault
            self._paused_s += CHECK_EVERY_S
        received = self._content.total_bytes
        deadline = self._start + self._grace + self._paused_s + received / self._min_rate
        if self._loop.time() > deadline:
            self._content.set_exception(
                SlowBody(
                    f"the request body arrived too slowly ({received} bytes so far; at least "
                    f"{int(self._min_rate)} bytes per second are needed); try again on a "
                    "better connection",
                    {"received": received},
                )
            )
            # Nothing more is read from this client: answer if we can, then close.
            self._request.protocol.force_close()
            return
        self._handle = self._loop.call_later(CHECK_EVERY_S, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def body_rate_middleware(grace_s: float, min_rate: float) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        if upgrade or not request.body_exists or request.content.is_eof():
            return await handler(request)
        watch = _BodyWatch(request, grace_s, min_rate)
        try:
            return await handler(request)
        finally:
            watch.stop()

    return middleware

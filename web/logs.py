"""The server's logging: one line per event, no tracebacks for clients' mistakes.

``log_format`` ``text`` (the default) writes ``time LEVEL logger: message`` lines;
``json`` writes one JSON object a line (:class:`JsonFormatter`): ``time`` (UTC, ISO
8601), ``level``, ``logger``, ``message``, ``node``, and when known ``request_id`` (the
request's ``X-Request-Id``, or one made up; :func:`request_id_middleware` echoes it in
the response) and ``take_id`` (``exams.shared.telemetry.take_id``, set where a take is
started or stopped), plus ``exception`` with the traceback of an error.

aiohttp answers a request it cannot parse (a bad request line, a broken
header, a non-numeric Content-Length) with 400 before any of our code runs,
and logs it on ``aiohttp.server`` with a full traceback. Anyone can send
those, so they would flood the log with noise that looks like server faults;
they become one INFO line naming the client and the problem.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from exams.shared.telemetry import take_id

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ClientErrorFilter(logging.Filter):
    """Turns aiohttp's traceback for a malformed request into one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            said = record.getMessage()
            record.msg = "%s (a malformed request: %s)"
            record.args = (said, " ".join(str(exc.message).split()) or type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# The request being handled by this task (and the tasks it starts), for the logs.
request_id: ContextVar[str | None] = ContextVar("examcast_request_id", default=None)
REQUEST_ID = "X-Request-Id"
# A caller's id is kept when it is short and plain (a proxy's or a client's trace id);
# anything else is replaced, so a log line never carries what a client made up at length.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUEST_ID_KEY = web.RequestKey("request_id", str)


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Name the request (its ``X-Request-Id``, or a new one) for every log line it causes;
    :func:`echo_request_id` puts the name on the response."""
    given = request.headers.get(REQUEST_ID, "")
    rid = given if _GOOD_ID.fullmatch(given) else secrets.token_hex(8)
    request[REQUEST_ID_KEY] = rid
    request_id.set(rid)
    return await handler(request)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response (errors, pages, files) says its request id."""
    rid = request.get(REQUEST_ID_KEY)
    if rid is not None:
        response.headers[REQUEST_ID] = rid


class JsonFormatter(logging.Formatter):
    """One JSON object a line: what log collectors (Loki, Elasticsearch) read as is."""

    def __init__(self, node: str = "") -> None:
        super().__init__()
        self._node = node

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._node:
            out["node"] = self._node
        rid, take = request_id.get(), take_id.get()
        if rid is not None:
            out["request_id"] = rid
        if take is not None:
            out["take_id"] = take
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str, fmt: str = "text", node: str = "") -> None:
    """The root logger on stderr: ``fmt`` ``text`` or ``json`` (one object a line)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node) if fmt == "json" else logging.Formatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("aiohttp.server").addFilter(ClientErrorFilter())

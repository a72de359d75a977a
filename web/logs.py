"""The server's logging: one line per event, no tracebacks for clients' mistakes.

aiohttp answers a request it cannot parse (a bad request line, a broken
header, a non-numeric Content-Length) with 400 before any of our code runs,
and logs it on ``aiohttp.server`` with a full traceback. Anyone can send
those, so they would flood the log with noise that looks like server faults;
they become one INFO line naming the client and the problem.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

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


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    logging.getLogger("aiohttp.server").addFilter(ClientErrorFilter())

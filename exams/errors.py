"""Errors the domain raises, and the one JSON shape every client sees them in.

The same body goes out as an HTTP JSON response and as a Socket.IO
acknowledgement: ``{"error": {"code": ..., "message": ..., "details": ...}}``.
"""

from __future__ import annotations

from typing import Any


class ExamcastError(Exception):
    """Base class: ``code`` is stable for programs, ``message`` says what to do."""

    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class InvalidInput(ExamcastError):
    code = "invalid_input"


class TooLarge(ExamcastError):
    code = "too_large"


class Unauthenticated(ExamcastError):
    code = "unauthenticated"


class Forbidden(ExamcastError):
    code = "forbidden"


class NotFound(ExamcastError):
    code = "not_found"


class Conflict(ExamcastError):
    code = "conflict"


class TooManyRequests(ExamcastError):
    code = "rate_limited"


class Unavailable(ExamcastError):
    code = "unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}

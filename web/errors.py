"""One place where errors become HTTP responses, in the one JSON shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from exams.shared import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.ExamcastError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.TooManyRequests: 429,
    errors.UnsupportedMediaType: 415,
    errors.Gone: 410,
    errors.PreconditionFailed: 412,
    errors.UploadLocked: 423,
    errors.ChecksumMismatch: 460,  # tus 1.0, checksum extension
    errors.Unavailable: 503,
}
REASONS = {460: "Checksum Mismatch"}  # not in the HTTP registry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_of(exc: errors.ExamcastError) -> int:
    """The status of the nearest listed class: a specific error keeps its family's status."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def json_error(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status, reason=REASONS.get(status))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ExamcastError as exc:
        return json_error(status_of(exc), exc.to_json())
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = {
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            415: "unsupported_media_type",
        }.get(exc.status, "http_error")
        return json_error(exc.status, errors.error_body(code, exc.reason))
    except RedisError:  # the nodes' shared state (web.shared_state); the records are safe
        log.exception("Redis failed on %s %s", request.method, request.path)
        return json_error(
            503, errors.error_body("unavailable", "the server is busy; try again in a moment")
        )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(
            500, errors.error_body("internal", "something went wrong on the server; try again")
        )

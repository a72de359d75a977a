"""One place where errors become HTTP responses, in the one JSON shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from exams import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.ExamcastError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.TooManyRequests: 429,
    errors.Unavailable: 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ExamcastError as exc:
        return json_error(STATUS.get(type(exc), 400), exc.to_json())
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "http_error"
        )
        return json_error(exc.status, errors.error_body(code, exc.reason))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(
            500, errors.error_body("internal", "something went wrong on the server; try again")
        )

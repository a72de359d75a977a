"""Who is asking: an opaque owner id from a session cookie.

Until accounts arrive (the exam-rules issue), each browser gets a random
session token in an HttpOnly, SameSite cookie (Secure under TLS); the owner
id is a hash of it, so the database never holds the token itself. Socket.IO
connections carry the same cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie

from aiohttp import web

COOKIE = "examcast_session"
OWNER = web.RequestKey("owner", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def owner_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def owner_from_cookie_header(header: str | None) -> str | None:
    if not header:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:
        return None
    morsel = cookie.get(COOKIE)
    if morsel is None or not _valid(morsel.value):
        return None
    return owner_of(morsel.value)


def _valid(token: str) -> bool:
    return 20 <= len(token) <= 100 and token.replace("-", "").replace("_", "").isalnum()


@web.middleware
async def identity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(COOKIE)
    fresh = token is None or not _valid(token)
    if fresh:
        token = secrets.token_urlsafe(32)
    assert token is not None
    request[OWNER] = owner_of(token)
    response = await handler(request)
    if fresh and not response.prepared:
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Lax",
            secure=request.secure,
            path="/",
            max_age=30 * 24 * 3600,
        )
    return response

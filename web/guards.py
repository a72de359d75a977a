"""Cross-site request refusal, and the security headers every response gets.

:func:`security_headers` runs as the app's ``on_response_prepare`` hook, so it
reaches every response the app sends: errors from ``web.errors`` and the
plain 404/405 of unknown paths and static files as much as a view's own.
The one kind it misses, aiohttp's own 400 to a request it cannot parse, still
names no software version (:func:`hide_server_software`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web, web_response

from exams.shared.errors import Forbidden
from web import proxies
from web.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'"
)
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours
SERVER = "examcast"  # every response's Server header: not aiohttp's "Python/3.x aiohttp/3.x"


def cross_site(request: web.Request) -> bool:
    """True for a request another site made the browser send (ASVS 3.5)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # not a browser, or a same-origin navigation from an old one
    here = proxies.host(request, request.app[SETTINGS].trusted_proxies)
    return urlsplit(origin).netloc.lower() != here.lower()


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS and cross_site(request):
        raise Forbidden("requests from other sites are refused")
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers for every response (an ``on_response_prepare`` hook); a view's own
    ``Cache-Control`` or ``Content-Security-Policy`` is kept."""
    headers = response.headers
    headers["Server"] = SERVER
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self)")
    if request.path.startswith("/api/"):
        # Personal data, one-time playback: never kept by the browser or a shared cache.
        headers.setdefault("Cache-Control", "no-store")
    if proxies.is_secure(request, request.app[SETTINGS].trusted_proxies):
        headers.setdefault("Strict-Transport-Security", HSTS)


def hide_server_software() -> None:
    """Make :data:`SERVER` aiohttp's default ``Server`` header. A request aiohttp cannot
    parse (a malformed request line or header) gets its 400 from aiohttp itself, before any
    middleware, and without ``on_response_prepare`` (aiohttp#6463, open): such a response
    takes its ``Server`` header from ``aiohttp.web_response.SERVER_SOFTWARE``, there being
    no option for it. The same for every app in the process, and idempotent."""
    if not isinstance(getattr(web_response, "SERVER_SOFTWARE", None), str):
        raise RuntimeError(
            "aiohttp.web_response.SERVER_SOFTWARE is gone: find where this aiohttp takes its "
            "Server header from (tests/integration/test_security_headers.py checks it)"
        )
    web_response.SERVER_SOFTWARE = SERVER

"""What a request says about how the browser reached us, reverse proxies included.

Only a peer listed in ``--trusted-proxies`` speaks for the browser through
``X-Forwarded-Proto`` and ``X-Forwarded-Host``; from anyone else those headers
are ignored, since any client can send them. Of a header with several values
the last one counts: the one our trusted proxy wrote (the earlier ones came
from whoever connected to it). ``X-Forwarded-For`` is read by
:func:`web.auth.client_address` by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web


def _forwarded(request: web.Request, name: str, trusted: Collection[str]) -> str | None:
    if (request.remote or "") not in trusted:
        return None
    values = [v.strip() for v in request.headers.get(name, "").split(",") if v.strip()]
    return values[-1] if values else None


def is_secure(request: web.Request, trusted: Collection[str]) -> bool:
    """The browser used HTTPS: to us (``--tls``), or to a trusted proxy that says so."""
    proto = _forwarded(request, "X-Forwarded-Proto", trusted) or ""
    return request.secure or proto.lower() == "https"


def host(request: web.Request, trusted: Collection[str]) -> str:
    """The host (and port) the browser asked for."""
    return _forwarded(request, "X-Forwarded-Host", trusted) or request.host


def origin(request: web.Request, trusted: Collection[str]) -> str:
    """This server's origin as the browser sees it, e.g. ``https://exam.example.edu``."""
    scheme = "https" if is_secure(request, trusted) else "http"
    return f"{scheme}://{host(request, trusted)}".lower()


def origin_check(trusted: Collection[str]) -> Callable[[str, dict[str, Any]], bool]:
    """Engine.IO's origin check (its ``cors_allowed_origins``): the page is one of ours."""

    def same_origin(origin_header: str, environ: dict[str, Any]) -> bool:
        request = environ.get("aiohttp.request")
        if not isinstance(request, web.Request) or not origin_header:
            return False
        parts = urlsplit(origin_header.strip().lower())
        return f"{parts.scheme}://{parts.netloc}" == origin(request, trusted)

    return same_origin

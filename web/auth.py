"""Who is asking, by the session cookie: the current account for HTTP views and sockets.

A route's ``auth`` declaration (:mod:`web.openapi`) calls :meth:`Authenticator.require`
before its view and leaves the account at ``request[CALLER]``; views that need a journey
step check it with ``web.views.common.candidate``. The Socket.IO connect handler uses
:meth:`Authenticator.account_for_cookie_header`. Log-in and log-out change the
cookie through :func:`issue_cookie` / :func:`clear_cookie`, applied by
:func:`session_cookie_middleware`.

The cookie is ``__Host-examcast_session`` (HttpOnly, SameSite=Lax, Secure) when
the browser came over HTTPS, directly (``--tls``) or through a trusted proxy
(:mod:`web.proxies`): the ``__Host-`` prefix makes browsers refuse it from
plain HTTP or another host. Over plain HTTP (the localhost demo) it is
``examcast_session``, without Secure. Each kind of request reads only its own
name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from exams.admission.journey import Journey
from exams.identity.accounts import Account, AccountService, Role
from exams.shared.errors import Forbidden, NotFound, Unauthenticated
from exams.shared.ports import AuditLog, Clock, Entry, Event
from web.proxies import is_secure

# The account a route's ``auth`` declaration let in (web.openapi puts it there).
CALLER: web.RequestKey[Account] = web.RequestKey("caller", Account)

COOKIE = "examcast_session"  # plain HTTP only (localhost, a LAN demo without --tls)
SECURE_COOKIE = "__Host-examcast_session"  # HTTPS: host-only, Secure, Path=/

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class _Resolved:
    account: Account | None


_CURRENT = web.RequestKey("current_account", _Resolved)
_SET_TOKEN = web.RequestKey("set_session_token", str)  # "" clears the cookie


def client_address(request: web.Request, trusted_proxies: tuple[str, ...] = ()) -> str:
    """The client's address; behind trusted proxies, the first untrusted X-Forwarded-For hop."""
    remote = request.remote or "unknown"
    if remote not in trusted_proxies:
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote


class Authenticator:
    def __init__(
        self,
        accounts: AccountService,
        journey: Journey,
        audit: AuditLog,
        clock: Clock,
        trusted_proxies: tuple[str, ...] = (),
    ) -> None:
        self.accounts = accounts
        self._journey = journey
        self._audit = audit
        self._clock = clock
        self._proxies = trusted_proxies

    def client(self, request: web.Request) -> str:
        return client_address(request, self._proxies)

    async def account_for_cookie_header(self, header: str | None) -> Account | None:
        """The logged-in account of a raw ``Cookie`` header (for the Socket.IO connect)."""
        return await self.account_for_token(cookie_token(header))

    async def account_for_token(self, token: str | None, *, touch: bool = True) -> Account | None:
        """The account a session token is logged in as (``touch=False``: a server-side
        re-check that does not count as activity)."""
        account_id = await self.accounts.sessions.account_id_for(token, touch=touch)
        if account_id is None:
            return None
        try:
            return await self.accounts.get(account_id)
        except NotFound:  # the account was removed while logged in
            return None

    def session_token(self, request: web.Request) -> str | None:
        """The session token of the request's cookie (the one its scheme uses)."""
        return request.cookies.get(cookie_name(is_secure(request, self._proxies)))

    def socket_client(self, environ: dict[str, Any]) -> str:
        """The client's address of a Socket.IO connect (its WSGI ``environ``)."""
        request = environ.get("aiohttp.request")
        return self.client(request) if isinstance(request, web.Request) else "unknown"

    def socket_token(self, environ: dict[str, Any]) -> str | None:
        """The session token of a Socket.IO connect (its WSGI ``environ``)."""
        request = environ.get("aiohttp.request")
        return self.session_token(request) if isinstance(request, web.Request) else None

    async def current(self, request: web.Request) -> Account | None:
        """The logged-in account of this request, or None (looked up once per request)."""
        resolved = request.get(_CURRENT)
        if resolved is None:
            account = await self.accounts.account_for_token(self.session_token(request))
            resolved = _Resolved(account)
            request[_CURRENT] = resolved
        return resolved.account

    async def require(self, request: web.Request, *roles: Role) -> Account:
        account = await self.current(request)
        if account is None:
            raise Unauthenticated("log in first")
        if roles and account.role not in roles:
            await self._audit.record(
                Entry(
                    Event.ACCESS_DENIED,
                    account.id,
                    self.client(request),
                    {"path": request.path, "method": request.method, "role": account.role.value},
                    self._clock(),
                )
            )
            raise Forbidden(
                f"this needs the role {' or '.join(r.value for r in roles)}; "
                f"your account is a {account.role.value}"
            )
        return account


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


def cookie_token(header: str | None, name: str = COOKIE) -> str | None:
    """The session token in a raw ``Cookie`` header, if any."""
    if not header:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:
        return None
    morsel = cookie.get(name)
    return None if morsel is None else morsel.value


def issue_cookie(request: web.Request, token: str) -> None:
    request[_SET_TOKEN] = token


def clear_cookie(request: web.Request) -> None:
    request[_SET_TOKEN] = ""


def session_cookie_middleware(trusted_proxies: tuple[str, ...] = ()) -> Middleware:
    """Set the cookie of a log-in's new token, or clear it at log-out."""

    @web.middleware
    async def session_cookies(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        token = request.get(_SET_TOKEN)
        if token is None or response.prepared:
            return response
        secure = is_secure(request, trusted_proxies)
        name = cookie_name(secure)
        if token:
            response.set_cookie(name, token, httponly=True, samesite="Lax", secure=secure, path="/")
        else:
            response.del_cookie(name, path="/", secure=secure, httponly=True, samesite="Lax")
        return response

    return session_cookies

"""Security headers on every response (errors and static 404s too), HSTS and the
``__Host-`` cookie over HTTPS (direct or through a trusted proxy), and forwarded
headers believed from trusted proxies only."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support.api import api_client, log_in, register
from tests.support.process import start_server
from tests.support.server import (
    RunningServer,
    running_server,
    server_settings,
    sign_up,
    socket_connect,
)
from tests.support.world import PASSWORD
from web.guards import CSP, HSTS

PHONE = "13800138000"
HTTPS = {"X-Forwarded-Proto": "https"}
JSON = {"Content-Type": "application/json"}


def assert_secured(headers: Any, where: str) -> None:
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "same-origin", where
    assert headers.get("Content-Security-Policy") == CSP, where
    assert headers.get("Server") == "examcast", (where, headers.get("Server"))
    assert "Strict-Transport-Security" not in headers, where  # plain HTTP


async def fetch(
    server: RunningServer, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.request(method, server.url + path, **kwargs) as response,
    ):
        return response.status, response.headers, await response.read()


async def test_every_response_has_the_security_headers_errors_included(
    api_server: RunningServer,
) -> None:
    async with api_client(api_server) as client:
        assert (await register(client, PHONE)).status == 201
        assert (await log_in(client, PHONE)).status == 200
        me = await client.call("GET", "/api/me")
        assert me.status == 200
        assert_secured(me.headers, "/api/me")
        assert me.headers["Cache-Control"] == "no-store"  # personal data

    api_errors: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", "/api/health", {}, 200),
        ("GET", "/api/me", {}, 401),
        ("POST", "/api/session", {"json": {}, "headers": {"Origin": "http://evil.example"}}, 403),
        ("GET", "/api/no-such-thing", {}, 404),
        ("PUT", "/api/health", {}, 405),
        ("POST", "/api/session", {"data": b"x" * (1024 * 1024 + 1), "headers": JSON}, 413),
        ("POST", "/api/session", {"data": b"{", "headers": JSON}, 400),
    ]
    for method, path, kwargs, status in api_errors:
        got, headers, body = await fetch(api_server, method, path, **kwargs)
        where = f"{method} {path} -> {got}"
        assert got == status, (where, body[:200])
        assert_secured(headers, where)
        assert headers.get("Cache-Control") == "no-store", where
        assert headers["Content-Type"].startswith("application/json"), where

    # Outside the API: the plain 404/405 of aiohttp itself, a page and a static file.
    for method, path, status in [
        ("GET", "/no-such-page", 404),
        ("GET", "/static/no-such-file.js", 404),
        ("PUT", "/login", 405),
        ("GET", "/login", 200),
        ("GET", "/static/js/lib/i18n.js", 200),
    ]:
        got, headers, _ = await fetch(api_server, method, path)
        where = f"{method} {path} -> {got}"
        assert got == status, where
        assert_secured(headers, where)
        assert headers.get("Permissions-Policy") == "camera=(self), microphone=(self)", where
        assert "no-store" not in headers.get("Cache-Control", ""), where  # pages, assets
    _, page, _ = await fetch(api_server, "GET", "/login")
    assert page["Cache-Control"] == "no-cache"


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server behind a TLS-terminating reverse proxy on 127.0.0.1 (as the tests are)."""
    settings = server_settings(
        tmp_path / "proxied", password_hash_memory_kib=1024, trusted_proxies=("127.0.0.1",)
    )
    async with running_server(settings) as running:
        yield running


async def logged_in_token(server: RunningServer, headers: dict[str, str]) -> tuple[str, str]:
    """Register and log in with ``headers`` on the log-in; (cookie name, Set-Cookie)."""
    async with api_client(server) as client:
        assert (await register(client, PHONE)).status == 201
        reply = await client.call(
            "POST", "/api/session", {"phone": PHONE, "password": PASSWORD}, headers=headers
        )
        assert reply.status == 200, reply
        [set_cookie] = [c for c in reply.headers.getall("Set-Cookie") if "examcast_session" in c]
        return set_cookie.split(";")[0], set_cookie


async def test_behind_a_trusted_proxy_over_https_the_cookie_is_host_only_and_secure(
    proxied: RunningServer,
) -> None:
    pair, set_cookie = await logged_in_token(proxied, HTTPS)
    name, token = pair.split("=", 1)
    assert name == "__Host-examcast_session", set_cookie
    assert "Secure" in set_cookie and "Path=/" in set_cookie and "Domain" not in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie

    status, headers, _ = await fetch(
        proxied, "GET", "/api/me", headers={**HTTPS, "Cookie": f"__Host-examcast_session={token}"}
    )
    assert status == 200
    assert headers["Strict-Transport-Security"] == HSTS
    # The proxy's last word counts: a browser's own "https" before its "http" does not.
    _, headers, _ = await fetch(
        proxied, "GET", "/api/health", headers={"X-Forwarded-Proto": "https, http"}
    )
    assert "Strict-Transport-Security" not in headers
    # Each scheme reads only its own cookie name.
    for sent in (
        {"Cookie": f"__Host-examcast_session={token}"},  # plain HTTP: not its cookie
        {**HTTPS, "Cookie": f"examcast_session={token}"},  # HTTPS: a plain-name cookie
    ):
        status, _, _ = await fetch(proxied, "GET", "/api/me", headers=sent)
        assert status == 401, sent

    # Log-out clears the same cookie.
    status, headers, _ = await fetch(
        proxied,
        "DELETE",
        "/api/session",
        headers={**HTTPS, "Cookie": f"__Host-examcast_session={token}"},
    )
    assert status == 204
    cleared = [c for c in headers.getall("Set-Cookie") if "examcast_session" in c]
    assert cleared and cleared[0].startswith('__Host-examcast_session=""'), cleared
    assert "Secure" in cleared[0]


async def test_forwarded_headers_from_anyone_else_change_nothing(
    api_server: RunningServer,
) -> None:
    pair, set_cookie = await logged_in_token(api_server, HTTPS)
    assert pair.startswith("examcast_session="), set_cookie
    assert "Secure" not in set_cookie
    _, headers, _ = await fetch(api_server, "GET", "/api/health", headers=HTTPS)
    assert "Strict-Transport-Security" not in headers


async def engineio_handshake(server: RunningServer, headers: dict[str, str]) -> int:
    status, _, _ = await fetch(
        server, "GET", "/socket.io/?EIO=4&transport=polling", headers=headers
    )
    return status


async def test_the_socket_origin_check_believes_forwarded_headers_from_trusted_proxies_only(
    api_server: RunningServer, proxied: RunningServer
) -> None:
    public = {"Origin": "https://exam.example.edu"}
    forwarded = {**public, **HTTPS, "X-Forwarded-Host": "exam.example.edu"}
    assert await engineio_handshake(proxied, forwarded) == 200
    assert await engineio_handshake(api_server, forwarded) == 400  # anyone can send those
    assert await engineio_handshake(proxied, public) == 400  # not our host without them
    evil = {**forwarded, "Origin": "https://evil.example"}
    assert await engineio_handshake(proxied, evil) == 400
    for server in (api_server, proxied):  # the page's own origin, plain HTTP
        assert await engineio_handshake(server, {"Origin": server.url}) == 200
    # The same rule for unsafe requests from an old browser (Origin, no Sec-Fetch-Site).
    status, _, _ = await fetch(proxied, "POST", "/api/sms-codes", json={}, headers=forwarded)
    assert status == 400  # reached the view: not refused as cross-site
    status, _, _ = await fetch(api_server, "POST", "/api/sms-codes", json={}, headers=forwarded)
    assert status == 403


async def test_direct_tls_sends_hsts_sets_the_host_cookie_and_the_socket_connects(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = await asyncio.to_thread(
        start_server,
        data,
        "--tls",
        "self-signed",
        "--password-hash-memory-kib",
        "1024",
        scheme="https",
    )
    try:
        context = ssl.create_default_context(cafile=data / "tls" / "cert.pem")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(
            cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=context)
        ) as http:
            await sign_up(server, http)
            assert [c.key for c in jar] == ["__Host-examcast_session"]
            [morsel] = list(jar)
            assert morsel["secure"] and morsel["path"] == "/"
            async with http.get(server.url + "/api/me") as me:
                assert me.status == 200
                assert me.headers["Strict-Transport-Security"] == HSTS
                assert me.headers["Cache-Control"] == "no-store"
                assert me.headers["Server"] == "examcast"
            sio = socketio.AsyncClient(reconnection=False, ssl_verify=False)
            await socket_connect(
                sio, server.url, {"Cookie": f"{morsel.key}={morsel.value}", "Origin": server.url}
            )
            try:
                opened = await sio.call("open_session", {"role": "primary"}, timeout=10)
                assert opened["session_id"], opened
            finally:
                await sio.disconnect()
    finally:
        server.stop()

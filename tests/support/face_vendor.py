"""A local stand-in for a commercial real-person verification service (实人认证 / 人脸核身).

A real aiohttp server on 127.0.0.1 that answers ``POST /v1/person/verify`` the way such
services do (see ``storage/face_vendor.py`` for the exchange): it checks the request's
HMAC-SHA256 signature with the key it was given, reads the JSON body (name, ID number,
reference photo or none, liveness frames and best frame), and answers according to its
:attr:`FaceVendor.mode`:

- ``pass``: 200, ``code`` 0, ``result.passed`` true, a high similarity score;
- ``fail``: 200, ``code`` 0, ``result.passed`` false, a low score (another person);
- ``slow``: holds the answer until the server stops (beyond any client timeout);
- ``500``: an internal error page; ``429``: "too many requests" with Retry-After;
- ``garbage``: 200 with a body that is not JSON.

A request with a bad signature gets 401. Every request it received is kept
(:attr:`FaceVendor.requests`), with its headers, for tests to check what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench.spawn import free_port

PATH = "/v1/person/verify"
MODES = ("pass", "fail", "slow", "500", "garbage", "429")


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    signed: bool


@dataclass
class FaceVendor:
    key: str
    mode: str = "pass"
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def signed(self, request: web.Request, raw: bytes) -> bool:
        auth = request.headers.get("Authorization", "")
        scheme, _, params = auth.partition(" ")
        if scheme != "HMAC-SHA256":
            return False
        parts = dict(p.strip().partition("=")[::2] for p in params.split(","))
        text = "\n".join(
            [
                request.method,
                request.path,
                parts.get("Timestamp", ""),
                parts.get("Nonce", ""),
                hashlib.sha256(raw).hexdigest(),
            ]
        )
        expected = hmac.new(self.key.encode(), text.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("Signature", ""))

    async def verify(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        signed = self.signed(request, raw)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        self.requests.append(Received(dict(request.headers), body, signed))
        if not signed:
            return _answer(401, 40100, "signature does not match", body)
        frames = body.get("frames") or []
        if not all(_is_jpeg(f.get("image")) for f in frames) or not _is_jpeg(
            body.get("best_frame")
        ):
            return _answer(400, 40001, "frames must be base64 JPEG images", body)
        if self.mode == "slow":
            await self._released.wait()
        if self.mode == "500":
            return web.Response(status=500, text="<html>internal error</html>")
        if self.mode == "429":
            return _answer(429, 42900, "too many requests", body, {"Retry-After": "1"})
        if self.mode == "garbage":
            return web.Response(status=200, text="<<not json>>", content_type="text/plain")
        passed = self.mode == "pass"
        result = {"passed": passed, "score": 92.4 if passed else 18.7, "liveness": True}
        return _answer(200, 0, "OK", body, result=result)


def _is_jpeg(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return base64.b64decode(value, validate=True)[:3] == b"\xff\xd8\xff"
    except ValueError:
        return False


def _answer(
    status: int,
    code: int,
    message: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    result: dict[str, Any] | None = None,
) -> web.Response:
    out: dict[str, Any] = {
        "code": code,
        "message": message,
        "request_id": f"vendor-{body.get('request_id', 'unknown')}",
    }
    if result is not None:
        out["result"] = result
    return web.json_response(out, status=status, headers=headers)


@asynccontextmanager
async def face_vendor(key: str, mode: str = "pass") -> AsyncIterator[FaceVendor]:
    """The stand-in, listening on a free loopback port until the block ends."""
    vendor = FaceVendor(key, mode, free_port())
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_post(PATH, vendor.verify)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", vendor.port)
    await site.start()
    try:
        yield vendor
    finally:
        vendor._released.set()  # a held answer ends (its client gave up long ago)
        await runner.cleanup()

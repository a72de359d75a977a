"""tus 1.0 on the wire: its headers read and written, a request body as an upload ``Body``.

https://tus.io/protocols/resumable-upload — core, creation,
creation-with-upload, expiration, checksum and termination. Every response
carries ``Tus-Resumable`` and ``Cache-Control: no-store``; every request but
OPTIONS must carry ``Tus-Resumable: 1.0.0`` (412 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from aiohttp import web

from exams.shared.errors import (
    ExamcastError,
    InvalidInput,
    PreconditionFailed,
    UnsupportedMediaType,
    UploadInterrupted,
)
from exams.shared.telemetry import Count
from exams.uploads.ports import Checksum
from web.errors import json_error, status_of
from web.keys import METRICS

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,expiration,checksum,termination"
CHECKSUMS = {"sha1": 20, "sha256": 32, "md5": 16}  # algorithm → digest bytes
OFFSET_STREAM = "application/offset+octet-stream"
METADATA_MAX = 4096
_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without space and comma
_NUMBER = re.compile(r"[0-9]{1,19}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tus(handler: Handler) -> Handler:
    """Errors as JSON in the one shape, and the tus headers on every response."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if request.method != "OPTIONS":
                _require_version(request)
            response = await handler(request)
        except ExamcastError as exc:
            response = json_error(status_of(exc), exc.to_json())
            if isinstance(exc, PreconditionFailed):
                response.headers["Tus-Version"] = VERSION
        response.headers["Tus-Resumable"] = VERSION
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


def _require_version(request: web.Request) -> None:
    sent = request.headers.get("Tus-Resumable")
    if sent != VERSION:
        raise PreconditionFailed(
            f"send Tus-Resumable: {VERSION} (this server speaks tus {VERSION})",
            {"tus_version": VERSION, "sent": sent},
        )


def number(request: web.Request, header: str) -> int:
    raw = request.headers.get(header)
    if raw is None or not _NUMBER.fullmatch(raw.strip()):
        raise InvalidInput(
            f"send {header} as a whole number of bytes", {"fields": {header: "must be a number"}}
        )
    return int(raw)


def require_offset_stream(request: web.Request) -> None:
    if request.content_type != OFFSET_STREAM:
        raise UnsupportedMediaType(f"send the bytes with Content-Type: {OFFSET_STREAM}")


def metadata(raw: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs, values UTF-8."""
    if raw is None or not raw.strip():
        return {}
    if len(raw) > METADATA_MAX:
        raise InvalidInput(f"Upload-Metadata must be at most {METADATA_MAX} characters")
    out: dict[str, str] = {}
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not _KEY.fullmatch(key) or key in out or len(parts) > 2:
            raise InvalidInput(f"Upload-Metadata has a bad or repeated key: {key!r}")
        try:
            value = base64.b64decode(parts[1], validate=True) if len(parts) == 2 else b""
            out[key] = value.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"Upload-Metadata {key!r} must be base64 of UTF-8 text",
                {"fields": {key: "must be base64 of UTF-8 text"}},
            ) from exc
    return out


def checksum(raw: str | None) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    size = CHECKSUMS.get(algorithm.lower())
    if size is None:
        raise InvalidInput(
            f"Upload-Checksum: use one of {', '.join(CHECKSUMS)}", {"algorithms": list(CHECKSUMS)}
        )
    try:
        digest = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != size:
        raise InvalidInput(f"Upload-Checksum: the {algorithm} digest must be {size} bytes, base64")
    return Checksum(algorithm.lower(), digest)


def http_date(when: float) -> str:
    return formatdate(when, usegmt=True)


class RequestBody:
    """An aiohttp request body as an ``exams.uploads.ports.Body``."""

    def __init__(self, request: web.Request) -> None:
        self._content = request.content
        self._metrics = request.app[METRICS]

    async def read(self) -> bytes:
        try:
            chunk = await self._content.readany()
            self._metrics.count(Count.UPLOAD_BYTES, "tus", len(chunk))
            return chunk
        except ExamcastError:
            raise
        except Exception as exc:  # the connection broke off mid-body
            raise UploadInterrupted("the connection broke off; resume the upload") from exc

    def cut(self, exc: Exception) -> None:
        self._content.set_exception(exc)

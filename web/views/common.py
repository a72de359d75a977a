"""What every view needs: the current account, the client address, bounded raw bodies,
and the response schemas several views share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from exams.admission.journey import Step
from exams.identity.accounts import Account
from exams.shared.errors import TooLarge, UnsupportedMediaType
from exams.shared.fields import MAX_TIME
from exams.shared.telemetry import Count
from web.auth import CALLER
from web.keys import AUTH, JOURNEY, METRICS
from web.schema import loose

CHUNK = 64 * 1024
# Unix seconds from 1970 to the end of year 9999: every time a date can show.
_SPAN = {"minimum": 0, "maximum": MAX_TIME, "description": "seconds since the Unix epoch"}
TIME = {"type": "number", **_SPAN}
TIME_OR_NULL = {"type": ["number", "null"], **_SPAN}
ID_TYPE = loose(
    "an ID document type",
    code={"type": "string"},
    name_zh={"type": "string"},
    name_en={"type": "string"},
)


async def counted(request: web.Request, kind: str) -> AsyncIterator[bytes]:
    """The request body in chunks, each counted in the node's upload bytes (/metrics)."""
    metrics = request.app[METRICS]
    async for chunk in request.content.iter_chunked(CHUNK):
        metrics.count(Count.UPLOAD_BYTES, kind, len(chunk))
        yield chunk


def caller(request: web.Request) -> Account:
    """The account the route's ``auth`` let in (401/403 were answered before the view)."""
    return request[CALLER]


async def candidate(request: web.Request, step: Step) -> Account:
    """The calling candidate, who has done every step before ``step`` (403 step_required
    otherwise). Only on routes declared ``auth="candidate"``."""
    who = request[CALLER]
    await request.app[JOURNEY].require(who, step)
    return who


def client(request: web.Request) -> str:
    return request.app[AUTH].client(request)


def lang(request: web.Request) -> str | None:
    value = request.query.get("lang")
    return value if value in ("zh", "en") else None


async def read_body(request: web.Request, limit: int, types: tuple[str, ...], what: str) -> bytes:
    """The raw body, refused past ``limit`` bytes without reading the rest."""
    if request.content_type not in types:
        raise UnsupportedMediaType(f"send the {what} with Content-Type {' or '.join(types)}")
    too_large = TooLarge(f"the {what} must be at most {limit // 1024} KiB", {"limit": limit})
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


def step_response(record: Any) -> dict[str, Any]:
    return {"step": record.step.value, "done_at": record.done_at}


def photo_attachment(data: bytes, media_type: str, stem: str, stored_name: str) -> web.Response:
    """A person's photo (an ID card held up) as a download, never rendered or cached."""
    suffix = stored_name.rsplit(".", 1)[-1]
    return web.Response(
        body=data,
        content_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}.{suffix}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )

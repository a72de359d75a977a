"""A candidate's own takes: state and playback of the recorded segments."""

from __future__ import annotations

from aiohttp import web

from web.keys import FILLS, SETTINGS, STORED_FILES, TAKES
from web.openapi import Api
from web.schema import loose
from web.views.common import caller

api = Api("media")

MEDIA_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "mp4": "video/mp4"}

_SECONDS = {"type": "number"}
_LOST = loose("a stretch lost", from_s=_SECONDS, to_s=_SECONDS, reason={"type": "string"})
QUALITY = {
    "type": ["object", "null"],
    "description": (
        "What the server received, computed when the take stopped (null while recording, and "
        "for takes stored before reports existed); seconds on the take's clock; "
        "docs/recording.md, Quality report"
    ),
    "properties": {
        "version": {"type": "integer"},
        "duration_s": _SECONDS,
        "lost_s": {**_SECONDS, "description": "the most any camera lost"},
        "cameras": {
            "type": "object",
            "description": "per camera (primary, secondary): video and audio",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "video": loose(
                        "the camera's picture",
                        frames={"type": "integer"},
                        fps=_SECONDS,
                        low_fps_s={**_SECONDS, "description": "seconds below 15 frames/s"},
                        resolutions={
                            "type": "array",
                            "items": loose(
                                "a resolution from a time on",
                                from_s=_SECONDS,
                                width={"type": "integer"},
                                height={"type": "integer"},
                            ),
                        },
                        bitrate_kbps=_SECONDS,
                        frozen_s=_SECONDS,
                        black_s=_SECONDS,
                        lost_s=_SECONDS,
                        lost={"type": "array", "items": _LOST},
                    ),
                    "audio": loose(
                        "the camera's sound",
                        present={"type": "boolean"},
                        frames={"type": "integer"},
                        bitrate_kbps=_SECONDS,
                        channels={"type": "integer"},
                        bandwidth_hz={"type": ["integer", "null"]},
                        lost_s=_SECONDS,
                        lost={"type": "array", "items": _LOST},
                    ),
                },
            },
        },
    },
}


@api.get(
    "/api/takes/{take_id}",
    summary="A take of yours: state, times, manifest",
    auth="owner",
    response=loose(
        "a take",
        take_id={"type": "string"},
        purpose={"type": "string"},
        state={"type": "string", "enum": ["recording", "finalizing", "stored", "failed"]},
        quality=QUALITY,
    ),
    errors=(401, 404),
)
async def get_take(request: web.Request) -> web.Response:
    take = await request.app[TAKES].get(request.match_info["take_id"], caller(request).owner)
    return web.json_response(take.summary())


GAP = loose(
    "a stretch of the take the server lacks (seconds on the take's clock)",
    start_s={"type": "number"},
    end_s={"type": "number"},
    reason={"type": "string"},
)


@api.get(
    "/api/takes/{take_id}/gaps",
    summary="What your take still lacks: the stretches the page's local copy may fill",
    description=(
        "Per camera, the holes still open after the fills (seconds on the take's clock: 0 is "
        "started_at). complete: nothing is lacking. fill_until: until when fills are taken "
        "(the exam's upload grace; null while recording). Fill a hole with a resumable upload "
        "(POST /api/uploads/, Upload-Metadata kind=fill; docs/uploads.md)."
    ),
    auth="owner",
    response=loose(
        "a take's open gaps",
        take_id={"type": "string"},
        state={"type": "string"},
        started_at={"type": "number"},
        complete={"type": "boolean"},
        fill_until={"type": ["number", "null"]},
        cameras={"type": "object", "additionalProperties": {"type": "array", "items": GAP}},
    ),
    errors=(401, 404),
)
async def take_gaps(request: web.Request) -> web.Response:
    gaps = await request.app[FILLS].gaps(request.match_info["take_id"], caller(request).owner)
    return web.json_response(gaps)


@api.get(
    "/api/takes/{take_id}/segments/{index}",
    summary="One recorded segment of your take, seekable (HTTP Range)",
    description="?camera=secondary plays the second camera's segment (the manifest's "
    "cameras.secondary.segments); both cameras' start_s are on the take's one clock.",
    auth="owner",
    # Not refused here: an unknown camera is the take's business (404 no such camera).
    query={
        "type": "object",
        "properties": {
            "camera": {
                "type": "string",
                "description": "whose segment: primary (the default) or secondary",
            }
        },
    },
    response={"type": "string", "contentMediaType": "video/webm"},
    response_type="video/webm, video/x-matroska, video/mp4",
    errors=(401, 403, 404),
)
async def play_segment(request: web.Request) -> web.StreamResponse:
    """One segment of a stored take, seekable (HTTP Range), only for its owner."""
    segment = await request.app[TAKES].segment_to_play(
        request.match_info["take_id"],
        caller(request),
        request.query.get("camera", "primary"),
        request.match_info["index"],
    )
    path = request.app[SETTINGS].recordings_dir / segment.take_id / segment.file
    suffix = path.suffix.lstrip(".")
    # From the object store when storage_url is set and the file is there, else this disk.
    return await request.app[STORED_FILES].response(
        request,
        path,
        {
            "Content-Type": MEDIA_TYPES.get(suffix, "application/octet-stream"),
            "Content-Disposition": (
                f'inline; filename="take-{segment.take_id}-{segment.label}.{suffix}"'
            ),
            "X-Content-Type-Options": "nosniff",
            # A rehearsal plays once: no copy may be left to play again from the cache.
            "Cache-Control": "no-store",
        },
        missing="this recording's file is missing on the server",
    )

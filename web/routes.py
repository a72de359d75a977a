"""HTTP views: a few lines each; errors become responses in web.errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from exams.errors import NotFound
from web.keys import SETTINGS, TAKES
from web.views.common import account

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "mp4": "video/mp4"}

routes = web.RouteTableDef()


# The pages: static HTML; each loads its own ES modules and talks to the JSON API.
PAGES = {
    "/login": "login.html",
    "/journey": "journey.html",  # the admission steps, one at a time
    "/device-check": "device-check.html",
    "/exams": "exams.html",  # exam list (and per-exam verification)
    "/exams/{exam_id}": "exam.html",  # question list
    "/exams/{exam_id}/questions/{question_id}": "question.html",
    "/console": "console.html",  # university console: exams, lists, progress, submissions
    "/console/reviews": "reviews.html",  # staff: manual verification review queue
    "/console/proctor": "proctor.html",  # a proctor's home: the exams assigned to them
    "/pair": "pair.html",  # the phone as second camera (二机位): opened from the QR code
    "/account": "account.html",  # password change, staff two-step log-in (账号与安全)
}


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/journey")


async def page(request: web.Request) -> web.StreamResponse:
    name = PAGES[request.match_info.route.resource.canonical]  # type: ignore[union-attr]
    path = STATIC / name
    if not path.is_file():
        raise NotFound("this page is not available yet")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def camera_segments(manifest: dict[str, Any], camera: str) -> list[dict[str, Any]]:
    """The segments of one camera of a take: ``primary`` or one under ``cameras``."""
    if camera == "primary":
        return list(manifest.get("segments", []))
    cameras = manifest.get("cameras") or {}
    if camera not in cameras:
        raise NotFound("this take has no such camera; use camera=primary or camera=secondary")
    return list(cameras[camera].get("segments", []))


async def page_form_sent(request: web.Request) -> web.StreamResponse:
    """A page's form sent by the browser itself: before the page's script was ready, or
    with scripts off. The body (a password, perhaps) is neither read nor logged; back to
    the page (303, so a reload does not send it again), which asks to send it again."""
    query = request.rel_url.query.copy()
    query["resend"] = "1"
    raise web.HTTPSeeOther(request.rel_url.with_query(query))


for _path in PAGES:
    routes.get(_path)(page)
    routes.post(_path)(page_form_sent)


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/api/takes/{take_id}")
async def get_take(request: web.Request) -> web.Response:
    owner = (await account(request)).owner
    take = await request.app[TAKES].get(request.match_info["take_id"], owner)
    return web.json_response(take.summary())


@routes.get("/api/takes/{take_id}/segments/{index}")
async def play_segment(request: web.Request) -> web.StreamResponse:
    """One segment of a stored take, seekable (HTTP Range), only for its owner;
    ``?camera=secondary`` for the second camera's segments."""
    takes = request.app[TAKES]
    who = await account(request)
    take = await takes.get(request.match_info["take_id"], who.owner)
    await takes.authorize_playback(take, who)
    segments = camera_segments(take.manifest or {}, request.query.get("camera", "primary"))
    index = request.match_info["index"]
    segment = next((s for s in segments if str(s["index"]) == index), None)
    if segment is None:
        raise NotFound("no such segment in this take")
    name = segment.get("playback_file") or segment["file"]
    camera = request.query.get("camera", "primary")
    suffix_name = index if camera == "primary" else f"{camera}-{index}"
    path = request.app[SETTINGS].recordings_dir / take.id / name
    if not path.is_file():
        raise NotFound("this recording's file is missing on the server")
    suffix = path.suffix.lstrip(".")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": MEDIA_TYPES.get(suffix, "application/octet-stream"),
            "Content-Disposition": f'inline; filename="take-{take.id}-{suffix_name}.{suffix}"',
            "X-Content-Type-Options": "nosniff",
            # A rehearsal plays once: no copy may be left to play again from the cache.
            "Cache-Control": "no-store",
        },
    )

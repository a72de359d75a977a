"""The pages and the health check; the JSON API is in web/views (errors: web.errors)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from exams.shared.errors import NotFound

STATIC = Path(__file__).parent / "static"

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
    "/console/proctor/exams/{exam_id}": "wall.html",  # an exam's wall (proctors, unit admin)
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


@routes.get("/proctor")
async def proctor_short(request: web.Request) -> web.StreamResponse:
    """The short address proctors are given: their home in the console."""
    raise web.HTTPFound("/console/proctor")


@routes.get("/proctor/exams/{exam_id}")
async def wall_short(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.rel_url.with_path(f"/console{request.path}", encoded=False))


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})

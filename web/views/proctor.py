"""Proctors: the exams assigned to them, and each exam's wall (its unit's admin sees it too)."""

from __future__ import annotations

from aiohttp import web

from exams.answering.presenters import exam_header
from exams.proctoring.wall import CAMERAS
from exams.shared.errors import NotFound
from web.keys import ATTEMPT_RUNNER, EXAM_CATALOG, PICTURES, SIGNALING, SUBMISSION_REVIEW, WALL
from web.openapi import Api
from web.schema import loose
from web.views.common import TIME, caller, client

api = Api("proctor")


@api.get(
    "/api/proctor/exams",
    summary="The exams assigned to you",
    auth="proctor",
    response=loose("exams", now=TIME, exams={"type": "array", "items": {"type": "object"}}),
    errors=(401, 403),
)
async def my_exams(request: web.Request) -> web.Response:
    proctor = caller(request)
    exams = await request.app[EXAM_CATALOG].proctor_exams(proctor)
    now = request.app[ATTEMPT_RUNNER].clock()
    return web.json_response({"now": now, "exams": [exam_header(e, now) for e in exams]})


@api.get(
    "/api/proctor/exams/{exam_id}",
    summary="An exam assigned to you: its questions and each candidate's progress",
    description="403 for an exam not assigned to you.",
    auth="proctor",
    response=loose(
        "the exam",
        now=TIME,
        exam={"type": "object"},
        questions={"type": "array", "items": {"type": "object"}},
        candidates={"type": "array", "items": {"type": "object"}},
    ),
    errors=(401, 403, 404),
)
async def exam(request: web.Request) -> web.Response:
    proctor = caller(request)
    found = await request.app[SUBMISSION_REVIEW].proctor_view(
        proctor, request.match_info["exam_id"], client(request)
    )
    return web.json_response(found)


WATCHERS = "proctor|unit_admin"


@api.get(
    "/api/proctor/exams/{exam_id}/wall",
    summary="An exam's wall: one tile per candidate (where they are, deadline, cameras)",
    description=(
        "For a proctor assigned to the exam or the admin of its unit (403, audited, for anyone "
        "else). The same body as the watch_wall acknowledgement (docs/signaling.md, "
        '"The proctor wall"); time left is deadline - now.'
    ),
    auth=WATCHERS,
    response=loose(
        "the wall",
        exam_id={"type": "string"},
        now=TIME,
        exam={"type": "object"},
        tiles={"type": "array", "items": {"type": "object"}},
    ),
    errors=(401, 403, 404),
)
async def wall(request: web.Request) -> web.Response:
    wall = request.app[WALL]
    exam, tiles = await wall.view(caller(request), request.match_info["exam_id"], client(request))
    return web.json_response(wall.render(exam, tiles))


@api.get(
    "/api/proctor/exams/{exam_id}/candidates/{candidate_id}/cameras/{camera}/picture",
    summary="The latest wall picture of a candidate's camera (JPEG, at most 320x240)",
    description=(
        "camera: primary or secondary. Pictures are made while a wall of the exam is watched "
        "(watch_wall); 404 until the first one. 403, audited, for a viewer who may not see "
        "this candidate of this exam. Never cached (Cache-Control: no-store)."
    ),
    auth=WATCHERS,
    response_type="image/jpeg",
    errors=(401, 403, 404),
)
async def picture(request: web.Request) -> web.Response:
    exam_id, candidate_id = request.match_info["exam_id"], request.match_info["candidate_id"]
    camera = request.match_info["camera"]
    await request.app[WALL].check_candidate(caller(request), exam_id, candidate_id, client(request))
    if camera not in CAMERAS:
        raise NotFound(f"no such camera; use {' or '.join(CAMERAS)}")
    request.app[SIGNALING].routes.check(request.query.get("c"), candidate_id, "a wall picture")
    found = await request.app[PICTURES].find(candidate_id, camera)  # (another node's too)
    if found is None:
        raise NotFound("no picture of this camera yet; they are made while the wall is open")
    return web.Response(
        body=found.jpeg,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Picture-Seq": str(found.seq)},
    )

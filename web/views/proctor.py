"""Proctors: the exams assigned to them (live feeds come with the proctoring issue)."""

from __future__ import annotations

from aiohttp import web

from exams.answering.presenters import exam_header
from web.keys import ANSWER_REVIEW, ATTEMPT_RUNNER, EXAM_CATALOG
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
    found = await request.app[ANSWER_REVIEW].proctor_view(
        proctor, request.match_info["exam_id"], client(request)
    )
    return web.json_response(found)

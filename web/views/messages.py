"""Proctors' messages: what a candidate's page loads after a reload, and what the proctor's
spotlight shows of them (with their read receipts). Sending and reading are socket events
(docs/signaling.md, "Proctor actions")."""

from __future__ import annotations

from aiohttp import web

from web.keys import PROCTOR_ACTIONS
from web.openapi import Api
from web.schema import loose
from web.views.common import TIME, caller, client

api = Api("messages")

MESSAGES = {"type": "array", "items": {"type": "object"}}


@api.get(
    "/api/exams/{exam_id}/messages",
    summary="The proctors' messages to you in this exam, and your raised hand",
    description=(
        "Each message: id, kind (message), text, sent_at, read_at (null: not read yet; the "
        "page shows it and sends message_read), attempt_id and question_id of the answer open "
        "when it was sent. hand_raised_at: your open hand (null: none)."
    ),
    auth="candidate",
    response=loose("messages", exam_id={"type": "string"}, now=TIME, messages=MESSAGES),
    errors=(401, 403),
)
async def mine(request: web.Request) -> web.Response:
    found = await request.app[PROCTOR_ACTIONS].notes_for_candidate(
        caller(request), request.match_info["exam_id"]
    )
    return web.json_response(found)


@api.get(
    "/api/proctor/exams/{exam_id}/candidates/{candidate_id}/messages",
    summary="What passed between the proctors and a candidate: messages (read or not), hands",
    description=(
        "For a proctor assigned to the exam or the admin of its unit (403, audited, for anyone "
        "else). kind: message (read_at: the candidate's read receipt) or hand (read_at: when a "
        "proctor answered it)."
    ),
    auth="proctor|unit_admin",
    response=loose("messages", now=TIME, messages=MESSAGES),
    errors=(401, 403, 404),
)
async def of_candidate(request: web.Request) -> web.Response:
    actions = request.app[PROCTOR_ACTIONS]
    notes = await actions.notes_for_proctor(
        caller(request),
        request.match_info["exam_id"],
        request.match_info["candidate_id"],
        client(request),
    )
    return web.json_response(
        {"now": request.app[PROCTOR_ACTIONS].now(), "messages": [n.to_json() for n in notes]}
    )

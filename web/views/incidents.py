"""Incidents: an answer's or a candidate's timeline, a person's decision, and the exports.

For a proctor assigned to the exam and the admin of its unit (403, audited, for
anyone else; a candidate never reads a note). The domain is
:mod:`exams.proctoring.incidents`; these views parse and serialise.
"""

from __future__ import annotations

from aiohttp import web

from exams.proctoring.incident_export import to_csv, to_json
from exams.proctoring.incidents import DECISIONS, MAX_NOTE, STATUSES, Incident
from exams.proctoring.monitoring import AlertKind
from web.keys import INCIDENT_TAKES, INCIDENTS
from web.openapi import BODY, QUERY, Api
from web.schema import loose, obj, string
from web.views.common import TIME, TIME_OR_NULL, caller, client
from web.views.exam_admin import attachment

api = Api("incidents")

WATCHERS = "proctor|unit_admin"
ERRORS = (401, 403, 404)
NULLABLE_TEXT = {"type": ["string", "null"]}
INCIDENT = loose(
    "an incident (times: the server clock; take_offset_s: seconds on the take's clock, "
    "the clock of both cameras' segments' start_s)",
    id={"type": "string"},
    exam_id={"type": "string"},
    candidate_id={"type": "string"},
    kind={"type": "string", "enum": [k.value for k in AlertKind]},
    camera=NULLABLE_TEXT,
    raised_at=TIME,
    started_at=TIME,
    ended_at=TIME_OR_NULL,
    attempt_id=NULLABLE_TEXT,
    question_id=NULLABLE_TEXT,
    take_id=NULLABLE_TEXT,
    take_offset_s={"type": ["number", "null"]},
    detail={"type": "object"},
    status={"type": "string", "enum": list(STATUSES)},
    disposed_by=NULLABLE_TEXT,
    disposed_at=TIME_OR_NULL,
    note={"type": "string"},
    candidate_name=NULLABLE_TEXT,
    disposed_by_name=NULLABLE_TEXT,
    disposed_by_role=NULLABLE_TEXT,
)
TIMELINE = loose(
    "a timeline, oldest onset first, and the takes it points at (take_id -> take: each "
    "camera's segments with start_s and duration_s on the take's clock, and play_url)",
    now=TIME,
    incidents={"type": "array", "items": INCIDENT},
    takes={"type": "object"},
)
FORMAT = obj({}, {"format": {"type": "string", "enum": ["json", "csv"]}})
EXPORT_TYPES = "application/json, text/csv"


# The ids of a route's path that choose whose incidents (see ``Incidents.timeline``).
SCOPE = ("attempt_id", "exam_id", "candidate_id")


async def _scoped(request: web.Request) -> tuple[list[Incident], dict[str, str]]:
    """The incidents the route's path chooses (the caller's right checked), and those ids."""
    about = {key: request.match_info[key] for key in SCOPE if key in request.match_info}
    found = await request.app[INCIDENTS].timeline(caller(request), **about, client=client(request))
    return found, about


async def _timeline(request: web.Request) -> web.Response:
    incidents, about = await _scoped(request)
    found = request.app[INCIDENTS]
    body = {
        **about,
        "now": found.clock(),
        "incidents": await found.described(incidents),
        "takes": await request.app[INCIDENT_TAKES].takes_of(incidents),
    }
    return web.json_response(body)


async def _export(request: web.Request, stem: str) -> web.Response:
    incidents, about = await _scoped(request)
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
    rows = await request.app[INCIDENTS].described(incidents)
    if request[QUERY].get("format", "json") == "csv":
        body, media, suffix = to_csv(rows), "text/csv", "csv"
    else:
        body, media, suffix = to_json(rows, **about), "application/json", "json"
    return web.Response(
        body=body,
        content_type=media,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stem}.{suffix}"'},
    )


@api.get(
    "/api/proctor/attempts/{attempt_id}/incidents",
    summary="An answer's incident timeline (one candidate, one question)",
    auth=WATCHERS,
    response=TIMELINE,
    errors=ERRORS,
)
async def attempt_timeline(request: web.Request) -> web.Response:
    return await _timeline(request)


@api.get(
    "/api/proctor/exams/{exam_id}/candidates/{candidate_id}/incidents",
    summary="A candidate's incidents in an exam, between questions too (the spotlight's list)",
    auth=WATCHERS,
    response=TIMELINE,
    errors=ERRORS,
)
async def candidate_timeline(request: web.Request) -> web.Response:
    return await _timeline(request)


@api.get(
    "/api/proctor/exams/{exam_id}/incidents",
    summary="Every incident of an exam, by onset",
    auth=WATCHERS,
    response=TIMELINE,
    errors=ERRORS,
)
async def exam_timeline(request: web.Request) -> web.Response:
    return await _timeline(request)


@api.post(
    "/api/proctor/incidents/{incident_id}",
    summary="Dispose of an incident: confirmed or dismissed, with a note (audited)",
    description="For a proctor assigned to the incident's exam or the admin of its unit. "
    "Deciding again replaces the decision; every decision is in the audit log. The wall's "
    "tile follows at once (wall_tiles).",
    auth=WATCHERS,
    body=obj(
        {"decision": {"type": "string", "enum": list(DECISIONS)}},
        {"note": string(min_length=0, max_length=MAX_NOTE)},
    ),
    response=loose("the incident as decided", incident=INCIDENT),
    errors=(400, *ERRORS),
)
async def dispose(request: web.Request) -> web.Response:
    body = request[BODY]
    done = await request.app[INCIDENTS].dispose(
        caller(request),
        request.match_info["incident_id"],
        body["decision"],
        body.get("note", ""),
        client(request),
    )
    [shown] = await request.app[INCIDENTS].described([done])
    return web.json_response({"incident": shown})


@api.get(
    "/api/proctor/attempts/{attempt_id}/incidents/export",
    summary="Download an answer's timeline: format=json (default) or csv (UTF-8 with BOM)",
    description="CSV cells a spreadsheet would run as a formula start with ' (they show as "
    "text); times are local dates with their offset.",
    auth=WATCHERS,
    query=FORMAT,
    response={"type": "string"},
    response_type=EXPORT_TYPES,
    errors=(400, *ERRORS),
)
async def export_attempt(request: web.Request) -> web.Response:
    return await _export(request, f"incidents-{request.match_info['attempt_id']}")


@api.get(
    "/api/proctor/exams/{exam_id}/incidents/export",
    summary="Download an exam's timeline: format=json (default) or csv (UTF-8 with BOM)",
    auth=WATCHERS,
    query=FORMAT,
    response={"type": "string"},
    response_type=EXPORT_TYPES,
    errors=(400, *ERRORS),
)
async def export_exam(request: web.Request) -> web.Response:
    return await _export(request, f"incidents-exam-{request.match_info['exam_id']}")


@api.get(
    "/api/proctor/attempts/{attempt_id}/takes/{take_id}/segments/{index}",
    summary="Play a segment of any take of an answer (a timeline's recording), inline",
    description="camera=primary (default) or secondary. The play_url of a timeline's takes; "
    "seekable (Range); the browser-playable copy of an H.264 segment where there is one. "
    "For the exam's proctors and its unit's admin, submitted or not.",
    auth=WATCHERS,
    query=obj({}, {"camera": {"type": "string", "enum": ["primary", "secondary"]}}),
    response={"type": "string", "contentMediaType": "video/webm"},
    response_type="video/webm, video/x-matroska, video/mp4",
    errors=(400, *ERRORS),
)
async def play_segment(request: web.Request) -> web.StreamResponse:
    m = request.match_info
    found = await request.app[INCIDENT_TAKES].segment(
        caller(request),
        m["attempt_id"],
        m["take_id"],
        m["index"],
        request[QUERY].get("camera", "primary"),
        client(request),
    )
    return await attachment(found, inline=True)

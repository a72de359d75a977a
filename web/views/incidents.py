"""Incidents: an answer's or a candidate's timeline, a person's decision, and the exports.

For a proctor assigned to the exam and the admin of its unit (403, audited, for
anyone else; a candidate never reads a note). The domain is
:mod:`exams.proctoring.incidents`; these views parse and serialise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exams.proctoring.incident import DECISIONS, MAX_NOTE, STATUSES, Incident
from exams.proctoring.incident_export import to_csv, to_json
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


@dataclass(frozen=True)
class _Timeline:
    about: dict[str, str]  # the path's ids
    incidents: list[Incident]
    rows: list[dict[str, Any]]  # as staff read them (``Incidents.described``)


async def _timeline_of(request: web.Request) -> _Timeline:
    """The timeline the route's path chooses (the caller's right checked), built once for
    the view and the downloads."""
    about = {key: request.match_info[key] for key in SCOPE if key in request.match_info}
    found = request.app[INCIDENTS]
    incidents = await found.timeline(caller(request), **about, client=client(request))
    return _Timeline(about, incidents, await found.described(incidents))


def _timeline_routes(path: str, summary: str, whose: str = "", file: str = "") -> None:
    """GET ``path``: the timeline; and, given ``file`` (the download's name, ``{…}`` filled
    from the path), GET ``path/export``: ``whose`` timeline as a file."""

    @api.get(path, summary=summary, auth=WATCHERS, response=TIMELINE, errors=ERRORS)
    async def timeline(request: web.Request) -> web.Response:
        found = await _timeline_of(request)
        body = {
            **found.about,
            "now": request.app[INCIDENTS].clock(),
            "incidents": found.rows,
            "takes": await request.app[INCIDENT_TAKES].takes_of(found.incidents),
        }
        return web.json_response(body)

    if not file:
        return

    @api.get(
        path + "/export",
        summary=f"Download {whose} timeline: format=json (default) or csv (UTF-8 with BOM)",
        description="CSV cells a spreadsheet would run as a formula start with ' (they show "
        "as text); times are local dates with their offset.",
        auth=WATCHERS,
        query=FORMAT,
        response={"type": "string"},
        response_type=EXPORT_TYPES,
        errors=(400, *ERRORS),
    )
    async def export(request: web.Request) -> web.Response:
        found = await _timeline_of(request)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in file.format(**found.about))
        if request[QUERY].get("format", "json") == "csv":
            body, media, suffix = to_csv(found.rows), "text/csv", "csv"
        else:
            body, media, suffix = to_json(found.rows, **found.about), "application/json", "json"
        return web.Response(
            body=body,
            content_type=media,
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.{suffix}"'},
        )


_timeline_routes(
    "/api/proctor/attempts/{attempt_id}/incidents",
    "An answer's incident timeline (one candidate, one question)",
    "an answer's",
    "incidents-{attempt_id}",
)
_timeline_routes(
    "/api/proctor/exams/{exam_id}/candidates/{candidate_id}/incidents",
    "A candidate's incidents in an exam, between questions too (the spotlight's list)",
)
_timeline_routes(
    "/api/proctor/exams/{exam_id}/incidents",
    "Every incident of an exam, by onset",
    "an exam's",
    "incidents-exam-{exam_id}",
)


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
    return await attachment(request, found, inline=True)

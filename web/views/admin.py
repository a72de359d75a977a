"""Unit admins: the admitted list (准考名单) of their own unit."""

from __future__ import annotations

from aiohttp import web

from web.keys import LIST_CHANGES, SETTINGS, UNITS
from web.openapi import QUERY, Api
from web.schema import loose
from web.views.common import caller, client, read_body

api = Api("unit admin")

CSV_TYPES = ("text/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream")
PAGE = {
    "type": "object",
    "properties": {
        "offset": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": 5000},
    },
    "additionalProperties": False,
}


CHANGES = loose(
    "what the import changes: people added, kept and removed (a removed candidate loses the "
    "unit's exams at once); the removed ones who already started come first",
    entries={"type": "integer"},
    added={"type": "integer"},
    kept={"type": "integer"},
    removed={"type": "integer"},
    removed_registered={"type": "integer", "description": "removed people with an account"},
    removed_started={"type": "integer", "description": "removed people who began an exam"},
    removed_submitted={"type": "integer", "description": "removed people who submitted"},
    removed_people={
        "type": "array",
        "items": {"type": "object"},
        "description": "line, name, id_type, id_number, registered, started, submitted "
        "(the first 200)",
    },
)


@api.post(
    "/api/admin/units/{unit_id}/admitted-list",
    summary="Import (replace) your unit's admitted list from CSV: all rows valid, or nothing",
    description="UTF-8 (BOM optional); header row naming name, id_type, id_number (or 姓名, "
    "证件类型, 证件号码). A bad file gets 400 invalid_admitted_list with details.errors: "
    "[{line, code, reason}] for every bad row. The answer says what the import changed "
    "(changes); preview a file first with .../admitted-list/preview.",
    auth="unit_admin",
    body={"type": "string", "contentMediaType": "text/csv"},
    body_type="text/csv",
    status=201,
    response=loose(
        "the imported list and what changed",
        unit_id={"type": "string"},
        imported_at={"type": "number"},
        imported_by={"type": "string"},
        entries={"type": "integer"},
        changes=CHANGES,
    ),
    errors=(400, 401, 403, 404, 413, 415),
)
async def import_list(request: web.Request) -> web.Response:
    admin = caller(request)
    data = await read_body(
        request, request.app[SETTINGS].admitted_list_max_bytes, CSV_TYPES, "list"
    )
    imported = await request.app[LIST_CHANGES].import_list(
        admin, request.match_info["unit_id"], data, client(request)
    )
    return web.json_response(imported, status=201)


@api.post(
    "/api/admin/units/{unit_id}/admitted-list/preview",
    summary="What importing this CSV would change, before you import it (nothing is changed)",
    description="The same file and checks as the import; a bad file gets the same 400.",
    auth="unit_admin",
    body={"type": "string", "contentMediaType": "text/csv"},
    body_type="text/csv",
    response=CHANGES,
    errors=(400, 401, 403, 404, 413, 415),
)
async def preview_list(request: web.Request) -> web.Response:
    admin = caller(request)
    data = await read_body(
        request, request.app[SETTINGS].admitted_list_max_bytes, CSV_TYPES, "list"
    )
    preview = await request.app[LIST_CHANGES].preview(
        admin, request.match_info["unit_id"], data, client(request)
    )
    return web.json_response(preview)


@api.get(
    "/api/admin/units/{unit_id}/admitted-list",
    summary="Your unit's admitted list, a page of entries at a time",
    auth="unit_admin",
    query=PAGE,
    response=loose(
        "the list",
        unit={"type": "object"},
        list={"type": ["object", "null"]},
        offset={"type": "integer"},
        entries={"type": "array", "items": {"type": "object"}},
    ),
    errors=(400, 401, 403),
)
async def read_list(request: web.Request) -> web.Response:
    admin = caller(request)
    page = request[QUERY]
    listing = await request.app[UNITS].admitted_list(
        admin,
        request.match_info["unit_id"],
        client(request),
        offset=page.get("offset", 0),
        limit=page.get("limit", 500),
    )
    return web.json_response(listing)

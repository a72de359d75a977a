"""Unit admins: the admitted list (准考名单) of their own unit."""

from __future__ import annotations

from aiohttp import web

from exams.accounts import Role
from web.keys import SETTINGS, UNITS
from web.openapi import QUERY, Api
from web.schema import loose
from web.views.common import account, client, read_body

api = Api("unit admin")

CSV_TYPES = ("text/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream")
LIST_INFO = loose(
    "an imported list",
    unit_id={"type": "string"},
    imported_at={"type": "number"},
    imported_by={"type": "string"},
    entries={"type": "integer"},
)
PAGE = {
    "type": "object",
    "properties": {
        "offset": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": 5000},
    },
    "additionalProperties": False,
}


@api.post(
    "/api/admin/units/{unit_id}/admitted-list",
    summary="Import (replace) your unit's admitted list from CSV: all rows valid, or nothing",
    description="UTF-8 (BOM optional); header row naming name, id_type, id_number (or 姓名, "
    "证件类型, 证件号码). A bad file gets 400 invalid_admitted_list with details.errors: "
    "[{line, code, reason}] for every bad row.",
    auth="unit_admin",
    body={"type": "string", "contentMediaType": "text/csv"},
    body_type="text/csv",
    status=201,
    response=LIST_INFO,
    errors=(400, 401, 403, 404, 413, 415),
)
async def import_list(request: web.Request) -> web.Response:
    admin = await account(request, Role.UNIT_ADMIN)
    data = await read_body(
        request, request.app[SETTINGS].admitted_list_max_bytes, CSV_TYPES, "list"
    )
    info = await request.app[UNITS].import_list(
        admin, request.match_info["unit_id"], data, client(request)
    )
    return web.json_response(info.describe(), status=201)


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
    admin = await account(request, Role.UNIT_ADMIN)
    page = request[QUERY]
    listing = await request.app[UNITS].admitted_list(
        admin,
        request.match_info["unit_id"],
        client(request),
        offset=page.get("offset", 0),
        limit=page.get("limit", 500),
    )
    return web.json_response(listing)

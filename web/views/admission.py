"""Admission units and the candidate's admission steps (M2.1–M2.3, M2.5)."""

from __future__ import annotations

from aiohttp import web

from web.keys import ADMISSION
from web.openapi import BODY, Api
from web.schema import loose, obj, string
from web.views.common import TIME, TIME_OR_NULL, caller, client, step_response

api = Api("admission")

STEP = loose("the recorded step", step={"type": "string"}, done_at=TIME)
UNIT = loose("an admission unit", unit_id={"type": "string"}, name={"type": "string"})


@api.get(
    "/api/units",
    summary="The admission units (报考单位), each marked whether its admitted list holds you",
    auth="candidate",
    response=loose(
        "units",
        chosen_unit_id={"type": ["string", "null"]},
        removed_from_unit={
            "type": ["string", "null"],
            "description": "the unit you chose, whose re-imported admitted list left you out",
        },
        units={"type": "array", "items": UNIT},
    ),
    errors=(401, 403),
)
async def units(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ADMISSION].units_for(who))


@api.post(
    "/api/units/{unit_id}/choose",
    summary="Choose the admission unit; refused (not_on_admitted_list) unless its list holds "
    "your name, ID type and ID number",
    auth="candidate",
    response=STEP,
    errors=(401, 403, 404),
)
async def choose(request: web.Request) -> web.Response:
    who = caller(request)
    record = await request.app[ADMISSION].choose(
        who, request.match_info["unit_id"], client(request)
    )
    return web.json_response({**step_response(record), "unit_id": record.detail})


@api.get(
    "/api/admission",
    summary="The personal details to confirm (资格确认) for the chosen unit",
    auth="candidate",
    response=loose("details", unit=UNIT, details={"type": "object"}, confirmed_at=TIME_OR_NULL),
    errors=(401, 403),
)
async def details(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[ADMISSION].details(who))


@api.post(
    "/api/admission/confirm",
    summary="Confirm the personal details are correct (确认无误)",
    auth="candidate",
    response=STEP,
    errors=(401, 403),
)
async def confirm(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(
        step_response(await request.app[ADMISSION].confirm(who, client(request)))
    )


@api.post(
    "/api/admission/device-check",
    summary="Finish the device check (调试完毕) with a stored device-check take of yours",
    auth="candidate",
    body=obj({"take_id": string("a take recorded with purpose device_check", max_length=64)}),
    response=STEP,
    errors=(400, 401, 403, 404, 409),
)
async def device_check(request: web.Request) -> web.Response:
    who = caller(request)
    record = await request.app[ADMISSION].device_check(who, request[BODY]["take_id"])
    return web.json_response(step_response(record))

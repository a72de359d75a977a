"""The OpenAPI document, and the entries for routes declared in ``web/routes.py``."""

from __future__ import annotations

from aiohttp import web

from web.keys import OPENAPI
from web.openapi import Api
from web.schema import loose

api = Api("service")


@api.get(
    "/api/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    auth="public",
    response={"type": "object"},
)
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


# Declared in web/routes.py (media core); documented here until they move onto an Api.
media = Api("media")
media.document(
    "GET",
    "/api/health",
    summary="Liveness",
    auth="public",
    response=loose("ok", status={"type": "string", "enum": ["ok"]}),
)
media.document(
    "GET",
    "/api/takes/{take_id}",
    summary="A take of yours: state, times, manifest",
    auth="owner",
    response=loose(
        "a take",
        take_id={"type": "string"},
        purpose={"type": "string"},
        state={"type": "string", "enum": ["recording", "finalizing", "stored", "failed"]},
    ),
    errors=(404,),
)
media.document(
    "GET",
    "/api/takes/{take_id}/segments/{index}",
    summary="One recorded segment of your take, seekable (HTTP Range)",
    description="?camera=secondary plays the second camera's segment (the manifest's "
    "cameras.secondary.segments); both cameras' start_s are on the take's one clock.",
    auth="owner",
    query={
        "type": "object",
        "properties": {
            "camera": {
                "type": "string",
                "enum": ["primary", "secondary"],
                "description": "whose segment (default primary)",
            }
        },
        "additionalProperties": False,
    },
    response={"type": "string", "contentMediaType": "video/webm"},
    response_type="video/webm, video/x-matroska, video/mp4",
    errors=(404,),
)

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


# Declared in web/routes.py; documented here.
media = Api("media")
media.document(
    "GET",
    "/api/health",
    summary="Liveness",
    auth="public",
    response=loose("ok", status={"type": "string", "enum": ["ok"]}),
)

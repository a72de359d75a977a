"""Files and materials of an answer: offline answer files (M3.6) and the extra materials of
an online answer (M3.2).

An upload's body is the file itself; ``?name=`` gives its file name, used only
for its extension (the format the question's rules check). The body is
streamed to disk with the question's size limit (413 past it, the rest unread),
its first bytes must match the format (415 otherwise), and it is stored under
a name the server makes. The resumable-upload issue (tus) replaces this.
"""

from __future__ import annotations

from aiohttp import web

from web.keys import ANSWERING, UPLOADS
from web.openapi import BODY, QUERY, Api
from web.schema import obj, string
from web.views.common import caller, counted
from web.views.exams import PAGE, Q

api = Api("exam answers")

NAME_QUERY = {
    "type": "object",
    "properties": {
        "name": string("the file's name, for its extension (e.g. 演奏.mp4)", max_length=255)
    },
    "required": ["name"],
    "additionalProperties": False,
}
UPLOAD = {"type": "string", "contentMediaType": "application/octet-stream"}
UPLOAD_ERRORS = (400, 401, 403, 404, 409, 413, 415)


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["exam_id"], request.match_info["question_id"]


@api.post(
    Q + "/materials/{key}/text",
    summary="Type the text of a text material (replaces what was typed before)",
    auth="candidate",
    body=obj({"text": string("the text", max_length=100_000)}),
    response=PAGE,
    errors=(400, 401, 403, 404, 409),
)
async def material_text(request: web.Request) -> web.Response:
    who = caller(request)
    key = request.match_info["key"]
    page = await request.app[ANSWERING].set_text(who, *_ids(request), key, request[BODY]["text"])
    return web.json_response(page)


@api.post(
    Q + "/materials/{key}/files",
    summary="Upload a file for a file material (video, audio or image)",
    auth="candidate",
    query=NAME_QUERY,
    body=UPLOAD,
    body_type="application/octet-stream",
    status=201,
    response=PAGE,
    errors=UPLOAD_ERRORS,
)
async def material_file(request: web.Request) -> web.Response:
    who = caller(request)
    page = await request.app[UPLOADS].upload_material(
        who,
        *_ids(request),
        request.match_info["key"],
        request[QUERY]["name"],
        counted(request, "answer_file"),
        request.content_length,
    )
    return web.json_response(page, status=201)


@api.delete(
    Q + "/materials/{key}",
    summary="Remove a material (its text, or all its files)",
    auth="candidate",
    response=PAGE,
    errors=(401, 403, 404, 409),
)
async def remove_material(request: web.Request) -> web.Response:
    who = caller(request)
    page = await request.app[UPLOADS].remove_material(
        who, *_ids(request), request.match_info["key"]
    )
    return web.json_response(page)


@api.delete(
    Q + "/materials/{key}/files/{file_id}",
    summary="Remove one file of a material",
    auth="candidate",
    response=PAGE,
    errors=(401, 403, 404, 409),
)
async def remove_material_file(request: web.Request) -> web.Response:
    who = caller(request)
    page = await request.app[UPLOADS].remove_material(
        who, *_ids(request), request.match_info["key"], request.match_info["file_id"]
    )
    return web.json_response(page)


@api.post(
    Q + "/files",
    summary="Upload a file of an offline answer (kinds, formats, count and size set per question)",
    auth="candidate",
    query=NAME_QUERY,
    body=UPLOAD,
    body_type="application/octet-stream",
    status=201,
    response=PAGE,
    errors=UPLOAD_ERRORS,
)
async def upload_file(request: web.Request) -> web.Response:
    who = caller(request)
    page = await request.app[UPLOADS].upload_file(
        who,
        *_ids(request),
        request[QUERY]["name"],
        counted(request, "answer_file"),
        request.content_length,
    )
    return web.json_response(page, status=201)


@api.delete(
    Q + "/files/{file_id}",
    summary="Remove a file of an offline answer (before it is submitted)",
    auth="candidate",
    response=PAGE,
    errors=(401, 403, 404, 409),
)
async def remove_file(request: web.Request) -> web.Response:
    who = caller(request)
    page = await request.app[UPLOADS].remove_file(
        who, *_ids(request), request.match_info["file_id"]
    )
    return web.json_response(page)

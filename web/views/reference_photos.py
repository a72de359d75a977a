"""Unit admins: the candidates' reference photos (报名照片) for the face check (issue #17)."""

from __future__ import annotations

from aiohttp import web

from web.keys import REFERENCE_UPLOADS, SETTINGS
from web.openapi import Api
from web.schema import loose
from web.views.common import caller, client, read_body

api = Api("unit admin")

ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
PHOTO_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
PROBLEM = loose(
    "what is wrong with one photo",
    code={
        "type": "string",
        "enum": [
            "not_an_image",
            "no_face",
            "several_faces",
            "face_too_small",
            "blurry",
            "too_dark",
            "too_large",
            "too_small",
            "unknown_id_number",
            "ambiguous_id_number",
            "bad_name",
        ],
    },
    zh={"type": "string"},
    en={"type": "string"},
)
RESULT = loose(
    "each photo stored or refused on its own",
    stored={"type": "integer"},
    refused={"type": "integer"},
    photos={
        "type": "array",
        "items": loose(
            "one photo",
            file={"type": "string", "description": "its file name"},
            id_number={"type": ["string", "null"], "description": "from the file name"},
            stored={"type": "boolean"},
            problems={"type": "array", "items": PROBLEM},
        ),
    },
)


@api.post(
    "/api/admin/units/{unit_id}/reference-photos",
    summary="Upload candidates' reference photos (报名照片) as a zip of files named by ID number",
    description="The body is a zip (a folder zipped as admissions offices keep it: "
    "110101199001011234.jpg, …; sub-folders are fine). Each photo must be a JPEG or PNG (by "
    "its first bytes) of at most reference_photo_max_bytes showing one face, large, sharp "
    "and lit enough, of a person on the unit's admitted list; each is stored (replacing "
    "that person's photo) or refused on its own, with what is wrong in Chinese and English. "
    "A candidate without a reference photo goes to manual review.",
    auth="unit_admin",
    body={"type": "string", "contentMediaType": "application/zip"},
    body_type="application/zip",
    status=201,
    response=RESULT,
    errors=(400, 401, 403, 404, 413, 415),
)
async def upload_zip(request: web.Request) -> web.Response:
    limit = request.app[SETTINGS].reference_photos_zip_max_bytes
    return await _upload(request, limit, ZIP_TYPES, "zip of photos", None)


@api.post(
    "/api/admin/units/{unit_id}/reference-photos/{file_name}",
    summary="Upload one reference photo, named by the ID number (110101199001011234.jpg)",
    description="The body is the JPEG or PNG itself; the same checks as a zip's photos. A "
    "folder of photos is sent one file at a time this way.",
    auth="unit_admin",
    body={"type": "string", "contentMediaType": "image/jpeg"},
    body_type="image/jpeg",
    status=201,
    response=RESULT,
    errors=(400, 401, 403, 404, 413, 415),
)
async def upload_one(request: web.Request) -> web.Response:
    limit = request.app[SETTINGS].reference_photo_max_bytes
    return await _upload(request, limit, PHOTO_TYPES, "photo", request.match_info["file_name"])


async def _upload(
    request: web.Request, limit: int, types: tuple[str, ...], what: str, file_name: str | None
) -> web.Response:
    """A zip of photos (``file_name`` None) or one photo: each stored or refused on its own."""
    admin = caller(request)
    data = await read_body(request, limit, types, what)
    result = await request.app[REFERENCE_UPLOADS].upload(
        admin, request.match_info["unit_id"], data, client(request), file_name
    )
    return web.json_response(result, status=201)


@api.get(
    "/api/admin/units/{unit_id}/reference-photos",
    summary="Which people of the admitted list have a reference photo, and who has none",
    auth="unit_admin",
    response=loose(
        "the unit's reference photos",
        photos={"type": "array", "items": {"type": "object"}},
        missing={
            "type": "array",
            "items": {"type": "object"},
            "description": "people on the list without a photo (the first 500)",
        },
        missing_count={"type": "integer"},
    ),
    errors=(401, 403, 404),
)
async def listing(request: web.Request) -> web.Response:
    admin = caller(request)
    result = await request.app[REFERENCE_UPLOADS].listing(
        admin, request.match_info["unit_id"], client(request)
    )
    return web.json_response(result)

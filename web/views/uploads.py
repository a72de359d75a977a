"""Resumable uploads of answer files (and of fills of a take's gaps, ``kind=fill``): tus 1.0
at ``/api/uploads/`` (docs/uploads.md).

Creation names the file and the question it answers in ``Upload-Metadata``
(``filename``, ``exam_id``, ``question_id``, for a material ``material``, and
the browser's ``device_id`` and ``device_name``); the upload's URL is
``/api/uploads/{upload_id}?c={candidate id}`` (``c=``: the load balancer keeps its requests
on the node with its bytes, decision 0026) and its id is the file's id in the answer. Only
the candidate who created an upload can reach it (404 for anyone else).
"""

from __future__ import annotations

from aiohttp import web

from exams.uploads.ports import Progress
from exams.uploads.resumable import NewUpload
from web import tus
from web.keys import RESUMABLE
from web.openapi import QUERY, Api
from web.schema import loose, obj, string
from web.views.common import TIME, caller

api = Api("uploads")

BASE = "/api/uploads/"
ONE = "/api/uploads/{upload_id}"
BYTES = {"type": "string", "contentMediaType": tus.OFFSET_STREAM}
RESUMABLE_HEADER = ("Tus-Resumable", "1.0.0 (required on every request but OPTIONS; 412 else)")
OFFSET = ("Upload-Offset", "bytes received so far: the size of the stored data")
EXPIRES = ("Upload-Expires", "until when the upload may continue (HTTP date)")
CHECKSUM = ("Upload-Checksum", "optional: '<sha1|sha256|md5> <base64 digest>' of this body")
PROTOCOL_ERRORS = (400, 401, 403, 404, 409, 410, 412, 413, 415, 423, 460)


def _progress(response: web.StreamResponse, progress: Progress) -> web.StreamResponse:
    response.headers["Upload-Offset"] = str(progress.offset)
    if progress.expires_at is not None:
        response.headers["Upload-Expires"] = tus.http_date(progress.expires_at)
    return response


@api.options(
    BASE,
    summary="What this tus server supports: version, extensions, size, checksums",
    auth="public",
    status=204,
    response_headers=(
        ("Tus-Version", "1.0.0"),
        ("Tus-Extension", tus.EXTENSIONS),
        ("Tus-Max-Size", "the largest upload in bytes (setting upload_max_bytes)"),
        ("Tus-Checksum-Algorithm", ",".join(tus.CHECKSUMS)),
    ),
    wrap=tus.tus,
)
async def options(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=204)
    response.headers["Tus-Version"] = tus.VERSION
    response.headers["Tus-Extension"] = tus.EXTENSIONS
    response.headers["Tus-Max-Size"] = str(request.app[RESUMABLE].max_bytes)
    response.headers["Tus-Checksum-Algorithm"] = ",".join(tus.CHECKSUMS)
    return response


@api.post(
    BASE,
    summary="Create an upload for a file of your answer (with its first bytes, optionally)",
    description=(
        "Upload-Metadata: filename, exam_id, question_id (required), material (a file "
        "material's key), filetype, device_id, device_name. The declared size, the format "
        "(from the file name) and the count are checked against the question's rules now; "
        "the file joins the answer as pending. With a body (creation-with-upload), the body "
        "is the file's first bytes. A fill of a recorded take's gap from the page's local copy "
        "(issue #14) says kind=fill, take_id, camera, started_at_ms, from_ms, to_ms, head_size "
        "and mime instead (docs/uploads.md); it is checked and placed in the take when its "
        "last byte arrives."
    ),
    auth="candidate",
    body=BYTES,
    body_type=tus.OFFSET_STREAM,
    body_required=False,
    status=201,
    request_headers=(
        RESUMABLE_HEADER,
        ("Upload-Length", "the file's size in bytes"),
        ("Upload-Metadata", "comma-separated 'key base64(value)' pairs"),
        CHECKSUM,
    ),
    response_headers=(
        ("Location", "/api/uploads/{upload_id}?c={candidate id}: c= routes to the bytes' node"),
        OFFSET,
        EXPIRES,
    ),
    errors=PROTOCOL_ERRORS,
    wrap=tus.tus,
)
async def create(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    raw = request.headers.get("Upload-Metadata", "")
    new = NewUpload(tus.number(request, "Upload-Length"), tus.metadata(raw), raw)
    has_body = bool(request.content_length) or request.body_exists
    if has_body:
        tus.require_offset_stream(request)
    progress = await request.app[RESUMABLE].create(
        who,
        new,
        tus.RequestBody(request) if has_body else None,
        request.content_length,
        tus.checksum(request.headers.get("Upload-Checksum")),
    )
    response = web.Response(status=201)
    response.headers["Location"] = progress.upload.url
    return _progress(response, progress)


@api.head(
    ONE,
    summary="How many bytes of the upload have arrived (resume from there)",
    auth="candidate",
    request_headers=(RESUMABLE_HEADER,),
    response_headers=(
        OFFSET,
        ("Upload-Length", "the file's size"),
        ("Upload-Metadata", "as sent at creation"),
        EXPIRES,
    ),
    errors=(401, 403, 404, 410, 412),
    wrap=tus.tus,
)
async def head(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    progress = await request.app[RESUMABLE].head(who, request.match_info["upload_id"])
    response = web.Response(status=200)
    response.headers["Upload-Length"] = str(progress.upload.length)
    if progress.upload.metadata:
        response.headers["Upload-Metadata"] = progress.upload.metadata
    return _progress(response, progress)


@api.patch(
    ONE,
    summary="Send the next bytes, at the offset the upload has reached",
    description=(
        "Upload-Offset must equal the stored size (409 offset_mismatch otherwise, "
        "details.offset). The body is kept as it arrives; a body cut off keeps what arrived. "
        "A newer request for the same upload takes over (the older one ends, 409 "
        "upload_interrupted). The 204 comes after the bytes are on disk (fsync). When the "
        "last byte arrives the whole file is checked; a file that fails is refused (415) and "
        "nothing of it is kept."
    ),
    auth="candidate",
    body=BYTES,
    body_type=tus.OFFSET_STREAM,
    status=204,
    request_headers=(RESUMABLE_HEADER, ("Upload-Offset", "where this body starts"), CHECKSUM),
    response_headers=(OFFSET, EXPIRES),
    errors=PROTOCOL_ERRORS,
    wrap=tus.tus,
)
async def patch(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    tus.require_offset_stream(request)
    progress = await request.app[RESUMABLE].patch(
        who,
        request.match_info["upload_id"],
        tus.number(request, "Upload-Offset"),
        tus.RequestBody(request),
        request.content_length,
        tus.checksum(request.headers.get("Upload-Checksum")),
    )
    return _progress(web.Response(status=204), progress)


@api.delete(
    ONE,
    summary="Remove the upload and its file from your answer (not once submitted)",
    auth="candidate",
    status=204,
    request_headers=(RESUMABLE_HEADER,),
    errors=(401, 403, 404, 409, 410, 412, 423),
    wrap=tus.tus,
)
async def terminate(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    await request.app[RESUMABLE].terminate(who, request.match_info["upload_id"])
    return web.Response(status=204)


@api.post(
    ONE + "/restart",
    summary="Send a pending file again from its first byte (the file was lost, a copy found)",
    description=(
        "For a file still arriving (文件异常: the browser lost the file it began with and the "
        "candidate has a copy), also once the answer is submitted, until the upload expires. "
        "What had arrived is deleted; the declared name, format and size stay, so the copy "
        "must be the same size. Then PATCH from Upload-Offset 0."
    ),
    auth="candidate",
    status=204,
    request_headers=(RESUMABLE_HEADER,),
    response_headers=(OFFSET, EXPIRES),
    errors=(401, 403, 404, 409, 410, 412, 423),
    wrap=tus.tus,
)
async def restart(request: web.Request) -> web.StreamResponse:
    who = caller(request)
    progress = await request.app[RESUMABLE].restart(who, request.match_info["upload_id"])
    return _progress(web.Response(status=204), progress)


UNFINISHED = loose(
    "your unfinished uploads for an exam (M4.2)",
    now=TIME,
    exam_id={"type": "string"},
    upload_deadline={**TIME, "description": "uploads may complete until then (exam end + 2 h)"},
    this_device={
        "type": "array",
        "items": loose(
            "an upload of this device",
            upload_id={"type": "string"},
            url={"type": "string"},
            question_id={"type": "string"},
            material={"type": ["string", "null"]},
            name={"type": "string"},
            length={"type": "integer"},
            offset={"type": "integer"},
            state={"type": "string", "enum": ["uploading", "interrupted"]},
            submitted={"type": "boolean"},
            expires_at=TIME,
        ),
    },
    other_devices={
        "type": "array",
        "items": loose(
            "another device with unfinished uploads",
            device_name={"type": "string"},
            files={"type": "array", "items": {"type": "object"}},
        ),
    },
)


@api.get(
    "/api/exams/{exam_id}/uploads",
    summary="Your unfinished uploads for the exam: this device's with progress, other devices'",
    auth="candidate",
    query=obj(
        {"device_id": string("this browser's device id (as in Upload-Metadata)", max_length=64)}
    ),
    response=UNFINISHED,
    errors=(400, 401, 403, 404),
)
async def unfinished(request: web.Request) -> web.Response:
    who = caller(request)
    listing = await request.app[RESUMABLE].unfinished(
        who, request.match_info["exam_id"], request[QUERY]["device_id"]
    )
    return web.json_response(listing)

"""Unit admins: their unit's exams and questions (M3.2 settings), proctors, progress,
submissions and the submitted files."""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web

from exams.answering.submission_review import Download
from exams.catalog.questions import FileKind, MaterialKind
from web.keys import CLOCK, EXAM_CATALOG, STORED_FILES, SUBMISSION_REVIEW, ZIP_EXPORTS
from web.openapi import BODY, QUERY, Api
from web.schema import Schema, loose, obj, string
from web.views.common import TIME, caller, client

log = logging.getLogger(__name__)
api = Api("exam admin")

ID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$", "description": "letters, digits, _ -"}
INT = {"type": "integer"}
INT_OR_NULL = {"type": ["integer", "null"]}
FORMATS = {"type": "array", "items": {"type": "string"}, "maxItems": 50}
MATERIAL = obj(
    {"kind": {"type": "string", "enum": [k.value for k in MaterialKind]}},
    {
        "key": string("defaults to the kind", max_length=64),
        "label": string(min_length=0, max_length=200),
        "required": {"type": "boolean"},
        "max_count": INT,
        "max_bytes": INT,
        "max_chars": INT,
        "formats": FORMATS,
    },
)
FILES = obj(
    {
        "kinds": {
            "type": "array",
            "items": {"type": "string", "enum": [k.value for k in FileKind]},
            "maxItems": 10,
        },
        "formats": FORMATS,
        "max_count": INT,
        "max_bytes": INT,
    },
    {"min_count": INT, "min_bytes": INT},
)
QUESTION: Schema = obj(
    {
        "id": ID,
        "title": string(max_length=200),
        "order": INT,
        "mode": {"type": "string", "enum": ["online", "offline"]},
    },
    {
        "prompt": string(min_length=0, max_length=10_000),
        "reading_limit_s": {**INT_OR_NULL, "description": "阅题时限; null: start by hand"},
        "recording_limit_s": {**INT, "description": "录制时限"},
        "submission_limit_s": {**INT_OR_NULL, "description": "提交时限; null: exam end"},
        "rehearsal_allowed": {"type": "boolean"},
        "rehearsal_count": INT,
        "formal_count": INT,
        "second_camera_required": {"type": "boolean"},
        "formal_playback_allowed": {"type": "boolean"},
        "auto_submit": {"type": "boolean", "description": "single-recording questions only"},
        "materials": {"type": "array", "items": MATERIAL, "maxItems": 20},
        "files": FILES,
    },
)
EXAM_BODY = obj(
    {"title": string(max_length=200), "opens_at": TIME, "closes_at": TIME},
    {
        "instructions": string(min_length=0, max_length=10_000),
        "time_requirements": string(min_length=0, max_length=2000),
        "upload_grace_s": INT,
        "questions": {"type": "array", "items": QUESTION, "maxItems": 100},
        "monitoring": {
            "type": "object",
            "description": "per alert kind {enabled, after_s}: docs/api.md (issue #13)",
        },
        "media": {
            "type": "object",
            "description": "sound and picture: {audio: music|voice, audio_kbps: 32-510, "
            "video: 720p|480p, min_fps: 1-30}: docs/api.md (issue #18)",
        },
        "retake": {
            "type": "object",
            "description": "a formal take damaged by the system grants an extra one: "
            "{enabled, lost_over_s, low_fps_over_s, audio_missing, max_extra}, docs/api.md "
            "(issue #18)",
        },
    },
)
EXAM = loose(
    "an exam with its questions (the same fields as the body, plus id and unit_id)",
    id={"type": "string"},
    unit_id={"type": "string"},
    questions={"type": "array", "items": {"type": "object"}},
)
PROCTORS = loose("the exam's proctors", proctors={"type": "array", "items": {"type": "object"}})
PLAY = {"type": "string", "enum": ["1"], "description": "1: inline, for a player"}
ERRORS = (401, 403, 404)
EDIT_ERRORS = (400, 401, 403, 404, 409)


@api.get(
    "/api/admin/exams",
    summary="Your unit's exams",
    auth="unit_admin",
    response=loose(
        "exams",
        exams={"type": "array", "items": EXAM},
        now={"type": "number", "description": "the server's clock (Unix seconds)"},
    ),
    errors=(401, 403),
)
async def list_exams(request: web.Request) -> web.Response:
    admin = caller(request)
    exams = await request.app[EXAM_CATALOG].of_unit(admin, client(request))
    return web.json_response({"exams": [e.to_dict() for e in exams], "now": request.app[CLOCK]()})


@api.post(
    "/api/admin/exams",
    summary="Create an exam of your unit, with its questions and every setting",
    description="Settings are checked together; 400 invalid_input lists every bad field in "
    "details.fields (e.g. questions[1].submission_limit_s).",
    auth="unit_admin",
    body=EXAM_BODY,
    status=201,
    response=EXAM,
    errors=EDIT_ERRORS,
)
async def create_exam(request: web.Request) -> web.Response:
    admin = caller(request)
    exam = await request.app[EXAM_CATALOG].create(admin, request[BODY], client(request))
    return web.json_response(exam.to_dict(), status=201)


@api.get(
    "/api/admin/exams/{exam_id}",
    summary="An exam of your unit",
    auth="unit_admin",
    response=EXAM,
    errors=ERRORS,
)
async def get_exam(request: web.Request) -> web.Response:
    admin = caller(request)
    exam = await request.app[EXAM_CATALOG].admin_exam(
        admin, request.match_info["exam_id"], client(request)
    )
    return web.json_response(exam.to_dict())


@api.post(
    "/api/admin/exams/{exam_id}",
    summary="Replace an exam's settings and questions",
    description="Once a candidate has started the exam only title, instructions and "
    "time_requirements may change (409 otherwise).",
    auth="unit_admin",
    body=EXAM_BODY,
    response=EXAM,
    errors=EDIT_ERRORS,
)
async def edit_exam(request: web.Request) -> web.Response:
    admin = caller(request)
    exam = await request.app[EXAM_CATALOG].replace(
        admin, request.match_info["exam_id"], request[BODY], client(request)
    )
    return web.json_response(exam.to_dict())


@api.post(
    "/api/admin/exams/{exam_id}/questions",
    summary="Add a question, or replace the one with the same id",
    auth="unit_admin",
    body=QUESTION,
    response=EXAM,
    errors=EDIT_ERRORS,
)
async def put_question(request: web.Request) -> web.Response:
    admin = caller(request)
    exam = await request.app[EXAM_CATALOG].put_question(
        admin, request.match_info["exam_id"], request[BODY], client(request)
    )
    return web.json_response(exam.to_dict())


@api.delete(
    "/api/admin/exams/{exam_id}/questions/{question_id}",
    summary="Remove a question (not once candidates have started the exam)",
    auth="unit_admin",
    response=EXAM,
    errors=(401, 403, 404, 409),
)
async def remove_question(request: web.Request) -> web.Response:
    admin = caller(request)
    m = request.match_info
    exam = await request.app[EXAM_CATALOG].remove_question(
        admin, m["exam_id"], m["question_id"], client(request)
    )
    return web.json_response(exam.to_dict())


@api.get(
    "/api/admin/exams/{exam_id}/proctors",
    summary="The exam's proctors",
    auth="unit_admin",
    response=PROCTORS,
    errors=ERRORS,
)
async def proctors(request: web.Request) -> web.Response:
    admin = caller(request)
    found = await request.app[EXAM_CATALOG].proctors(
        admin, request.match_info["exam_id"], client(request)
    )
    return web.json_response({"proctors": found})


@api.post(
    "/api/admin/exams/{exam_id}/proctors",
    summary="Assign a proctor (an account with the proctor role), by phone or account id",
    auth="unit_admin",
    body=obj({}, {"phone": string(max_length=20), "account_id": string(max_length=64)}),
    response=PROCTORS,
    errors=EDIT_ERRORS,
)
async def assign(request: web.Request) -> web.Response:
    admin = caller(request)
    b = request[BODY]
    found = await request.app[EXAM_CATALOG].assign(
        admin,
        request.match_info["exam_id"],
        client(request),
        phone=b.get("phone"),
        account_id=b.get("account_id"),
    )
    return web.json_response({"proctors": found})


@api.delete(
    "/api/admin/exams/{exam_id}/proctors/{account_id}",
    summary="Unassign a proctor",
    auth="unit_admin",
    response=PROCTORS,
    errors=ERRORS,
)
async def unassign(request: web.Request) -> web.Response:
    admin = caller(request)
    m = request.match_info
    found = await request.app[EXAM_CATALOG].unassign(
        admin, m["exam_id"], m["account_id"], client(request)
    )
    return web.json_response({"proctors": found})


@api.get(
    "/api/admin/exams/{exam_id}/progress",
    summary="Each candidate who started the exam: current question and phase, submitted or not",
    auth="unit_admin",
    response=loose("progress", now=TIME, candidates={"type": "array", "items": {"type": "object"}}),
    errors=ERRORS,
)
async def progress(request: web.Request) -> web.Response:
    admin = caller(request)
    found = await request.app[SUBMISSION_REVIEW].progress(
        admin, request.match_info["exam_id"], client(request)
    )
    return web.json_response(found)


@api.get(
    "/api/admin/exams/{exam_id}/submissions",
    summary="Submitted answers: the chosen take's segments, materials and files, with links",
    auth="unit_admin",
    response=loose("submissions", submissions={"type": "array", "items": {"type": "object"}}),
    errors=ERRORS,
)
async def submissions(request: web.Request) -> web.Response:
    admin = caller(request)
    found = await request.app[SUBMISSION_REVIEW].submissions(
        admin, request.match_info["exam_id"], client(request)
    )
    return web.json_response(found)


@api.get(
    "/api/admin/exams/{exam_id}/attempts/{attempt_id}/take/segments/{index}",
    summary="A segment of one camera of a submitted take: a download named for filing",
    description="camera=secondary for the phone's camera (需二机位); play=1 serves it inline "
    "(seekable, the browser-playable copy of an H.264 segment) for the console's player.",
    auth="unit_admin",
    query=obj({}, {"camera": {"type": "string", "enum": ["primary", "secondary"]}, "play": PLAY}),
    response={"type": "string", "contentMediaType": "video/webm"},
    response_type="video/webm, video/x-matroska, video/mp4",
    errors=(400, *ERRORS),
)
async def download_segment(request: web.Request) -> web.StreamResponse:
    admin = caller(request)
    m = request.match_info
    q = request[QUERY]
    play = q.get("play") == "1"
    found = await request.app[SUBMISSION_REVIEW].segment(
        admin,
        m["exam_id"],
        m["attempt_id"],
        m["index"],
        client(request),
        camera=q.get("camera", "primary"),
        play=play,
    )
    return await attachment(request, found, inline=play)


@api.get(
    "/api/admin/exams/{exam_id}/attempts/{attempt_id}/files/{file_id}",
    summary="Download a submitted answer file or material file (an attachment)",
    auth="unit_admin",
    response={"type": "string", "contentMediaType": "application/octet-stream"},
    response_type="application/octet-stream",
    errors=ERRORS,
)
async def download_file(request: web.Request) -> web.StreamResponse:
    admin = caller(request)
    m = request.match_info
    found = await request.app[SUBMISSION_REVIEW].file(
        admin, m["exam_id"], m["attempt_id"], m["file_id"], client(request)
    )
    return await attachment(request, found)


@api.get(
    "/api/admin/exams/{exam_id}/export",
    summary="Every submitted file of the exam in one zip, with a manifest of SHA-256 hashes",
    description="Streamed as it is written (stored, zip64, UTF-8 names): a folder per "
    "candidate with both cameras' recordings, materials and offline files, then "
    "manifest.csv and manifest.json listing each file with candidate, question, camera, "
    "duration, gaps and its SHA-256 as sent, checked against the hash recorded when it was "
    "stored (check: verified, mismatch, hashed, missing). Audited.",
    auth="unit_admin",
    response={"type": "string", "contentMediaType": "application/zip"},
    response_type="application/zip",
    errors=ERRORS,
)
async def export(request: web.Request) -> web.StreamResponse:
    admin = caller(request)
    review = request.app[SUBMISSION_REVIEW]
    plan = await review.export_plan(admin, request.match_info["exam_id"], client(request))
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": disposition("attachment", plan.name.text, plan.name.ascii),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        }
    )
    async with request.app[ZIP_EXPORTS].open(plan) as zipped:
        await response.prepare(request)
        # From here on the status is sent: a failure can only cut the download short.
        try:
            async for chunk in zipped.chunks():
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        except OSError:
            log.exception("the export of exam %s failed", plan.exam_id)
            if request.transport is not None:
                request.transport.close()  # an unfinished download, never a "complete" zip
        finally:
            await zipped.close()
            await review.export_ended(admin, plan, client(request), zipped.outcome.to_json())
    return response


def disposition(kind: str, filename: str, ascii_filename: str) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''…`` (RFC 6266): the UTF-8 name for
    every current browser, a plain one for the rest."""
    return f"{kind}; filename=\"{ascii_filename}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def attachment(
    request: web.Request, download: Download, inline: bool = False
) -> web.StreamResponse:
    """A stored file as a download (never rendered by the browser), or ``inline`` for a
    media element (video only): from the object store when it is there, else this disk."""
    kind = "inline" if inline else "attachment"
    return await request.app[STORED_FILES].response(
        request,
        download.path,
        {
            "Content-Type": download.media_type,
            "Content-Disposition": disposition(kind, download.filename, download.ascii_filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )

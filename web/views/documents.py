"""The texts a candidate reads and accepts: agreements (M1.2), notice (M2.1), commitment (M2.4)."""

from __future__ import annotations

from aiohttp import web

from exams.admission.documents import Kind
from exams.admission.journey import Step
from web.keys import CONSENT
from web.openapi import BODY, Api
from web.schema import loose, obj, string
from web.views.common import TIME, caller, candidate, client, lang, step_response

api = Api("documents")

LANG = {"type": "object", "properties": {"lang": {"type": "string", "enum": ["zh", "en"]}}}
DOCUMENT = loose(
    "a versioned text; title and body are {zh, en} objects unless ?lang= picks one",
    kind={"type": "string"},
    version={"type": "string"},
    title={"type": ["object", "string"]},
    body={"type": ["object", "string"]},
)
STEP = loose("the recorded step", step={"type": "string"}, done_at=TIME)
VERSION = string("the version you were shown", max_length=40)


@api.get(
    "/api/agreements",
    summary="The current user agreement and privacy policy (Chinese and English)",
    auth="public",
    query=LANG,
    response=loose("both texts", documents={"type": "array", "items": DOCUMENT}),
)
async def agreements(request: web.Request) -> web.Response:
    docs = request.app[CONSENT].documents
    return web.json_response(
        {
            "documents": [
                docs.current(k).describe(lang(request)) for k in (Kind.AGREEMENT, Kind.PRIVACY)
            ]
        }
    )


@api.post(
    "/api/agreements/accept",
    summary="Accept the shown versions of the user agreement and privacy policy (勾选同意)",
    description="Required before every other candidate endpoint.",
    auth="candidate",
    body=obj({"user_agreement_version": VERSION, "privacy_policy_version": VERSION}),
    response=STEP,
    errors=(400, 401, 403, 409),
)
async def accept_agreements(request: web.Request) -> web.Response:
    b = request[BODY]
    record = await request.app[CONSENT].accept_agreements(
        caller(request),
        b["user_agreement_version"],
        b["privacy_policy_version"],
        client(request),
    )
    return web.json_response(step_response(record))


@api.get(
    "/api/notice",
    summary="The system notice (系统须知)",
    auth="candidate",
    query=LANG,
    response=DOCUMENT,
    errors=(401, 403),
)
async def notice(request: web.Request) -> web.Response:
    await candidate(request, Step.READ_NOTICE)
    return web.json_response(
        request.app[CONSENT].documents.current(Kind.NOTICE).describe(lang(request))
    )


@api.post(
    "/api/notice/read",
    summary="Record that the candidate read this version of the system notice",
    auth="candidate",
    body=obj({"version": VERSION}),
    response=STEP,
    errors=(400, 401, 403, 409),
)
async def read_notice(request: web.Request) -> web.Response:
    record = await request.app[CONSENT].read_notice(caller(request), request[BODY]["version"])
    return web.json_response(step_response(record))


@api.get(
    "/api/admission/commitment",
    summary="The commitment letter (承诺书)",
    auth="candidate",
    query=LANG,
    response=DOCUMENT,
    errors=(401, 403),
)
async def commitment(request: web.Request) -> web.Response:
    await candidate(request, Step.ACCEPT_COMMITMENT)
    text = request.app[CONSENT].documents.current(Kind.COMMITMENT)
    return web.json_response(text.describe(lang(request)))


@api.post(
    "/api/admission/commitment",
    summary="Accept this version of the commitment letter for the chosen unit (同意)",
    auth="candidate",
    body=obj({"version": VERSION}),
    response=STEP,
    errors=(400, 401, 403, 409),
)
async def accept_commitment(request: web.Request) -> web.Response:
    record = await request.app[CONSENT].accept_commitment(caller(request), request[BODY]["version"])
    return web.json_response(step_response(record))

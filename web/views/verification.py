"""Real-person verification (实人验证, M1.3) and the candidate's side of manual review."""

from __future__ import annotations

from aiohttp import web

from exams.admission.journey import Step
from exams.identity.verification import parse_scope
from web.keys import CLOCK, EXAM_ACCESS, REVIEWS, SETTINGS, VERIFICATION
from web.openapi import BODY, QUERY, Api
from web.schema import loose, obj, string
from web.views.common import TIME_OR_NULL, candidate, client, read_body

api = Api("verification")

SCOPE = string(
    "'login' (first log-in) or 'exam:<exam id>' (before that exam)",
    max_length=70,
    pattern=r"^(login|exam:[A-Za-z0-9_-]{1,64})$",
)
SCOPE_QUERY = {"type": "object", "properties": {"scope": SCOPE}, "required": ["scope"]}
STATUS = loose(
    "where the candidate stands for this scope",
    scope={"type": "string"},
    status={
        "type": "string",
        "enum": ["ready", "waiting", "passed", "manual_review", "review_pending"],
    },
    passed_at=TIME_OR_NULL,
    passed_by={"type": ["string", "null"], "enum": ["verifier", "manual_review", None]},
    failures={"type": "integer"},
    retry_after={"type": "integer", "description": "seconds to wait after a cancel"},
    review={"type": ["object", "null"]},
    photo_max_bytes={"type": "integer", "description": "largest manual-review photo accepted"},
    now={"type": "number", "description": "the server's clock (Unix seconds)"},
)
REVIEW = loose(
    "a manual review",
    review_id={"type": "string"},
    scope={"type": "string"},
    state={"type": "string", "enum": ["pending", "approved", "rejected"]},
    submitted_at={"type": "number"},
    decided_at=TIME_OR_NULL,
    note={"type": ["string", "null"]},
)
PHOTO_TYPES = ("image/jpeg", "image/png", "application/octet-stream")


def _step(scope: str) -> Step:
    """Login verification follows the agreements; an exam's needs the whole journey."""
    return Step.VERIFY_IDENTITY if parse_scope(scope) == "login" else Step.EXAMS


@api.get(
    "/api/verification",
    summary="Verification status for a scope: ready, waiting (after a cancel), passed, "
    "manual_review or review_pending",
    auth="candidate",
    query=SCOPE_QUERY,
    response=STATUS,
    errors=(400, 401, 403, 404),
)
async def status(request: web.Request) -> web.Response:
    scope = request[QUERY]["scope"]
    who = await candidate(request, _step(scope))
    status = await request.app[REVIEWS].status(who, scope)
    limit = request.app[SETTINGS].review_photo_max_bytes
    return web.json_response({**status, "photo_max_bytes": limit, "now": request.app[CLOCK]()})


@api.post(
    "/api/verification/attempts",
    summary="Start (or resume) a verification attempt; returns the challenge to show",
    auth="candidate",
    body=obj({"scope": SCOPE}),
    status=201,
    response=loose(
        "the attempt",
        attempt_id={"type": "string"},
        scope={"type": "string"},
        expires_at={"type": "number"},
        challenge={"type": "object"},
    ),
    errors=(400, 401, 403, 404, 409, 429),
)
async def start(request: web.Request) -> web.Response:
    scope = request[BODY]["scope"]
    who = await candidate(request, _step(scope))
    scope = await request.app[EXAM_ACCESS].verification_scope(who, scope)  # no made-up scopes
    return web.json_response(await request.app[VERIFICATION].start(who, scope), status=201)


@api.post(
    "/api/verification/attempts/{attempt_id}",
    summary="Answer the challenge once: passes, or counts one failure",
    description="The answer the challenge's kind asks for. face_liveness (the face check, "
    "verifier 'face' or 'vendor'): frames, the camera's JPEG frames over the challenge's "
    "seconds (between 6 and 24, each at most max_frame_bytes, t_ms increasing from the first "
    "frame's 0); the server judges liveness from them (the steps, in order, by a moving face) "
    "and compares the face with the unit's reference photo. id_number_suffix (the stand-in): "
    "answer, the last 6 characters of the ID number. A malformed answer (400) and a checker "
    "that could not judge (503 verifier_unavailable: start again at once) cost no try. "
    "reason says why an answer failed: mismatch, liveness:<what>, no_reference.",
    auth="candidate",
    body=obj(
        {},
        {
            "answer": string("id_number_suffix: the answer to the challenge", max_length=200),
            "frames": {
                "type": "array",
                "maxItems": 24,
                "description": "face_liveness: the camera frames",
                "items": obj(
                    {
                        "t_ms": {"type": "integer", "minimum": 0, "maximum": 30000},
                        "jpeg": string("the frame: a JPEG, base64", max_length=140_000),
                    }
                ),
            },
        },
    ),
    response=loose(
        "the result and the new status",
        passed={"type": "boolean"},
        reason={"type": ["string", "null"], "description": "why it failed"},
    ),
    errors=(400, 401, 403, 404, 413, 503),
)
async def answer(request: web.Request) -> web.Response:
    who = await candidate(request, Step.VERIFY_IDENTITY)
    body = request[BODY]
    result = await request.app[VERIFICATION].answer(
        who, request.match_info["attempt_id"], body, client(request)
    )
    return web.json_response(result)


@api.post(
    "/api/verification/attempts/{attempt_id}/cancel",
    summary="Cancel an attempt (取消): the next may start after 60 seconds",
    auth="candidate",
    response=STATUS,
    errors=(401, 403, 404),
)
async def cancel(request: web.Request) -> web.Response:
    who = await candidate(request, Step.VERIFY_IDENTITY)
    result = await request.app[VERIFICATION].cancel(
        who, request.match_info["attempt_id"], client(request)
    )
    return web.json_response(result)


@api.post(
    "/api/verification/reviews",
    summary="Upload a photo holding the ID card for manual review (after 3 failures in a row)",
    description="The body is the JPEG or PNG image itself (checked by its first bytes).",
    auth="candidate",
    query=SCOPE_QUERY,
    body={"type": "string", "contentMediaType": "image/jpeg"},
    body_type="image/jpeg",
    status=201,
    response=REVIEW,
    errors=(400, 401, 403, 404, 409, 413, 415, 429),
)
async def submit_review(request: web.Request) -> web.Response:
    scope = request[QUERY]["scope"]
    who = await candidate(request, _step(scope))
    limit = request.app[SETTINGS].review_photo_max_bytes
    photo = await read_body(request, limit, PHOTO_TYPES, "photo")
    review = await request.app[REVIEWS].submit(who, scope, photo, client(request))
    return web.json_response(review.describe(), status=201)

"""Review staff: the manual identity review queue (人工审核)."""

from __future__ import annotations

from aiohttp import web

from exams.identity.manual_reviews import ReviewState
from web.keys import REVIEWS
from web.openapi import BODY, QUERY, Api
from web.schema import loose, obj, string
from web.views.common import caller, client, photo_attachment
from web.views.verification import REVIEW

api = Api("review staff")

QUEUE = {
    "type": "object",
    "properties": {
        "state": {"type": "string", "enum": [s.value for s in ReviewState]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    },
    "additionalProperties": False,
}


@api.get(
    "/api/reviews",
    summary="Manual reviews in a state (default pending), oldest first, with the candidate's "
    "registered name and ID to compare with the photo",
    auth="staff_reviewer",
    query=QUEUE,
    response=loose("the queue", reviews={"type": "array", "items": REVIEW}),
    errors=(400, 401, 403),
)
async def queue(request: web.Request) -> web.Response:
    staff = caller(request)
    q = request[QUERY]
    reviews = await request.app[REVIEWS].queue(
        staff, client(request), ReviewState(q.get("state", "pending")), q.get("limit", 100)
    )
    return web.json_response({"reviews": reviews})


@api.get(
    "/api/reviews/{review_id}/photo",
    summary="The photo of a review (an attachment, never rendered inline)",
    auth="staff_reviewer",
    response={"type": "string", "contentMediaType": "image/jpeg"},
    response_type="image/jpeg, image/png",
    errors=(401, 403, 404),
)
async def photo(request: web.Request) -> web.Response:
    staff = caller(request)
    data, review = await request.app[REVIEWS].photo(
        staff, request.match_info["review_id"], client(request)
    )
    return photo_attachment(data, review.photo_type, f"review-{review.id}", review.photo_file)


@api.post(
    "/api/reviews/{review_id}",
    summary="Approve (counts as verified for the review's scope) or reject a review",
    auth="staff_reviewer",
    body=obj(
        {"decision": {"type": "string", "enum": ["approve", "reject"]}},
        {"note": string("why, shown to the candidate", min_length=0, max_length=500)},
    ),
    response=REVIEW,
    errors=(400, 401, 403, 404, 409),
)
async def decide(request: web.Request) -> web.Response:
    staff = caller(request)
    b = request[BODY]
    review = await request.app[REVIEWS].decide(
        staff,
        request.match_info["review_id"],
        b["decision"] == "approve",
        b.get("note", ""),
        client(request),
    )
    return web.json_response(review.describe())

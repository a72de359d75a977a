"""Staff by invitation (issue #10): a unit admin invites an exam's proctors by phone; an
operator creates admission units and invites their admins. Inviting answers the same
whether the phone has an account or not; the invited person accepts or declines once
logged in (``exams.admission.invitations``)."""

from __future__ import annotations

from aiohttp import web

from web.keys import INVITATIONS, OPERATORS
from web.openapi import BODY, Api
from web.schema import loose, obj, string
from web.views.common import caller, client

api = Api("staff")

PHONE_BODY = obj({"phone": string("the invited person's mobile number", max_length=20)})
INVITATIONS_REPLY = loose(
    "invitations, newest first (state: pending, applied, declined, cancelled, expired)",
    invitations={"type": "array", "items": {"type": "object"}},
)
UNIT_BODY = obj(
    {
        "unit_id": string("1 to 32 letters, digits, _ or - (e.g. 10001)", max_length=32),
        "name": string(max_length=100),
    }
)
UNIT = loose("an admission unit", unit_id={"type": "string"}, name={"type": "string"})


@api.get(
    "/api/admin/exams/{exam_id}/invitations",
    summary="The proctors invited to this exam and what became of each invitation",
    auth="unit_admin",
    response=INVITATIONS_REPLY,
    errors=(401, 403, 404),
)
async def exam_invitations(request: web.Request) -> web.Response:
    admin = caller(request)
    found = await request.app[INVITATIONS].of_exam(
        admin, request.match_info["exam_id"], client(request)
    )
    return web.json_response({"invitations": found})


@api.post(
    "/api/admin/exams/{exam_id}/invitations",
    summary="Invite a proctor for this exam by phone number",
    description="An SMS tells the phone; nothing changes until the account of that phone "
    "accepts the invitation once logged in (it then becomes a proctor of this exam). The "
    "answer is the same whether the phone has an account or not. At most 30 invitations an "
    "hour (429).",
    auth="unit_admin",
    body=PHONE_BODY,
    status=201,
    response=INVITATIONS_REPLY,
    errors=(400, 401, 403, 404, 429),
)
async def invite_proctor(request: web.Request) -> web.Response:
    admin = caller(request)
    found = await request.app[INVITATIONS].invite_proctor(
        admin, request.match_info["exam_id"], request[BODY]["phone"], client(request)
    )
    return web.json_response({"invitations": found}, status=201)


@api.delete(
    "/api/admin/exams/{exam_id}/invitations/{invitation_id}",
    summary="Withdraw a pending invitation",
    auth="unit_admin",
    response=INVITATIONS_REPLY,
    errors=(401, 403, 404),
)
async def cancel_invitation(request: web.Request) -> web.Response:
    admin = caller(request)
    m = request.match_info
    found = await request.app[INVITATIONS].cancel_for_exam(
        admin, m["exam_id"], m["invitation_id"], client(request)
    )
    return web.json_response({"invitations": found})


@api.get(
    "/api/operator/units",
    summary="Every admission unit",
    auth="operator",
    response=loose("units", units={"type": "array", "items": UNIT}),
    errors=(401, 403),
)
async def units(request: web.Request) -> web.Response:
    operator = caller(request)
    found = await request.app[OPERATORS].units(operator, client(request))
    return web.json_response({"units": [u.describe() for u in found]})


@api.post(
    "/api/operator/units",
    summary="Create an admission unit",
    auth="operator",
    body=UNIT_BODY,
    status=201,
    response=loose("the new unit", unit=UNIT),
    errors=(400, 401, 403, 409),
)
async def create_unit(request: web.Request) -> web.Response:
    operator = caller(request)
    b = request[BODY]
    unit = await request.app[OPERATORS].create_unit(
        operator, b["unit_id"], b["name"], client(request)
    )
    return web.json_response({"unit": unit.describe()}, status=201)


@api.get(
    "/api/operator/units/{unit_id}/invitations",
    summary="The unit's admins invited, and what became of each invitation",
    auth="operator",
    response=INVITATIONS_REPLY,
    errors=(401, 403),
)
async def unit_invitations(request: web.Request) -> web.Response:
    operator = caller(request)
    found = await request.app[INVITATIONS].of_unit(operator, request.match_info["unit_id"])
    return web.json_response({"invitations": found})


@api.post(
    "/api/operator/units/{unit_id}/invitations",
    summary="Invite an admin of the unit by phone number",
    description="As for proctors: an SMS, applied only when that phone's account accepts it, "
    "the same answer whether the phone has an account or not.",
    auth="operator",
    body=PHONE_BODY,
    status=201,
    response=INVITATIONS_REPLY,
    errors=(400, 401, 403, 404, 429),
)
async def invite_unit_admin(request: web.Request) -> web.Response:
    operator = caller(request)
    found = await request.app[INVITATIONS].invite_unit_admin(
        operator, request.match_info["unit_id"], request[BODY]["phone"], client(request)
    )
    return web.json_response({"invitations": found}, status=201)


# -- the invited person -------------------------------------------------------------------

OFFER = loose(
    "an invitation to this account's phone, as the invited person sees it",
    invitation_id={"type": "string"},
    role={"type": "string", "description": "proctor or unit_admin"},
    unit_name={"type": ["string", "null"]},
    exam_title={"type": ["string", "null"], "description": "a proctor's exam"},
    inviter_role={"type": ["string", "null"], "description": "unit_admin or operator"},
    inviter_unit_name={"type": ["string", "null"], "description": "the inviter's unit"},
    expires_at={"type": "number"},
)
ACCEPTED = loose(
    "what the account became; log_in_again: its role changed and every session ended",
    role={"type": "string"},
    unit_id={"type": ["string", "null"]},
    exam_id={"type": ["string", "null"]},
    log_in_again={"type": "boolean"},
)


@api.get(
    "/api/account/invitations",
    summary="The pending staff invitations to my phone number",
    auth="account",
    response=loose(
        "pending invitations, oldest first", invitations={"type": "array", "items": OFFER}
    ),
    errors=(401,),
)
async def my_invitations(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response({"invitations": await request.app[INVITATIONS].mine(who)})


@api.post(
    "/api/account/invitations/{invitation_id}/accept",
    summary="Accept a staff invitation: the account becomes a proctor or unit admin",
    description="Refused (409, details.reason) for an account that has started or submitted "
    "any exam answer (answers_started), for other staff (other_staff), and for an invitation "
    "answered already (not_pending); an expired one is 410. Two accepts at once apply it "
    "once. A changed role ends every session of the account (log_in_again): log in again, "
    "staff with two-step log-in.",
    auth="account",
    response=ACCEPTED,
    errors=(401, 404, 409, 410),
)
async def accept_invitation(request: web.Request) -> web.Response:
    who = caller(request)
    done = await request.app[INVITATIONS].accept(
        who, request.match_info["invitation_id"], client(request)
    )
    return web.json_response(done)


@api.post(
    "/api/account/invitations/{invitation_id}/decline",
    summary="Decline a staff invitation (nothing about the account changes)",
    auth="account",
    response=loose("the invitations still pending", invitations={"type": "array", "items": OFFER}),
    errors=(401, 404, 409, 410),
)
async def decline_invitation(request: web.Request) -> web.Response:
    who = caller(request)
    invitations = request.app[INVITATIONS]
    await invitations.decline(who, request.match_info["invitation_id"], client(request))
    return web.json_response({"invitations": await invitations.mine(who)})

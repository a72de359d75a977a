"""Account security: change or reset the password (忘记密码), staff two-step log-in."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from exams.identity.accounts import Role
from web.auth import issue_cookie
from web.keys import ACCOUNTS, AUTH, CREDENTIALS, JOURNEY, TWO_FACTOR
from web.openapi import BODY, Api
from web.qr import qr_svg
from web.schema import loose, obj, string
from web.views.accounts import ACCOUNT
from web.views.common import caller, client

api = Api("account security")

NEW_PASSWORD = string(
    "at least 8 characters; not a common password, a pattern, or your phone or ID number",
    max_length=128,
    min_length=0,
)
CHALLENGE = string("details.challenge of the second_factor_required answer", max_length=100)
CODE = string("the 6 digits the authenticator app shows, or a recovery code", max_length=40)
ENROLMENT = loose(
    "a new authenticator secret: scan the QR code (or type the secret), then confirm a code",
    secret={"type": "string", "description": "base32, for typing into the app"},
    otpauth_uri={"type": "string"},
    qr_svg={"type": "string", "description": "the otpauth URI as an inline <svg> QR code"},
    period={"type": "integer"},
    digits={"type": "integer"},
)
RECOVERY = loose(
    "recovery codes, each works once in place of a code; shown only now",
    recovery_codes={"type": "array", "items": {"type": "string"}},
)
STATUS = loose(
    "two-step log-in for this account",
    applies={"type": "boolean", "description": "staff accounts only"},
    required={"type": "boolean"},
    enrolled={"type": "boolean"},
    recovery_codes_left={"type": "integer"},
)


async def _with_qr(enrolment: dict[str, Any]) -> dict[str, Any]:
    svg = await asyncio.to_thread(qr_svg, enrolment["otpauth_uri"], title="authenticator")
    return {**enrolment, "qr_svg": svg}


async def _me(request: web.Request, account_id: str) -> dict[str, Any]:
    who = await request.app[ACCOUNTS].get(account_id)
    journey = None
    if who.role is Role.CANDIDATE:
        journey = (await request.app[JOURNEY].progress(who)).describe()
    return {"account": who.describe(), "journey": journey}


# -- passwords ---------------------------------------------------------------------------


@api.post(
    "/api/account/password",
    summary="Change the password (the current one is required); every other session ends",
    description="Wrong current passwords count as failed log-ins (429 with "
    "details.retry_after). A refused new password has details.reasons.new_password: "
    "too_short, too_long, digits_only, repeats, sequence, common or personal. The answer "
    "sets a new session cookie.",
    auth="account",
    body=obj({"old_password": string(max_length=128), "new_password": NEW_PASSWORD}),
    response=loose("the account", account=ACCOUNT),
    errors=(400, 401, 429),
)
async def change_password(request: web.Request) -> web.Response:
    who = caller(request)
    b = request[BODY]
    token = await request.app[CREDENTIALS].change(
        who, b["old_password"], b["new_password"], client(request)
    )
    issue_cookie(request, token)
    return web.json_response({"account": who.describe()})


@api.post(
    "/api/password-reset",
    summary="Reset a forgotten password (忘记密码) with an SMS code of purpose reset_password",
    description="Ask for the code with POST /api/sms-codes {phone, purpose: reset_password} "
    "(the limits of every SMS code apply). Every session of the account ends; log in next.",
    auth="public",
    body=obj(
        {
            "phone": string("a mainland China mobile number", min_length=0, max_length=20),
            "sms_code": string("the 6 digits from the SMS", min_length=0, max_length=12),
            "new_password": NEW_PASSWORD,
        }
    ),
    response=loose("done: log in with the new password", phone={"type": "string"}),
    errors=(400, 403, 404, 429),
)
async def reset_password(request: web.Request) -> web.Response:
    b = request[BODY]
    done = await request.app[CREDENTIALS].reset(
        b["phone"], b["sms_code"], b["new_password"], client(request)
    )
    return web.json_response({"phone": done.phone})


# -- two-step log-in at the log-in --------------------------------------------------------


@api.post(
    "/api/session/second-factor",
    summary="Finish a staff log-in: the code for the challenge of POST /api/session",
    description="For method totp: a TOTP code or a recovery code. For method enrol: the "
    "first code of the authenticator set up with POST /api/session/enrolment; the answer "
    "then holds the recovery codes (shown once). Wrong codes are limited per account (5 "
    "free, then a doubling wait: 429 with details.retry_after). Sets the session cookie.",
    auth="public",
    body=obj({"challenge": CHALLENGE, "code": CODE}),
    response=loose(
        "logged in",
        account=ACCOUNT,
        journey={"type": ["object", "null"]},
        recovery_codes={"type": "array", "items": {"type": "string"}},
    ),
    errors=(400, 401, 409, 429),
)
async def second_factor(request: web.Request) -> web.Response:
    b = request[BODY]
    account_id, codes = await request.app[TWO_FACTOR].complete(
        b["challenge"], b["code"], client(request)
    )
    who = await request.app[ACCOUNTS].get(account_id)
    token = await request.app[ACCOUNTS].open_session(
        who, client(request), request.app[AUTH].session_token(request)
    )
    issue_cookie(request, token)
    return web.json_response({**await _me(request, account_id), "recovery_codes": codes})


@api.post(
    "/api/session/enrolment",
    summary="A staff log-in that must set up two-step log-in (method enrol): a new secret",
    auth="public",
    body=obj({"challenge": CHALLENGE}),
    response=ENROLMENT,
    errors=(400, 401, 409),
)
async def enrolment_at_login(request: web.Request) -> web.Response:
    two_factor = request.app[TWO_FACTOR]
    token = request[BODY]["challenge"]
    who = await request.app[ACCOUNTS].get(await two_factor.challenge_account(token))
    return web.json_response(await _with_qr(await two_factor.enrolment_for_challenge(token, who)))


# -- two-step log-in, logged in -----------------------------------------------------------


@api.get(
    "/api/account/two-factor",
    summary="Whether this account uses two-step log-in, must, and recovery codes left",
    auth="account",
    response=STATUS,
    errors=(401,),
)
async def two_factor_status(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await request.app[TWO_FACTOR].status(who))


@api.post(
    "/api/account/two-factor",
    summary="Start setting up an authenticator (staff): a new secret, confirmed next",
    auth="account",
    response=ENROLMENT,
    errors=(401, 409),
)
async def begin_two_factor(request: web.Request) -> web.Response:
    who = caller(request)
    return web.json_response(await _with_qr(await request.app[TWO_FACTOR].begin(who)))


@api.post(
    "/api/account/two-factor/confirm",
    summary="Confirm the new authenticator with its first code; answers the recovery codes",
    auth="account",
    body=obj({"code": CODE}),
    response=RECOVERY,
    errors=(400, 401, 409, 429),
)
async def confirm_two_factor(request: web.Request) -> web.Response:
    who = caller(request)
    codes = await request.app[TWO_FACTOR].confirm(who, request[BODY]["code"], client(request))
    return web.json_response({"recovery_codes": codes})


@api.post(
    "/api/account/two-factor/recovery-codes",
    summary="New recovery codes (the old ones stop working); needs a current code",
    auth="account",
    body=obj({"code": CODE}),
    response=RECOVERY,
    errors=(400, 401, 409, 429),
)
async def renew_recovery_codes(request: web.Request) -> web.Response:
    who = caller(request)
    codes = await request.app[TWO_FACTOR].new_recovery_codes(
        who, request[BODY]["code"], client(request)
    )
    return web.json_response({"recovery_codes": codes})

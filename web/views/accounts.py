"""Register, log in, log out, who am I (M1.1)."""

from __future__ import annotations

from aiohttp import web

from exams.identity.accounts import Registration, Role
from exams.identity.sms import PURPOSES as SMS_PURPOSES
from exams.shared.personal import ID_TYPES
from web.auth import clear_cookie, issue_cookie
from web.keys import ACCOUNTS, AUTH, JOURNEY, SMS_CODES
from web.openapi import BODY, Api
from web.schema import loose, obj, string
from web.views.common import ID_TYPE, TIME, caller, client

api = Api("accounts")

PHONE = string("a mainland China mobile number, e.g. 13800138000", max_length=20)
ACCOUNT = loose(
    "an account",
    id={"type": "string"},
    phone={"type": "string"},
    name={"type": "string"},
    id_type=ID_TYPE,
    id_number={"type": "string"},
    role={"type": "string", "enum": [r.value for r in Role]},
    unit_id={"type": ["string", "null"]},
    created_at=TIME,
)
JOURNEY_SCHEMA = loose(
    "where the candidate is in the journey",
    next_step={"type": "string"},
    what_to_do={"type": "string"},
    unit_id={"type": ["string", "null"]},
    device_check_required={"type": "boolean"},
    steps={"type": "array", "items": loose("a step", step={"type": "string"}, done_at={})},
)
ME = loose("the logged-in account", account=ACCOUNT, journey={"type": ["object", "null"]})


@api.get(
    "/api/id-types",
    summary="The ID document types an account can register with",
    auth="public",
    response=loose("ID types", id_types={"type": "array", "items": ID_TYPE}),
)
async def id_types(request: web.Request) -> web.Response:
    return web.json_response({"id_types": [t.describe() for t in ID_TYPES.values()]})


@api.post(
    "/api/sms-codes",
    summary="Send a 6-digit SMS code to a phone (valid 10 minutes, single use)",
    description="Limited to 1 a minute and 10 a day per phone, 30 an hour per client address. "
    "The code is never in the response.",
    auth="public",
    body=obj({"phone": PHONE}, {"purpose": {"type": "string", "enum": list(SMS_PURPOSES)}}),
    status=202,
    response=loose(
        "the code was sent",
        phone={"type": "string", "description": "masked"},
        expires_in={"type": "number"},
        resend_after={"type": "number"},
    ),
    errors=(400, 403, 429),
)
async def send_sms_code(request: web.Request) -> web.Response:
    body = request[BODY]
    sent = await request.app[SMS_CODES].send(
        body["phone"], body.get("purpose", "register"), client(request)
    )
    return web.json_response(sent, status=202)


@api.post(
    "/api/accounts",
    summary="Register (注册账号) with phone, SMS code, name, ID type and number, password",
    auth="public",
    # Strings may be empty here: the domain checks every field and reports them all at once.
    body=obj(
        {
            "phone": string("a mainland China mobile number", min_length=0, max_length=20),
            "sms_code": string("the 6 digits from the SMS", max_length=12, min_length=0),
            "name": string("as on the ID document", max_length=50, min_length=0),
            "id_type": string("a code from GET /api/id-types", max_length=40, min_length=0),
            "id_number": string(max_length=40, min_length=0),
            "password": string(
                "at least 8 characters, not only digits", max_length=128, min_length=0
            ),
        }
    ),
    status=201,
    response=loose("the new account; log in next", account=ACCOUNT),
    errors=(400, 403, 409),
)
async def register(request: web.Request) -> web.Response:
    b = request[BODY]
    form = Registration(
        b["phone"], b["sms_code"], b["name"], b["id_type"], b["id_number"], b["password"]
    )
    created = await request.app[ACCOUNTS].register(form, client(request))
    return web.json_response({"account": created.describe()}, status=201)


@api.post(
    "/api/session",
    summary="Log in with phone and password; sets a new session cookie",
    description="Failed log-ins are slowed down per account and client address and per "
    "address (429 with details.retry_after); an account is never locked. A staff account "
    "that uses (or must set up) two-step log-in gets 401 second_factor_required with "
    "details.method (totp or enrol) and details.challenge: finish with POST "
    "/api/session/second-factor.",
    auth="public",
    body=obj({"phone": PHONE, "password": string(max_length=128)}),
    response=ME,
    errors=(400, 401, 403, 429),
)
async def log_in(request: web.Request) -> web.Response:
    b = request[BODY]
    replacing = request.app[AUTH].session_token(request)
    logged_in, token = await request.app[ACCOUNTS].login(
        b["phone"], b["password"], client(request), replacing=replacing
    )
    issue_cookie(request, token)
    journey = None
    if logged_in.role is Role.CANDIDATE:
        journey = (await request.app[JOURNEY].progress(logged_in)).describe()
    return web.json_response({"account": logged_in.describe(), "journey": journey})


@api.delete(
    "/api/session",
    summary="Log out: ends the session and clears the cookie",
    auth="public",
    status=204,
)
async def log_out(request: web.Request) -> web.Response:
    current = await request.app[AUTH].current(request)
    token = request.app[AUTH].session_token(request)
    await request.app[ACCOUNTS].logout(token, current, client(request))
    clear_cookie(request)
    return web.Response(status=204)


@api.get(
    "/api/me",
    summary="The logged-in account and, for a candidate, the next journey step",
    auth="account",
    response=ME,
    errors=(401,),
)
async def me(request: web.Request) -> web.Response:
    who = caller(request)
    journey = None
    if who.role is Role.CANDIDATE:
        journey = (await request.app[JOURNEY].progress(who)).describe()
    return web.json_response({"account": who.describe(), "journey": journey})

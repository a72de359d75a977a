"""The second camera (二机位, M3.5): QR codes, the phone's scan, and its state.

The first device asks for a QR code of a question that needs a second camera
while its answer is live; the code's link opens ``/pair?token=...`` on the
phone, logged in with the same account, which redeems the token once. Both
devices read the second camera's state here and get ``secondary_state``
socket events as it changes (``docs/signaling.md``).
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlsplit

from aiohttp import web

from web.keys import EXAM_ACCESS, PAIRING, SETTINGS
from web.openapi import BODY, Api
from web.phone_reach import is_loopback, lan_addresses, phone_reach
from web.qr import qr_svg
from web.schema import loose, obj, string
from web.views.common import TIME, TIME_OR_NULL, caller, client
from web.views.exams import Q

api = Api("second camera")

STATES = ["unpaired", "paired", "connected", "ready", "recording", "lost", "stopped"]
ISSUED = loose(
    "a single-use QR code for the phone",
    token={"type": "string", "description": "single use; the server keeps only its hash"},
    url={"type": "string", "description": "<server origin>/pair?token=..., what the QR holds"},
    qr_svg={"type": "string", "description": "the QR code of url, an inline <svg> element"},
    attempt_id={"type": "string"},
    expires_at=TIME,
    now=TIME,
    reach=loose(
        "whether a phone can open url: problem loopback (it points at this machine) or "
        "insecure (no HTTPS, so no camera), and the server options that fix it",
        ok={"type": "boolean"},
        problem={"type": ["string", "null"], "enum": ["loopback", "insecure", None]},
        restart_with={"type": "string", "description": "e.g. --public-url https://<ip>:<port>"},
        lan_addresses={"type": "array", "items": {"type": "string"}},
        port={"type": "integer"},
    ),
)
PAIRED = loose(
    "the phone's pairing: the attempt it is the second camera of",
    pairing_id={"type": "string", "description": "open_session {role: secondary, pairing_id}"},
    candidate_id={"type": "string", "description": "the socket's c= (docs/deploy.md)"},
    exam_id={"type": "string"},
    question_id={"type": "string"},
    attempt_id={"type": "string"},
    expires_at=TIME,
    redeemed_at=TIME,
    now=TIME,
)
STATE = loose(
    "the second camera of this question's answer (as the secondary_state event)",
    attempt_id={"type": "string"},
    state={"type": "string", "enum": STATES},
    session_id={"type": ["string", "null"]},
    take_id={"type": ["string", "null"], "description": "the take recording now, if any"},
    warning={"type": "boolean", "description": "a take records without the second camera"},
    reason={"type": ["string", "null"]},
    changed_at=TIME_OR_NULL,
    now=TIME,
)


def pair_url(request: web.Request, token: str) -> str:
    origin = request.app[SETTINGS].public_url or f"{request.scheme}://{request.host}"
    return f"{origin.rstrip('/')}/pair?token={quote(token, safe='')}"


@api.post(
    Q + "/pairing",
    summary="Show a QR code for the second camera (需二机位): a link with a single-use token",
    description="Only for a question that needs a second camera, while its answer is live "
    "(after Rehearse or Formal answer). Each call makes a new code; the token expires after "
    "pairing_ttl_s (120 s).",
    auth="candidate",
    status=201,
    response=ISSUED,
    errors=(401, 403, 404, 409),
)
async def issue(request: web.Request) -> web.Response:
    who = caller(request)
    ids = request.match_info["exam_id"], request.match_info["question_id"]
    token, pairing, now = await request.app[PAIRING].issue(who, *ids)
    url = pair_url(request, token)
    settings = request.app[SETTINGS]
    # A code no phone can open: name the machine's LAN addresses it could use instead.
    loopback = is_loopback(urlsplit(url).hostname or "")
    addresses = await asyncio.to_thread(lan_addresses) if loopback else []
    body = {
        "token": token,
        "url": url,
        "qr_svg": await asyncio.to_thread(qr_svg, url),
        "attempt_id": pairing.attempt_id,
        "expires_at": pairing.expires_at,
        "now": now,
        "reach": phone_reach(url, settings.host, settings.port, addresses),
    }
    return web.json_response(body, status=201)


@api.get(
    Q + "/pairing",
    summary="The second camera's state: paired, connected, ready, recording, lost, stopped",
    auth="candidate",
    response=STATE,
    errors=(401, 403, 404),
)
async def state(request: web.Request) -> web.Response:
    who = caller(request)
    ids = request.match_info["exam_id"], request.match_info["question_id"]
    await request.app[EXAM_ACCESS].exam(who, ids[0])  # the admitted list holds them now
    return web.json_response(await request.app[PAIRING].state(who.owner, *ids))


@api.post(
    "/api/pairing/redeem",
    summary="The phone scanned the QR code: it becomes the second camera of that answer",
    description="The phone must be logged in with the same account. A token works once "
    "(409 pairing_used), until it expires (409 pairing_expired); another candidate's token is "
    "refused and audited (403 pairing_not_yours); so is one whose answer was submitted or "
    "closed (409).",
    auth="candidate",
    body=obj({"token": string("the token from the QR code's link", max_length=64)}),
    response=PAIRED,
    errors=(400, 401, 403, 404, 409),
)
async def redeem(request: web.Request) -> web.Response:
    who = caller(request)
    service = request.app[PAIRING]
    pairing = await service.redeem(who, request[BODY]["token"], client(request))
    return web.json_response({**pairing.describe(), "now": pairing.redeemed_at})

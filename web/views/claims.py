"""Identity claims (身份申诉): filed by someone whose ID number another account holds;
decided by review staff or the admin of a unit whose admitted list holds it."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from exams.identity.claims import ClaimForm, ClaimState
from exams.shared.errors import InvalidInput, TooLarge, UnsupportedMediaType
from web.keys import CLAIMS, SETTINGS
from web.openapi import BODY, QUERY, Api
from web.schema import loose, obj, string
from web.views.common import CHUNK, caller, client, photo_attachment

api = Api("identity claims")

FIELDS = ("phone", "sms_code", "name", "id_type", "id_number", "password")
FIELD_MAX = 200
CLAIM = loose(
    "an identity claim",
    claim_id={"type": "string"},
    phone={"type": "string", "description": "masked"},
    name={"type": "string"},
    id_number={"type": "string"},
    state={"type": "string", "enum": [s.value for s in ClaimState]},
    submitted_at={"type": "number"},
)
QUEUE = {
    "type": "object",
    "properties": {"state": {"type": "string", "enum": [s.value for s in ClaimState]}},
    "additionalProperties": False,
}


async def _read_form(request: web.Request, photo_limit: int) -> tuple[dict[str, str], bytes]:
    """The text fields and the photo of a multipart/form-data body, each bounded."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send the claim as multipart/form-data (fields and photo)")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    photo: bytes | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not accepted")
        limit = photo_limit if part.name == "photo" else FIELD_MAX
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            data += chunk
            if len(data) > limit:
                if part.name == "photo":
                    raise TooLarge(f"the photo must be at most {photo_limit // (1024 * 1024)} MiB")
                raise InvalidInput(f"the field {part.name} is too long")
        if part.name == "photo":
            photo = bytes(data)
        elif part.name in FIELDS:
            fields[part.name] = data.decode("utf-8", errors="replace")
    missing = {name: "is required" for name in FIELDS if name not in fields}
    if photo is None:
        missing["photo"] = "is required: a photo of you holding your ID card"
    if missing:
        raise InvalidInput("some fields need fixing: see details.fields", {"fields": missing})
    assert photo is not None
    return fields, photo


@api.post(
    "/api/identity-claims",
    summary="Claim an ID number another account registered: your phone, a fresh SMS code "
    "(purpose register), name, ID, the password you want, and a photo holding the ID card",
    description="multipart/form-data with the text fields phone, sms_code, name, id_type, "
    "id_number, password and the file photo (JPEG or PNG). Staff decide; on approval your "
    "phone gets an account with this ID number and you log in with that password.",
    auth="public",
    body_type="multipart/form-data",
    status=201,
    response=CLAIM,
    errors=(400, 409, 413, 415, 429),
)
async def file_claim(request: web.Request) -> web.Response:
    f, photo = await _read_form(request, request.app[SETTINGS].review_photo_max_bytes)
    form = ClaimForm(
        f["phone"], f["sms_code"], f["name"], f["id_type"], f["id_number"], f["password"]
    )
    claim = await request.app[CLAIMS].file(form, photo, client(request))
    return web.json_response(claim.describe(), status=201)


@api.get(
    "/api/identity-claims",
    summary="Identity claims with the evidence (review staff)",
    auth="staff_reviewer",
    query=QUEUE,
    response=loose("claims", claims={"type": "array", "items": CLAIM}),
    errors=(400, 401, 403),
)
async def queue(request: web.Request) -> web.Response:
    staff = caller(request)
    state = ClaimState(request[QUERY].get("state", "pending"))
    claims = await request.app[CLAIMS].queue(staff, client(request), state)
    return web.json_response({"claims": claims})


@api.get(
    "/api/identity-claims/{claim_id}/photo",
    summary="The claim's photo (an attachment, never rendered inline)",
    auth="staff_reviewer",
    response={"type": "string", "contentMediaType": "image/jpeg"},
    response_type="image/jpeg, image/png",
    errors=(401, 403, 404),
)
async def photo(request: web.Request) -> web.Response:
    staff = caller(request)
    data, claim = await request.app[CLAIMS].photo(
        staff, request.match_info["claim_id"], client(request)
    )
    return photo_attachment(data, claim.photo_type, f"claim-{claim.id}", claim.photo_file)


@api.post(
    "/api/identity-claims/{claim_id}",
    summary="Approve (the ID number moves to the claimant's new account; the registered "
    "account is closed) or reject a claim",
    auth="staff_reviewer",
    body=obj(
        {"decision": {"type": "string", "enum": ["approve", "reject"]}},
        {"note": string("why", min_length=0, max_length=500)},
    ),
    response=CLAIM,
    errors=(400, 401, 403, 404, 409),
)
async def decide(request: web.Request) -> web.Response:
    staff = caller(request)
    b = request[BODY]
    claim = await request.app[CLAIMS].decide(
        staff,
        request.match_info["claim_id"],
        b["decision"] == "approve",
        b.get("note", ""),
        client(request),
    )
    return web.json_response(claim.describe())

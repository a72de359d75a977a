"""The built-in face check through examcast's own HTTP API (``verifier=face``), on the real
face engine: a unit admin uploads reference photos (报名照片) by ID number, each checked on
its own; a candidate who blinks as asked, with the face of their reference photo, passes; the
same frames against someone else's photo fail as a mismatch, frames that never blink fail
liveness, a malformed answer costs no try, and a candidate with no reference photo goes to
manual review. Real photos shipped in scikit-image (tests/support/faces.py)."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from exams.identity.accounts import Account, Role
from tests.support import faces
from tests.support.api import ApiClient, Reply, accept_agreements, api_client, signed_up
from tests.support.exams import admit, staff
from tests.support.server import RunningServer, api_server_fixture
from tests.support.world import resident_id
from web.keys import VERIFICATION

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

UNIT = "10001"
PHOTOS = f"/api/admin/units/{UNIT}/reference-photos"
ZIP = {"Content-Type": "application/zip"}
JPEG = {"Content-Type": "image/jpeg"}


server = api_server_fixture(
    verifier="face",
    face_challenge="blink",  # the steps a test can act honestly (tests/support/faces.py)
)


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


async def candidate(server: RunningServer, client: ApiClient, serial: int) -> Account:
    who = await signed_up(client, f"1380013{serial:04d}", serial=serial)
    assert (await accept_agreements(client)).status == 200
    return who


async def admin_client(server: RunningServer, client: ApiClient) -> Account:
    return await staff(server, client, Role.UNIT_ADMIN, UNIT)


async def start(client: ApiClient) -> dict[str, Any]:
    started = await client.call("POST", "/api/verification/attempts", {"scope": "login"})
    assert started.status == 201, started
    body: dict[str, Any] = started.body
    return body


async def made(make: Callable[[], bytes]) -> bytes:
    """A test photo made in a thread: its first use (scikit-image read, dlib, JPEG) costs
    tenths of a second of CPU, which the loop's stall watch would count."""
    return await asyncio.to_thread(make)


async def blinks(**options: Any) -> dict[str, Any]:
    """``faces.blink_frames(**options)`` made in a thread (dlib finds the eyes to shut)."""
    return await asyncio.to_thread(functools.partial(faces.blink_frames, **options))


async def answer(client: ApiClient, attempt_id: str, body: dict[str, Any]) -> Reply:
    return await client.call("POST", f"/api/verification/attempts/{attempt_id}", body)


async def failures(client: ApiClient) -> int:
    reply = await client.call("GET", "/api/verification?scope=login")
    assert reply.status == 200, reply
    return int(reply.body["failures"])


async def test_reference_photos_are_checked_one_by_one(server: RunningServer) -> None:
    async with api_client(server) as c, api_client(server) as admin:
        people = [await candidate(server, c, n) for n in (1, 2, 3, 4)]
        await admit(server, UNIT, *people)
        await admin_client(server, admin)
        good, blank, two, text = (p.id_number for p in people)
        stranger = resident_id(77)  # a valid number, not on the list
        # The photos are made (scikit-image read, JPEG encoded) in a thread: a first use
        # costs the loop a few tenths of a second of CPU.
        archive = await asyncio.to_thread(
            lambda: zipped(
                {
                    f"报名照片/{good}.jpg": faces.reference_photo(),
                    f"报名照片/{blank}.jpg": faces.no_face_photo(),
                    f"报名照片/{two}.JPG": faces.two_faces_photo(),
                    f"报名照片/{text}.jpg": b"name,id\n" * 400,
                    f"报名照片/{stranger}.jpg": faces.reference_photo(),
                    "报名照片/readme.txt": b"photos of the admitted candidates",
                    "__MACOSX/._x.jpg": b"resource fork",
                }
            )
        )
        reply = await admin.call("POST", PHOTOS, data=archive, headers=ZIP)
        assert reply.status == 201, reply
        got = {p["file"]: p for p in reply.body["photos"]}
        assert reply.body["stored"] == 1 and reply.body["refused"] == 5
        assert got[f"{good}.jpg"]["stored"] is True
        codes = {name: [x["code"] for x in p["problems"]] for name, p in got.items()}
        assert codes[f"{blank}.jpg"] == ["no_face"]
        assert codes[f"{two}.JPG"] == ["several_faces"]
        assert codes[f"{text}.jpg"] == ["not_an_image"]
        assert codes[f"{stranger}.jpg"] == ["unknown_id_number"]
        assert codes["readme.txt"] == ["bad_name"]
        for photo in got.values():  # every refusal in both languages
            assert all(x["zh"] and x["en"] for x in photo["problems"])
        # One photo on its own (a folder is sent file by file): replaces nothing else.
        cameraman = await made(faces.other_person_photo)
        one = await admin.call("POST", f"{PHOTOS}/{blank}.jpg", data=cameraman, headers=JPEG)
        assert one.status == 201 and one.body["stored"] == 1, one
        listing = await admin.call("GET", PHOTOS)
        assert {p["id_number"] for p in listing.body["photos"]} == {good, blank}
        assert listing.body["missing_count"] == 2
        # Not a zip; not this admin's unit; a candidate may not upload at all.
        assert (await admin.call("POST", PHOTOS, data=b"PK no zip", headers=ZIP)).status == 400
        other = await admin.call(
            "POST", "/api/admin/units/99999/reference-photos", data=archive, headers=ZIP
        )
        assert other.status == 403, other
        assert (await c.call("POST", PHOTOS, data=archive, headers=ZIP)).status == 403


async def test_the_candidate_who_blinks_with_their_own_face_passes(server: RunningServer) -> None:
    async with api_client(server) as c, api_client(server) as admin:
        who = await candidate(server, c, 1)
        await admit(server, UNIT, who)
        await admin_client(server, admin)
        stored = await admin.call(
            "POST",
            f"{PHOTOS}/{who.id_number}.jpg",
            data=await made(faces.reference_photo),
            headers=JPEG,
        )
        assert stored.body["stored"] == 1, stored
        # Eyes never shut: the blink asked for is not seen (one try spent).
        started = await start(c)
        challenge = started["challenge"]
        assert challenge["kind"] == "face_liveness" and challenge["steps"] == ["blink"]
        assert challenge["frames"] >= 6 and challenge["prompt"]["zh"]
        still = await answer(c, started["attempt_id"], await blinks(shut=()))
        assert still.status == 200, still
        assert still.body["passed"] is False and still.body["reason"].startswith("liveness:")
        assert still.body["failures"] == 1
        # Blinking, the right face: passed, with its score, model and evidence kept.
        started = await start(c)
        passed = await answer(c, started["attempt_id"], await blinks())
        assert passed.status == 200, passed
        assert passed.body["passed"] is True and passed.body["status"] == "passed", passed
        results = await server.app[VERIFICATION].results(who.id, "login")
        assert [r["passed"] for r in results] == [True, False]
        assert results[0]["model"].startswith("dlib_face_recognition_resnet_model_v1")
        assert 0 <= results[0]["score"] < 0.5 and results[0]["evidence"] == 4


async def test_someone_elses_photo_is_a_mismatch(server: RunningServer) -> None:
    async with api_client(server) as c, api_client(server) as admin:
        who = await candidate(server, c, 1)
        await admit(server, UNIT, who)
        await admin_client(server, admin)
        await admin.call(
            "POST",
            f"{PHOTOS}/{who.id_number}.jpg",
            data=await made(faces.other_person_photo),
            headers=JPEG,
        )
        started = await start(c)
        reply = await answer(c, started["attempt_id"], await blinks())
        assert reply.status == 200, reply
        assert reply.body["passed"] is False and reply.body["reason"] == "mismatch"
        assert reply.body["failures"] == 1
        [result] = await server.app[VERIFICATION].results(who.id)
        assert result["score"] > 0.5


async def test_a_malformed_answer_costs_no_try(server: RunningServer) -> None:
    async with api_client(server) as c, api_client(server) as admin:
        who = await candidate(server, c, 1)
        await admit(server, UNIT, who)
        await admin_client(server, admin)
        await admin.call(
            "POST",
            f"{PHOTOS}/{who.id_number}.jpg",
            data=await made(faces.reference_photo),
            headers=JPEG,
        )
        good = (await blinks())["frames"]
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
        bad = [
            {"frames": good[:3]},  # too few
            {"frames": [good[1], good[0], *good[2:]]},  # t_ms goes back
            {"frames": [{**good[0], "jpeg": "not base64!"}, *good[1:]]},
            {"frames": [{**good[0], "jpeg": png}, *good[1:]]},  # not a JPEG
            {"frames": [{**good[0], "t_ms": -5}, *good[1:]]},
            {"answer": "123456"},  # the stand-in's answer to the face check
        ]
        for body in bad:
            reply = await answer(c, (await start(c))["attempt_id"], body)
            assert reply.status == 400 and reply.code == "invalid_input", reply
        assert await failures(c) == 0
        assert await server.app[VERIFICATION].results(who.id) == []
        huge = {"frames": [{"t_ms": n, "jpeg": "A" * 130_000} for n in range(12)]}
        reply = await answer(c, (await start(c))["attempt_id"], huge)
        assert reply.status == 413, reply
        assert await failures(c) == 0


async def test_parallel_answers_to_one_attempt_are_judged_once(server: RunningServer) -> None:
    async with api_client(server) as c, api_client(server) as admin:
        who = await candidate(server, c, 1)
        await admit(server, UNIT, who)
        await admin_client(server, admin)
        await admin.call(
            "POST",
            f"{PHOTOS}/{who.id_number}.jpg",
            data=await made(faces.other_person_photo),
            headers=JPEG,
        )
        attempt_id = (await start(c))["attempt_id"]
        frames = await blinks()
        replies = await asyncio.gather(*(answer(c, attempt_id, frames) for _ in range(4)))
        assert sorted(r.status for r in replies) == [200, 404, 404, 404], replies
        assert await failures(c) == 1
        assert len(await server.app[VERIFICATION].results(who.id)) == 1


async def test_no_reference_photo_goes_to_manual_review(server: RunningServer) -> None:
    async with api_client(server) as c:
        who = await candidate(server, c, 1)
        await admit(server, UNIT, who)
        started = await c.call("POST", "/api/verification/attempts", {"scope": "login"})
        assert started.status == 409 and started.code == "manual_review_required", started
        assert started.body["error"]["details"]["reason"] == "no_reference"
        status = await c.call("GET", "/api/verification?scope=login")
        assert status.body["status"] == "manual_review"
        reference = await made(faces.reference_photo)
        photo = await c.call(
            "POST", "/api/verification/reviews?scope=login", data=reference, headers=JPEG
        )
        assert photo.status == 201, photo

"""Manual-review photos over HTTP: scopes the candidate may verify for only, and one photo
waiting per scope however many uploads arrive at once."""

from __future__ import annotations

import asyncio

from tests.support.api import ApiClient, accept_agreements, api_client, signed_up, verify
from tests.support.exams import through_journey
from tests.support.server import RunningServer, api_server_fixture

PNG = {"Content-Type": "image/png"}
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(4096)  # judged by its first bytes


server = api_server_fixture()


def photos(server: RunningServer) -> list[str]:
    folder = server.settings.reviews_dir
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def fail_three_times(client: ApiClient, scope: str) -> None:
    for _ in range(3):
        failed = await verify(client, "wrong!", scope)
        assert failed.body["passed"] is False, failed


async def test_parallel_review_photos_make_one_review(server: RunningServer) -> None:
    async with api_client(server) as client:
        await signed_up(client, "13900000001")
        assert (await accept_agreements(client)).status == 200
        await fail_three_times(client, "login")
        url = "/api/verification/reviews?scope=login"
        replies = await asyncio.gather(
            *(client.call("POST", url, data=PHOTO, headers=PNG) for _ in range(6))
        )
        assert sorted(r.status for r in replies) == [201] + [409] * 5, replies
        assert len(photos(server)) == 1  # the refused photos were not kept


async def test_a_made_up_exam_scope_is_refused(server: RunningServer) -> None:
    async with api_client(server) as client:
        await through_journey(server, client, "10001")
        start = await client.call("POST", "/api/verification/attempts", {"scope": "exam:nope"})
        assert start.status == 404 and start.code == "not_found", start
        status = await client.call("GET", "/api/verification?scope=exam:nope")
        assert status.status == 404
        photo = await client.call(
            "POST", "/api/verification/reviews?scope=exam:nope", data=PHOTO, headers=PNG
        )
        assert photo.status == 404
        assert photos(server) == []

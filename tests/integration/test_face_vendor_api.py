"""Real-person verification by a vendor, through examcast's own HTTP API: the server set with
``verifier=vendor`` posts each answer to the local stand-in vendor (a real HTTP server on
loopback). A pass verifies; another person counts a failed try; a vendor that does not answer
in time (or answers 500, 429, garbage) costs no try, the candidate is told so in a 503 with
its own code and starts again at once; the key signs each request and is never logged."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import cv2
import pytest
from skimage import data

from exams.identity.verification_results import VerificationResult
from storage.verification import SqliteVerificationResults
from tests.support.api import ApiClient, Reply, accept_agreements, api_client, signed_up
from tests.support.face_vendor import FaceVendor, face_vendor
from tests.support.server import RunningServer, running_server, server_settings
from web.keys import DATABASE

KEY = "vendor-key-7c1d93ab5e60f2"


def jpeg(rgb: Any) -> bytes:
    ok, out = cv2.imencode(".jpg", cv2.cvtColor(cv2.resize(rgb, (320, 320)), cv2.COLOR_RGB2BGR))
    assert ok
    return out.tobytes()


FRAMES = {
    "frames": [
        {"t_ms": 250 * i, "jpeg": base64.b64encode(jpeg(data.astronaut())).decode()}
        for i in range(4)
    ]
}


@asynccontextmanager
async def vendor_server(
    tmp_path: Path, mode: str
) -> AsyncIterator[tuple[RunningServer, FaceVendor]]:
    async with face_vendor(KEY, mode) as vendor:
        settings = server_settings(
            tmp_path / "data",
            password_hash_memory_kib=1024,
            verifier="vendor",
            vendor_url=vendor.url,
            vendor_key=KEY,
            vendor_name="standin",
            vendor_timeout_s=1,
        )
        async with running_server(settings) as server:
            yield server, vendor


async def candidate(client: ApiClient) -> str:
    who = await signed_up(client, "13800138000", serial=1)
    assert (await accept_agreements(client)).status == 200
    return who.id


async def attempt(client: ApiClient) -> dict[str, Any]:
    started = await client.call("POST", "/api/verification/attempts", {"scope": "login"})
    assert started.status == 201, started
    body: dict[str, Any] = started.body
    return body


async def answer(client: ApiClient, attempt_id: str) -> Reply:
    return await client.call("POST", f"/api/verification/attempts/{attempt_id}", FRAMES)


async def state(client: ApiClient) -> dict[str, Any]:
    reply = await client.call("GET", "/api/verification?scope=login")
    assert reply.status == 200, reply
    body: dict[str, Any] = reply.body
    return body


async def results(server: RunningServer, account_id: str) -> list[VerificationResult]:
    return await SqliteVerificationResults(server.app[DATABASE]).for_account(account_id)


async def test_the_vendor_passes_the_candidate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with vendor_server(tmp_path, "pass") as (server, vendor), api_client(server) as c:
        who = await candidate(c)
        started = await attempt(c)
        assert started["challenge"]["kind"] == "face_liveness"
        reply = await answer(c, started["attempt_id"])
        assert reply.status == 200, reply
        assert reply.body["passed"] is True and reply.body["status"] == "passed"
        [stored] = await results(server, who)
        assert (stored.passed, stored.score, stored.model) == (True, 92.4, "vendor:standin")
        assert stored.evidence  # the frames kept
    [sent] = vendor.requests
    assert sent.signed and sent.body["name"] == "张三"
    assert sent.body["actions"] == started["challenge"]["steps"]
    assert KEY not in caplog.text


async def test_another_person_counts_a_failed_try(tmp_path: Path) -> None:
    async with vendor_server(tmp_path, "fail") as (server, _), api_client(server) as c:
        who = await candidate(c)
        reply = await answer(c, (await attempt(c))["attempt_id"])
        assert reply.status == 200, reply
        assert reply.body["passed"] is False and reply.body["failures"] == 1
        [stored] = await results(server, who)
        assert (stored.passed, stored.score, stored.reason) == (False, 18.7, "mismatch")


@pytest.mark.parametrize("mode", ["slow", "500", "429", "garbage"])
async def test_a_vendor_fault_costs_no_try_and_the_candidate_retries_at_once(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with vendor_server(tmp_path, mode) as (server, vendor), api_client(server) as c:
        who = await candidate(c)
        reply = await answer(c, (await attempt(c))["attempt_id"])
        assert reply.status == 503, reply
        assert reply.code == "verifier_unavailable"
        assert (await state(c))["failures"] == 0
        assert await results(server, who) == []  # nothing recorded: the vendor's fault
        vendor.mode = "pass"  # the vendor is back: a new attempt, at once, passes
        again = await answer(c, (await attempt(c))["attempt_id"])
        assert again.status == 200 and again.body["passed"] is True, again
        assert len(vendor.requests) == 2
    assert KEY not in caplog.text


async def test_one_attempt_answered_at_once_many_times_asks_the_vendor_once(
    tmp_path: Path,
) -> None:
    async with vendor_server(tmp_path, "slow") as (server, vendor), api_client(server) as c:
        who = await candidate(c)
        attempt_id = (await attempt(c))["attempt_id"]
        replies = await asyncio.gather(*(answer(c, attempt_id) for _ in range(5)))
        codes = sorted(r.status for r in replies)
        assert codes == [404, 404, 404, 404, 503], codes  # judged once: the vendor timed out
        assert len(vendor.requests) == 1
        assert (await state(c))["failures"] == 0 and await results(server, who) == []

"""Redis gone mid-exam, and back: steps that need the shared state fail at once with a
clear 503 (never a 500, never a hang), reading goes on, and steps work again when Redis is
back; the records are untouched (Redis is never the system of record)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exams.identity.accounts import Role
from tests.support.api import api_client
from tests.support.exams import (
    add_unit,
    create_exam,
    exam_body,
    offline_question,
    staff,
    through_journey,
    verify_for_exam,
)
from tests.support.redis import OwnRedis, key_prefix
from tests.support.server import RunningServer, running_server, server_settings

UNIT = "10001"


@pytest.fixture
async def redis_node(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, OwnRedis]]:
    redis = OwnRedis(tmp_path / "redis")
    redis.start()
    settings = server_settings(
        tmp_path / "data",
        password_hash_memory_kib=1024,
        redis_url=redis.url,
        redis_prefix=key_prefix(),
        node_id="solo",
    )
    try:
        async with running_server(settings) as node:
            yield node, redis
    finally:
        redis.stop()


async def test_a_step_without_redis_fails_clearly_and_works_once_it_is_back(
    redis_node: tuple[RunningServer, OwnRedis],
) -> None:
    node, redis = redis_node
    async with api_client(node) as admin, api_client(node) as candidate:
        await add_unit(node, UNIT)
        await staff(node, admin, Role.UNIT_ADMIN, UNIT)
        body = exam_body(offline_question("q9", submission_limit_s=600), now=time.time())
        exam_id = str((await create_exam(admin, body))["id"])
        who = await through_journey(node, candidate, UNIT)
        await verify_for_exam(candidate, who, exam_id)
        path = f"/api/exams/{exam_id}/questions/q9"
        assert (await candidate.call("POST", path + "/open")).status == 200

        redis.stop()
        started = time.monotonic()
        down = await candidate.call("POST", path + "/open")
        assert down.status == 503 and down.code == "unavailable", down
        assert time.monotonic() - started < 10  # refused, not hung
        page = await candidate.call("GET", path)  # reading needs no shared state
        assert page.status == 200 and page.body["question"]["phase"] == "answering", page

        redis.start()  # the same port, empty: nothing in it was the record of anything
        back = await candidate.call("POST", path + "/open")
        assert back.status == 200, back
        assert back.body["question"]["phase"] == "answering", back.body

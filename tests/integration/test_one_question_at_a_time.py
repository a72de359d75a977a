"""One question at a time reads or records, however many requests race for the camera.

Each round fires the competing requests together (asyncio.gather): exactly one
wins, the other gets 409 naming the question that holds the camera, and no
recorder starts for the loser. No camera is connected: the takes record
nothing, the rules are the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.api import ApiClient, Reply, api_client
from tests.support.exams import (
    online_question,
    through_journey,
    unit_exam,
    verify_for_exam,
)
from tests.support.server import RunningServer, api_server_fixture

pytestmark = pytest.mark.both_databases  # the records on SQLite and on PostgreSQL

ROUNDS = 12


exam_server = api_server_fixture(reconnect_grace_s=120)


def q(exam_id: str, question_id: str) -> str:
    return f"/api/exams/{exam_id}/questions/{question_id}"


async def exam_of(server: RunningServer, admin: ApiClient, **settings: Any) -> str:
    questions = online_question("q1", 1, **settings), online_question("q2", 2, **settings)
    return await unit_exam(server, admin, "10001", *questions)


async def candidate_for(server: RunningServer, client: ApiClient, exam_id: str) -> None:
    who = await through_journey(server, client, "10001")
    await verify_for_exam(client, who, exam_id)


def one_winner(replies: tuple[Reply, Reply]) -> tuple[str, Reply]:
    """The question that won the camera and the loser's reply."""
    assert sorted(r.status for r in replies) == [200, 409], replies
    won, lost = (replies[0], replies[1]) if replies[0].status == 200 else (replies[1], replies[0])
    assert lost.code == "conflict"
    winner = won.body["question"]["question_id"]
    assert lost.body["error"]["details"]["question_id"] == winner, lost
    return winner, lost


async def active(client: ApiClient) -> list[str]:
    state = await client.call("GET", "/api/recording")
    return [x["question_id"] for x in state.body["active"]]


async def test_parallel_rehearsals_on_two_questions_one_wins_every_time(
    exam_server: RunningServer,
) -> None:
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id = await exam_of(
            exam_server, admin, reading_limit_s=600, rehearsal_allowed=True, rehearsal_count=3
        )
        await candidate_for(exam_server, candidate, exam_id)
        for _ in range(ROUNDS):
            replies = await asyncio.gather(
                candidate.call("POST", q(exam_id, "q1") + "/rehearsal"),
                candidate.call("POST", q(exam_id, "q2") + "/rehearsal"),
            )
            winner, _ = one_winner(replies)
            assert await active(candidate) == [winner]
            left = await candidate.call("POST", q(exam_id, winner) + "/rehearsal/leave")
            assert left.status == 200, left
            assert await active(candidate) == []


async def test_parallel_formal_answers_on_two_questions_one_wins(
    exam_server: RunningServer,
) -> None:
    async with api_client(exam_server) as admin:
        exam_id = await exam_of(exam_server, admin, reading_limit_s=600)
        for _ in range(4):  # a formal answer is entered once: a new candidate each round
            async with api_client(exam_server) as candidate:
                await candidate_for(exam_server, candidate, exam_id)
                replies = await asyncio.gather(
                    candidate.call("POST", q(exam_id, "q1") + "/formal"),
                    candidate.call("POST", q(exam_id, "q2") + "/formal"),
                )
                winner, _ = one_winner(replies)
                assert await active(candidate) == [winner]


async def test_parallel_recordings_by_hand_start_one_recorder(exam_server: RunningServer) -> None:
    """Both questions entered and waiting (no reading time): starting both at once records
    one; the refused one never started a recorder."""
    async with api_client(exam_server) as admin, api_client(exam_server) as candidate:
        exam_id = await exam_of(exam_server, admin, formal_count=5)
        await candidate_for(exam_server, candidate, exam_id)
        for qid in ("q1", "q2"):  # enter, record once, stop: the question waits by hand
            assert (await candidate.call("POST", q(exam_id, qid) + "/formal")).status == 200
            started = await candidate.call("POST", q(exam_id, qid) + "/takes", {"kind": "formal"})
            take_id = started.body["question"]["attempt"]["recording"]["take_id"]
            stop = await candidate.call("POST", q(exam_id, qid) + f"/takes/{take_id}/stop")
            assert stop.status == 200, stop
        for _ in range(4):
            replies = await asyncio.gather(
                candidate.call("POST", q(exam_id, "q1") + "/takes", {"kind": "formal"}),
                candidate.call("POST", q(exam_id, "q2") + "/takes", {"kind": "formal"}),
            )
            winner, _ = one_winner(replies)
            loser = "q2" if winner == "q1" else "q1"
            assert await active(candidate) == [winner]
            page = await candidate.call("GET", q(exam_id, loser))
            assert page.body["question"]["attempt"]["recording"] is None
            won = next(r for r in replies if r.status == 200)
            take_id = won.body["question"]["attempt"]["recording"]["take_id"]
            stop = await candidate.call("POST", q(exam_id, winner) + f"/takes/{take_id}/stop")
            assert stop.status == 200, stop
        works = 0
        for qid in ("q1", "q2"):
            page = await candidate.call("GET", q(exam_id, qid))
            takes = page.body["question"]["attempt"]["takes"]
            assert all(not t["recording"] for t in takes)
            works += len(takes)
        assert works == 2 + 4  # one take per round, none for a loser

"""Proctor actions end to end: real Socket.IO clients for the proctor, the candidate's
question page and phone, a real aiortc peer publishing the candidate's camera, time moved
over deadlines instead of waited out, the stored take opened with PyAV.

Each test fails before the actions existed (no such events, no messages route).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from exams.identity.accounts import Role
from exams.proctoring.attempt_steps import ENDED_BY_PROCTOR
from exams.proctoring.incidents import AlertKind
from exams.shared.ports import Event
from tests.support.analysis import decode_strictly, segment_file
from tests.support.api import api_client
from tests.support.clock import MovableTime, wait_until
from tests.support.exams import candidate_client, phone_client, staff
from tests.support.proctoring import (
    UNIT,
    enter_formal,
    exam_with_proctor,
    socket_of,
    watched_candidate,
)
from tests.support.server import RunningServer, api_server_fixture
from web.keys import AUDIT, CLOCK, INCIDENTS

server = api_server_fixture()


def refused(ack: Any, code: str) -> bool:
    return isinstance(ack, dict) and ack.get("error", {}).get("code") == code


async def audited(server: RunningServer, event: Event) -> list[dict[str, Any]]:
    return [e.detail for e in await server.app[AUDIT].recent(1000) if e.event is event]


async def test_a_message_reaches_both_devices_and_the_receipt_reaches_the_wall(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        exam_id, _ = await exam_with_proctor(server, admin, proctor)
        async with candidate_client(server, UNIT) as c, phone_client(server, c) as phone:
            async with socket_of(server, proctor) as watcher:
                me = c.account.id
                await watcher.call("watch_wall", {"exam_id": exam_id})
                hand = await c.device.call("raise_hand", {"exam_id": exam_id})
                assert hand["hand_raised_at"] <= server.now()

                def flagged() -> bool:
                    return any(
                        e == "wall_tiles"
                        and any(t["tile_id"] == me and t.get("hand_raised_at") for t in d["tiles"])
                        for e, d in watcher.events
                    )

                await wait_until(flagged, 20, "the hand on the candidate's tile")

                sent = await watcher.call(
                    "send_message",
                    {"exam_id": exam_id, "candidate_id": me, "text": "请把摄像头对准双手"},
                )
                assert sent["text"] == "请把摄像头对准双手" and sent["read_at"] is None, sent
                on_page = await c.device.wait_event("proctor_message", id=sent["id"])
                on_phone = await phone.device.wait_event("proctor_message", id=sent["id"])
                assert on_page == on_phone and "sender_id" not in on_page
                await phone.device.wait_event("hand_state", hand_raised_at=None)  # answered

                # After a reload the page finds it again, unread.
                listed = await c.call("GET", f"/api/exams/{exam_id}/messages")
                assert [m["id"] for m in listed.body["messages"]] == [sent["id"]]
                assert listed.body["messages"][0]["read_at"] is None

                # A second log-in of another candidate cannot read it; the owner can, once.
                async with candidate_client(server, UNIT) as other:
                    ack = await other.device.call("message_read", {"message_id": sent["id"]})
                    assert refused(ack, "not_found"), ack
                reads = await asyncio.gather(
                    *(c.device.call("message_read", {"message_id": sent["id"]}) for _ in range(4))
                )
                assert len({r["read_at"] for r in reads}) == 1
                receipt = await watcher.wait_event("message_read", message_id=sent["id"])
                assert receipt["candidate_id"] == me and receipt["read_at"] == reads[0]["read_at"]
                assert len(await audited(server, Event.PROCTOR_MESSAGE_READ)) == 1
                # The phone hears it was read (its dialog closes).
                await phone.device.wait_event(
                    "proctor_message", id=sent["id"], read_at=reads[0]["read_at"]
                )

                # The proctor's list of what was sent shows the receipt.
                seen = await proctor.call(
                    "GET", f"/api/proctor/exams/{exam_id}/candidates/{me}/messages"
                )
                [m] = [x for x in seen.body["messages"] if x["kind"] == "message"]
                assert m["read_at"] == reads[0]["read_at"]


async def test_extra_time_moves_the_deadline_the_server_keeps(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        async with watched_candidate(server, admin, proctor) as (exam_id, c, watcher):
            me = c.account.id
            q1 = f"/api/exams/{exam_id}/questions/q1"
            entered = await enter_formal(c, exam_id)
            old = entered["reading"]["deadline"]
            moved = await watcher.call(
                "extend_time", {"exam_id": exam_id, "candidate_id": me, "minutes": 2}
            )
            assert moved["reading_deadline"] == old + 120, moved
            pushed = await c.device.wait_event("deadline_changed", attempt_id=entered["attempt_id"])
            assert pushed["reading_deadline"] == old + 120
            page = (await c.call("GET", q1)).body["question"]["attempt"]
            assert page["reading"]["deadline"] == old + 120 and page["extra_s"] == 120

            # The attempt's timer was set again: none is left at the old deadline.
            time = server.app[CLOCK]
            assert isinstance(time, MovableTime)
            pending = [t.when for t in time._timers if not t.done]
            assert old + 120 in pending and old not in pending, pending
            # The old deadline passes: the server does not start the take.
            server.advance(old - server.now() + 1)
            assert (await c.call("GET", q1)).body["question"]["phase"] == "reading"
            formal = [d for e, d in c.device.events if e == "take_started"]
            assert all(d["purpose"] != "formal" for d in formal), formal
            # The moved one does.
            server.advance(old + 120 - server.now())
            await c.device.wait_event("take_started", purpose="formal")
            [entry] = await audited(server, Event.TIME_EXTENDED)
            assert (entry["candidate_id"], entry["minutes"]) == (me, 2)


async def test_ending_the_attempt_stores_the_take_and_tells_the_candidate(
    server: RunningServer,
) -> None:
    async with api_client(server) as admin, api_client(server) as proctor:
        async with watched_candidate(server, admin, proctor) as (exam_id, c, watcher):
            me = c.account.id
            q1 = f"/api/exams/{exam_id}/questions/q1"
            entered = await enter_formal(c, exam_id)
            server.advance(entered["reading"]["deadline"] - server.now())
            started = await c.device.wait_event("take_started", purpose="formal")
            await server.recorded(started["take_id"], 1.0)

            ended = await watcher.call(
                "end_attempt", {"exam_id": exam_id, "candidate_id": me, "reason": "发现他人协助"}
            )
            assert ended["reason"] == "发现他人协助", ended
            told = await c.device.wait_event("attempt_ended", attempt_id=entered["attempt_id"])
            assert told["reason"] == "发现他人协助"
            stored = await c.device.wait_event("take_stored", take_id=started["take_id"])
            assert stored["stop_reason"] == ENDED_BY_PROCTOR
            [segment, *_] = stored["manifest"]["segments"]
            decoded = decode_strictly(
                segment_file(Path(server.settings.data_dir), started["take_id"], segment)
            )
            assert len(decoded.video) > 5

            page = (await c.call("GET", q1)).body["question"]
            assert page["phase"] == "closed" and page["attempt"]["end_reason"] == "发现他人协助"
            [take] = page["attempt"]["takes"]
            assert take["stop_reason"] == ENDED_BY_PROCTOR, take
            again = await watcher.call(
                "end_attempt", {"exam_id": exam_id, "candidate_id": me, "reason": "again"}
            )
            assert refused(again, "conflict"), again


async def test_others_cannot_act_and_limits_hold_in_parallel(
    server: RunningServer,
) -> None:
    async with (
        api_client(server) as admin,
        api_client(server) as proctor,
        api_client(server) as stranger,
    ):
        exam_id, _ = await exam_with_proctor(server, admin, proctor)
        await staff(server, stranger, Role.PROCTOR, None)  # assigned to no exam
        async with candidate_client(server, UNIT) as c, candidate_client(server, UNIT) as other:
            me = c.account.id
            q1 = f"/api/exams/{exam_id}/questions/q1"
            await enter_formal(c, exam_id)
            target = {"exam_id": exam_id, "candidate_id": me}
            async with socket_of(server, stranger) as outsider:
                for event, extra in (
                    ("send_message", {"text": "hi"}),
                    ("extend_time", {"minutes": 5}),
                    ("end_attempt", {"reason": "x"}),
                ):
                    ack = await outsider.call(event, target | extra)
                    assert refused(ack, "forbidden"), ack
                    ack = await other.device.call(event, target | extra)  # a candidate
                    assert refused(ack, "forbidden"), ack
            assert (await c.call("GET", q1)).body["question"]["phase"] == "reading"
            assert not [e for e, _ in c.device.events if e == "proctor_message"]
            url = f"/api/proctor/exams/{exam_id}/candidates/{me}/messages"
            assert (await stranger.call("GET", url)).status == 403
            assert (await other.call("GET", url)).status == 403

            # Parallel hands are one hand, on the timeline as a hand_raised incident.
            hands = await asyncio.gather(
                *(c.device.call("raise_hand", {"exam_id": exam_id}) for _ in range(5))
            )
            assert len({h["id"] for h in hands}) == 1
            assert len(await audited(server, Event.HAND_RAISED)) == 1
            incidents = server.app[INCIDENTS]
            await wait_until(
                lambda: incidents.is_active(me, AlertKind.HAND_RAISED), 10, "a hand incident"
            )

            async with socket_of(server, proctor) as watcher:
                bad = await watcher.call("send_message", target | {"text": "x" * 501})
                assert refused(bad, "too_large"), bad
                bad = await watcher.call("extend_time", target | {"minutes": "5"})
                assert refused(bad, "invalid_input"), bad
                answer = await watcher.call("send_message", target | {"text": "我来了"})
                assert "id" in answer, answer
                await c.device.wait_event("hand_state", hand_raised_at=None)
                assert not incidents.is_active(me, AlertKind.HAND_RAISED)  # the answer ended it
                acks = await asyncio.gather(
                    *(watcher.call("send_message", target | {"text": f"m{i}"}) for i in range(14))
                )
                assert sum("id" in a for a in acks) == 9  # 10 a minute, the answer included
                assert sum(refused(a, "rate_limited") for a in acks) == 5, acks
            seen = await proctor.call("GET", url)
            assert len([m for m in seen.body["messages"] if m["kind"] == "message"]) == 10
            assert [
                m["read_at"] is not None for m in seen.body["messages"] if m["kind"] == "hand"
            ] == [True]

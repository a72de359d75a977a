"""Three nodes (scripts/cluster: HAProxy, Redis, PostgreSQL, SeaweedFS as S3) and the loss
of one (issue #15): every client talks to HAProxy only, as the pages do.

- candidates spread over the nodes record formal takes (real aiortc peers); a proctor
  whose wall socket is on one node watches (a viewer session) a candidate served by
  another and receives frames; a phone whose HTTP requests land on another node joins its
  candidate's take as the second camera;
- ``kill -9`` of a node mid-take: its candidates' pages reconnect (HAProxy sends them to
  the next node), their takes go on there in a new segment of the same take; every segment
  the dead node finished is in S3 with its SHA-256; the deadline it owned fires on another
  node; nothing is recorded twice (no two segments overlap on the take's clock); the
  ``node_lost`` gap is filled from the page's copy over tus through HAProxy;
- the dead node restarted rejoins (``/readyz`` through HAProxy) and leaves alone the takes
  the others record;
- Redis restarted mid-exam, PostgreSQL unreachable for seconds: what a cluster adds to
  tests/integration/test_redis_outage.py and test_database_outage.py.

Figures (``FAILOVER-FIGURE {json}`` lines, also artifacts/failover-figures.json) are the
report's (docs/deploy.md, "Losing a node"); wall-clock figures are asserted only against
bounds that mean "broken", since the machine is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from media import ice
from storage.attempts import SqliteAttempts
from tests.integration.test_cluster import engine_io, socket_call
from tests.support import seaweed
from tests.support.clock import wait_until
from tests.support.cluster import (
    BROKEN_S,
    Cluster,
    Exam,
    Front,
    Person,
    Stored,
    assert_no_overlap,
    candidates,
    close_people,
    enter,
    fill_gap,
    frames_in,
    objects_of,
    pair_phone,
    publish,
    recorded,
    recorded_s,
    records,
    running_cluster,
    set_up_exam,
    socket,
    started,
    take_record,
    take_summary,
    watch,
)

ROOT = Path(__file__).parents[2]
ARTIFACTS = Path(os.environ.get("EXAMCAST_ARTIFACTS", ROOT / "artifacts"))
UNITS = ("10031", "10032", "10033")  # one per test: its exam, its admitted list
LEASE_S = 3  # node_lease_s: a dead node's deadlines and takes are free after this
GRACE_S = 10  # reconnect_grace_s: a session waits this long for its client
PIECE_MS = 1000  # storage_piece_ms: a recording segment goes up in pieces this often
READING_S = 10  # the formal answer's reading time (the phone pairs meanwhile); then it records
SUBMISSION_S = 20  # the offline question's time to submit (the deadline a dead node owned)
PREFIX = "examcast:"  # redis_prefix (the default)

pytestmark = pytest.mark.skipif(
    not (shutil.which("haproxy") and shutil.which("redis-server")),
    reason="no haproxy or redis-server (scripts/setup --test installs them)",
)


def figure(name: str, **values: Any) -> None:
    """A figure of the report: printed, and kept in artifacts/failover-figures.json."""
    line = {"figure": name, **values}
    print("FAILOVER-FIGURE " + json.dumps(line), flush=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "failover-figures.json").open("a") as out:
        out.write(json.dumps(line) + "\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    storage_url = seaweed.ready_url()
    if storage_url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    serve = (
        f"--node-lease-s={LEASE_S}",
        f"--reconnect-grace-s={GRACE_S}",
        f"--storage-piece-ms={PIECE_MS}",
    )
    with running_cluster(tmp_path_factory.mktemp("failover"), storage_url, *serve) as running:
        yield running


# -- the scenario ----------------------------------------------------------------------------


async def test_a_take_goes_on_on_another_node_when_its_node_is_killed(
    cluster: Cluster, tmp_path: Path
) -> None:
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    front = Front(cluster.url)
    async with aiohttp.ClientSession() as http:
        exam = await set_up_exam(cluster, front, http, UNITS[0], READING_S, SUBMISSION_S)
        try:
            await scenario(cluster, front, exam, tmp_path)
        finally:
            await close_people(exam)


async def scenario(cluster: Cluster, front: Front, exam: Exam, tmp_path: Path) -> None:
    await candidates(cluster, front, exam, at_least=4)
    # the one who answers the offline question: from the node with the most candidates
    crowd = max(exam.people, key=lambda p: sum(q.node == p.node for q in exam.people))
    deadline_person = [p for p in exam.people if p.node == crowd.node][-1]
    recorders = [p for p in exam.people if p is not deadline_person]
    nodes_used = {p.node for p in recorders}
    assert len(nodes_used) >= 2, [p.node for p in exam.people]
    figure("candidates", nodes={n: sum(p.node == n for p in recorders) for n in sorted(nodes_used)})
    # The victim: a node with candidates recording, not the phone's candidate's node.
    counts = {n: sum(p.node == n for p in recorders) for n in nodes_used}
    phone_of = min(recorders, key=lambda p: counts[p.node])
    victim = max((n for n in nodes_used if n != phone_of.node), key=lambda n: counts[n])
    moved = [p for p in recorders if p.node == victim]
    stayed = [p for p in recorders if p.node != victim]

    # -- every candidate enters the formal answer; during its reading time a phone, whose
    # HTTP requests land on another node, becomes the second camera of one of them; when
    # the reading time is over the server records them all (the phone too)
    await asyncio.gather(*(enter(exam, p) for p in recorders))
    phone_http_node = await pair_phone(exam, front, phone_of)
    await asyncio.gather(*(started(p) for p in recorders))
    assert phone_of.device is not None
    await phone_of.device.wait_event("secondary_state", timeout=BROKEN_S, state="recording")
    figure("second_camera", candidate_node=phone_of.node, phone_http_node=phone_http_node)

    # -- a proctor whose wall is on one node watches a candidate served by another
    wall_http = exam.proctor.api.http
    wall, wall_node = await engine_io(wall_http, front, None)  # type: ignore[arg-type]
    await wall.send_str("40")
    assert (await wall.receive_str(timeout=10)).startswith("40{")
    watched_wall = await socket_call(wall, "watch_wall", {"exam_id": exam.id})
    assert "error" not in watched_wall, watched_wall
    watched = next(p for p in recorders if p.node != wall_node)
    view_socket = await socket(front, exam.proctor, watched.id)
    viewer = await watch(view_socket, exam.id, watched.id)
    await wait_until(lambda: len(viewer.frames) >= 30, BROKEN_S, "30 frames at the proctor's view")
    assert viewer.frames == sorted(viewer.frames), "frames out of order"
    figure("spotlight", wall_node=wall_node, candidate_node=watched.node, frames=len(viewer.frames))
    await viewer.close()
    await view_socket.close()
    await wall.close()

    # -- before the kill: a finished segment on the victim (a new peer connection), pieces
    # of the next one shipped; the deadline of an offline answer owned by the victim
    for p in moved:
        assert p.device is not None
        await p.device.pcs[-1].close()
        await publish(p, p.session_id)
    so_far = {p.take_id: await recorded_s(p, p.take_id) for p in moved}
    await asyncio.gather(*(recorded(p, p.take_id, so_far[p.take_id] + 2.5) for p in moved))
    redis = aioredis.Redis.from_url(cluster.redis.url, decode_responses=True)
    try:
        deadline_attempt = await owned_deadline(cluster, exam, deadline_person, redis, victim)
        finished_before = {p.take_id: await objects_of(cluster, p.take_id) for p in moved}
        for p in moved:
            first = finished_before[p.take_id].get("segment-000.webm")
            assert first is not None, finished_before
            assert first.sha256 == first.verified_sha256  # shipped whole, checked
        before_kill = {p.take_id: await recorded_s(p, p.take_id) for p in moved}

        # -- kill -9
        killed_at = await asyncio.to_thread(cluster.kill, victim)
        await asyncio.gather(*(come_back(front, p) for p in moved))
        for p in moved:  # recording again, on another node
            await recorded(p, p.take_id, 0.001)
            await recorded(p, p.take_id, await recorded_s(p, p.take_id) + 1.5)
            taken = await take_record(cluster, p.take_id)
            assert taken.node not in (None, victim), taken
            p.node = str(taken.node)

        # -- the deadline the victim owned fires on another node
        fired_by = await fired_elsewhere(cluster, redis, deadline_attempt, victim)
        figure("deadline_taken_over", victim=victim, by=fired_by)

        # -- the victim restarted rejoins, and leaves the others' takes alone
        recording_before = {
            p.take_id: (await take_record(cluster, p.take_id)).node for p in recorders
        }
        restarted_at = time.time()
        cluster.command(f"restart {victim}")
        await wait_until(
            lambda: any(
                e.get("event") == "restarted" and e.get("node") == victim for e in cluster.events()
            ),
            90,
            f"{victim} restarted",
        )
        await rejoined(front, victim)
        figure("rejoined", node=victim, seconds=round(time.time() - restarted_at, 1))
        for p in recorders:
            now = await recorded_s(p, p.take_id)
            await recorded(p, p.take_id, now + 1.0)  # still recording where it was
            record = await take_record(cluster, p.take_id)
            assert (record.state.value, record.node) == ("recording", recording_before[p.take_id])
    finally:
        await redis.aclose()

    # -- every take stopped as the question page stops it: over HTTP with c=, which now goes
    # to the restarted node for the candidates it had (they recorded on elsewhere): that
    # node asks the recording node to stop and store it (exams/catalog/take_calls.py)
    for p in recorders:
        stop = await p.media_call("POST", exam.q("q1") + f"/takes/{p.take_id}/stop")
        assert stop.status == 200, stop
        stored = await take_summary(p, p.take_id)
        assert stored["state"] == "stored", stored
    for p in stayed:
        take = await take_summary(p, p.take_id)
        assert_no_overlap(take["manifest"]["segments"])
        assert not [
            g
            for g in take["manifest"]["gaps"]
            if g.get("reason") in ("node_lost", "server_restart")
        ]
    phone_take = await take_summary(phone_of, phone_of.take_id)
    secondary = phone_take["manifest"]["cameras"]["secondary"]
    assert secondary["segments"], phone_take["manifest"]
    assert_no_overlap(secondary["segments"])

    for p in moved:
        await check_moved_take(
            cluster, p, killed_at, before_kill[p.take_id], finished_before[p.take_id], tmp_path
        )


async def come_back(front: Front, who: Person) -> None:
    """The page after its node died: its socket notices, reconnects through HAProxy (which
    sends c= to a live node once the dead one failed its checks), resumes its session or
    opens a new one (gone with its node) and sends its camera on a new peer connection."""
    assert who.device is not None
    old = who.device
    await wait_until(lambda: not old.sio.connected, BROKEN_S, "the page noticed its node died")
    for pc in old.pcs:
        await pc.close()
    who.device = await socket(front, who, who.id)
    again = await who.device.call("open_session", {"role": "primary", "resume": who.session_id})
    if "session_id" not in again:
        assert again["error"]["code"] == "not_found", again
        again = await who.device.call("open_session", {"role": "primary"})
    assert "session_id" in again, again
    await publish(who, again["session_id"])


async def owned_deadline(
    cluster: Cluster, exam: Exam, who: Person, redis: aioredis.Redis, victim: str
) -> str:
    """``who`` opens the offline question until the victim owns its deadline (each step
    arms it on the node that handled it; round robin moves that); the attempt's id."""
    attempt_id = None
    for _ in range(12):
        opened = await who.call("POST", exam.q("q9") + "/open")
        assert opened.status == 200, opened
        if attempt_id is None:
            async with records(cluster) as db:
                found = await SqliteAttempts(db).find(exam.id, "q9", who.id)
            assert found is not None
            attempt_id = found.id
        if await redis.hget(PREFIX + "deadlines:owner", attempt_id) == victim:
            return attempt_id
    raise AssertionError(f"{victim} never owned the deadline")


async def fired_elsewhere(
    cluster: Cluster, redis: aioredis.Redis, attempt_id: str, victim: str
) -> str:
    """The attempt closed at its deadline by a node that is not ``victim``: which."""
    async with records(cluster) as db:
        attempts = SqliteAttempts(db)

        async def closed() -> bool:
            found = await attempts.get(attempt_id)
            return found is not None and found.closed_at is not None

        await wait_until(closed, SUBMISSION_S + BROKEN_S, "the dead node's deadline fired")
        attempt = await attempts.get(attempt_id)
    assert attempt is not None and attempt.closed_at == attempt.submission_deadline, attempt
    takers = [
        n["node_id"]
        for n in cluster.info["nodes"]
        if n["node_id"] != victim
        and f"attempt {attempt_id}: its deadline's node is gone" in cluster.log(n["node_id"])
    ]
    assert len(takers) == 1, takers
    assert await redis.hget(PREFIX + "deadlines:owner", attempt_id) is None
    return str(takers[0])


async def rejoined(front: Front, victim: str) -> None:
    """/readyz through HAProxy answers from the restarted node (back in the ring)."""
    async with aiohttp.ClientSession() as http:

        async def answers() -> bool:
            for _ in range(3):
                async with http.get(front.url + "/readyz") as r:
                    if r.status == 200 and r.headers.get("X-Examcast-Node") == victim:
                        return True
            return False

        await wait_until(answers, BROKEN_S, f"{victim} back behind HAProxy")


async def check_moved_take(
    cluster: Cluster,
    who: Person,
    killed_at: float,
    before_kill_s: float,
    finished_before: dict[str, Stored],
    tmp: Path,
) -> None:
    take = await take_summary(who, who.take_id)
    manifest = take["manifest"]
    segments = manifest["segments"]
    assert_no_overlap(segments)
    [lost] = [g for g in manifest["gaps"] if g["reason"] == "node_lost"]
    before = [s for s in segments if s["start_s"] + s["duration_s"] <= lost["start_s"] + 0.04]
    after = [s for s in segments if s["start_s"] >= lost["end_s"] - 0.04]
    assert before and after and len(before) + len(after) == len(segments), (segments, lost)
    # every segment in S3, verified against its hash, and decodable; those the dead node
    # had finished hold the same pictures as when it shipped them
    stored = await objects_of(cluster, who.take_id)
    for s in segments:
        found = stored.get(s["file"])
        assert found is not None, (s, sorted(stored))
        assert found.sha256 == found.verified_sha256 == s["sha256"], s
        frames = await asyncio.to_thread(frames_in, found.data, tmp / s["file"])
        assert frames > 0, s
        if s["file"] in finished_before:
            shipped = finished_before[s["file"]]
            then = await asyncio.to_thread(frames_in, shipped.data, tmp / ("was-" + s["file"]))
            assert then == frames, (s, then, frames)
    first_new_frame = take["started_at"] + after[0]["start_s"]
    failover_s = first_new_frame - killed_at
    lost_s = lost["end_s"] - lost["start_s"]
    kept_s = before[-1]["start_s"] + before[-1]["duration_s"]
    figure(
        "failover",
        take=who.take_id,
        failover_s=round(failover_s, 2),
        lost_before_fill_s=round(lost_s, 2),
        recorded_before_kill_s=round(before_kill_s, 2),
        kept_of_the_dead_node_s=round(kept_s, 2),
    )
    assert 0 < failover_s < BROKEN_S, failover_s
    # the page's copy fills the gap (tus through HAProxy: any node)
    status, reply = await fill_gap(who, take, lost, tmp)
    assert status == 204, reply
    gaps = await who.call("GET", f"/api/takes/{who.take_id}/gaps")
    left = gaps.body["cameras"]["primary"]
    # what is still missing of the stretch the node's loss cut (other gaps: the reconnect
    # this test made before the kill)
    left_s = sum(
        max(0.0, min(g["end_s"], lost["end_s"]) - max(g["start_s"], lost["start_s"])) for g in left
    )
    figure(
        "after_fill",
        take=who.take_id,
        lost_after_fill_s=round(left_s, 2),
        other_gaps=[g for g in left if g["reason"] != "node_lost"],
    )
    assert left_s == 0 and not [g for g in left if g["reason"] == "node_lost"], left


# -- Redis restarted, PostgreSQL unreachable: what a cluster adds to test_redis_outage.py and
# test_database_outage.py (one node each)


async def staff_socket(
    front: Front, who: Person, not_on: str
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """A staff page's socket (no c=: round robin) on a node other than ``not_on``."""
    for _ in range(6):
        ws, node = await engine_io(who.api.http, front, None)  # type: ignore[arg-type]
        if node != not_on:
            await ws.send_str("40")
            assert (await ws.receive_str(timeout=10)).startswith("40{")
            return ws, node
        await ws.close()
    raise AssertionError(f"round robin never left {not_on}")


async def test_after_redis_restarts_events_cross_nodes_deadlines_fire_takes_stay(
    cluster: Cluster,
) -> None:
    """Redis restarted (empty) mid-exam: a take goes on recording on its node (no node
    takes it for an orphan: the heartbeats are back long before reconnect_grace_s), a
    proctor's message sent on another node reaches the candidate (the Socket.IO Redis
    manager subscribed again), and a deadline set before the restart still fires."""
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    front = Front(cluster.url)
    async with aiohttp.ClientSession() as http:
        exam = await set_up_exam(cluster, front, http, UNITS[1], 1, SUBMISSION_S)
        try:
            await candidates(cluster, front, exam, at_least=2, every_node=False)
            recorder, answerer = exam.people
            await enter(exam, recorder)
            await started(recorder)
            opened = await answerer.call("POST", exam.q("q9") + "/open")
            assert opened.status == 200, opened
            deadline = opened.body["question"]["attempt"]["submission_deadline"]
            async with records(cluster) as db:
                attempt = await SqliteAttempts(db).find(exam.id, "q9", answerer.id)
            assert attempt is not None
            node_before = (await take_record(cluster, recorder.take_id)).node

            await asyncio.to_thread(cluster.redis.stop)
            await asyncio.to_thread(cluster.redis.start)  # the same port, empty
            restarted_at = time.time()

            # the candidate's page and the proctor's, on two nodes: a message sent after the
            # restart arrives once the receiving node's Redis subscription is back (pub/sub is
            # at-most-once: one sent before that is lost on the way; the page finds it in
            # its list when it loads it)
            proctor, proctor_node = await staff_socket(front, exam.proctor, recorder.node)
            assert recorder.device is not None
            arrived = None
            try:
                for n in range(8):  # at most 10 a minute
                    sent = await socket_call(
                        proctor,
                        "send_message",
                        {
                            "exam_id": exam.id,
                            "candidate_id": recorder.id,
                            "text": f"请调整摄像头 {n}",
                        },
                    )
                    assert "error" not in sent, sent
                    with contextlib.suppress(TimeoutError):
                        arrived = await recorder.device.wait_event("proctor_message", timeout=3)
                        break
            finally:
                await proctor.close()
            assert arrived is not None, "no message crossed the nodes after Redis restarted"
            lost_messages = int(arrived["text"].rsplit(" ", 1)[1])
            figure(
                "redis_restart_message",
                from_node=proctor_node,
                to_node=recorder.node,
                lost_before_resubscribed=lost_messages,
                seconds_after_restart=round(time.time() - restarted_at, 1),
            )

            # the take stays where it records, past the time an orphan would be taken
            while time.time() < restarted_at + GRACE_S + LEASE_S + 2:
                await recorded(
                    recorder, recorder.take_id, await recorded_s(recorder, recorder.take_id) + 0.5
                )
            record = await take_record(cluster, recorder.take_id)
            assert (record.state.value, record.node) == ("recording", node_before), record

            # the deadline set before the restart fires
            async with records(cluster) as db:
                attempts = SqliteAttempts(db)

                async def closed() -> bool:
                    found = await attempts.get(attempt.id)
                    return found is not None and found.closed_at is not None

                await wait_until(
                    closed, max(0.0, deadline - time.time()) + BROKEN_S, "the deadline fired"
                )
                fired = await attempts.get(attempt.id)
            assert fired is not None and fired.closed_at == deadline, fired

            assert recorder.device is not None
            stored = await recorder.device.call("stop_take", {"take_id": recorder.take_id})
            assert stored.get("state") == "stored", stored
            assert not stored["manifest"]["gaps"], stored["manifest"]["gaps"]
        finally:
            await close_people(exam)


async def test_postgresql_unreachable_fails_clearly_and_takes_go_on(cluster: Cluster) -> None:
    """PostgreSQL down for seconds under three nodes: requests through HAProxy get a clear
    503 (JSON ``database_unavailable`` from a node, never a 500), a take goes on recording
    and is not taken for an orphan, a stop asked meanwhile changes nothing, and afterwards
    the same nodes serve again and store the take whole."""
    ice.offer_host_addresses(("127.0.0.1",), only=True)
    front = Front(cluster.url)
    async with aiohttp.ClientSession() as http:
        exam = await set_up_exam(cluster, front, http, UNITS[2], 1, SUBMISSION_S)
        try:
            await candidates(cluster, front, exam, at_least=1, every_node=False)
            [who] = exam.people
            await enter(exam, who)
            await started(who)
            node_before = (await take_record(cluster, who.take_id)).node

            await asyncio.to_thread(cluster.pg.stop)
            down_at = time.monotonic()
            try:
                statuses = []
                for _ in range(3):  # round robin: each node once
                    me = await who.call("GET", "/api/me")
                    statuses.append((me.status, me.code, me.headers.get("X-Examcast-Node")))
                assert all(s == 503 for s, _, _ in statuses), statuses
                assert {c for _, c, _ in statuses} == {"database_unavailable"}, statuses
                assert who.device is not None
                refused = await who.device.call("stop_take", {"take_id": who.take_id})
                assert refused.get("error", {}).get("code") in (
                    "database_unavailable",
                    "unavailable",
                ), refused
                await recorded(who, who.take_id, await recorded_s(who, who.take_id) + 1.0)
                await asyncio.sleep(max(0.0, 4 - (time.monotonic() - down_at)))  # a few seconds
            finally:
                await asyncio.to_thread(cluster.pg.start)
            figure("postgres_down", seconds=round(time.monotonic() - down_at, 1), answers=statuses)

            async def serves() -> bool:
                return (await who.call("GET", "/api/me")).status == 200

            await wait_until(serves, BROKEN_S, "the nodes serve again")
            record = await take_record(cluster, who.take_id)
            assert (record.state.value, record.node) == ("recording", node_before), record
            stored = await who.device.call("stop_take", {"take_id": who.take_id})
            assert stored.get("state") == "stored", stored
            assert not stored["manifest"]["gaps"], stored["manifest"]["gaps"]
        finally:
            await close_people(exam)

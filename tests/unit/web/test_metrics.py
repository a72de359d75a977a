"""The node's metrics registry: bounded labels, backend calls, UDP drops read from /proc,
deadlines and database calls counted where they happen."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exams.answering.attempt_runner import AttemptRunner
from exams.answering.recording import enter_formal
from exams.catalog.attempts import Attempt
from exams.shared.telemetry import CallTimer, Count, Sample
from media.pictures import PictureStats
from storage.db import open_database
from storage.sql import Connection
from storage.timed_db import TimedDatabase
from tests.unit.exams.builders import FakeClock, exam_of, online
from tests.unit.exams.fakes import Bench
from web.metrics import MAX_OPS_PER_BACKEND, Metrics


def sample(m: Metrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def test_a_count_outside_its_labels_is_counted_as_other() -> None:
    m = Metrics("node-a")
    m.count(Count.FRAMES_LOST, "backlog")
    m.count(Count.FRAMES_LOST, "take-3f9a0c1e")  # never a series per take
    m.count(Count.UPLOAD_BYTES, "tus", 1000)
    m.sample(Sample.RECORDER_LAG, 0.02)
    assert sample(m, "examcast_frames_lost_total", reason="backlog") == 1
    assert sample(m, "examcast_frames_lost_total", reason="other") == 1
    assert sample(m, "examcast_upload_bytes_total", kind="tus") == 1000
    assert sample(m, "examcast_recorder_lag_seconds_bucket", le="0.025") == 1
    assert sample(m, "examcast_node_info", node="node-a") == 1


def test_backend_calls_are_timed_and_their_operations_bounded() -> None:
    m = Metrics("node-a")
    m.observe_call("postgresql", "SqliteTakes", 0.004, True)
    m.observe_call("postgresql", "SqliteTakes", 0.2, False)
    m.observe_call("mongodb", "find", 0.1, True)  # not a backend of ours
    m.observe_call("redis", "two words", 0.1, True)  # not an operation's name
    for i in range(MAX_OPS_PER_BACKEND + 5):
        m.observe_call("s3", f"op{i}", 0.01, True)
    assert sample(m, "examcast_backend_call_seconds_count", backend="postgresql", op="SqliteTakes")
    assert sample(m, "examcast_backend_errors_total", backend="postgresql", op="SqliteTakes") == 1
    assert sample(m, "examcast_backend_call_seconds_count", backend="other", op="find") == 1
    assert sample(m, "examcast_backend_call_seconds_count", backend="redis", op="other") == 1
    assert sample(m, "examcast_backend_call_seconds_count", backend="s3", op="other") == 5
    s3_ops = {
        s.labels["op"]
        for family in text_string_to_metric_families(m.render().decode())
        for s in family.samples
        if s.name == "examcast_backend_call_seconds_count" and s.labels.get("backend") == "s3"
    }
    assert len(s3_ops) == MAX_OPS_PER_BACKEND + 1


def test_a_call_timer_reports_a_failure_when_its_block_raises() -> None:
    m = Metrics("node-a")
    with CallTimer(m, "redis", "take_many"):
        pass
    with pytest.raises(ConnectionError), CallTimer(m, "redis", "take_many"):
        raise ConnectionError("refused")
    assert sample(m, "examcast_backend_call_seconds_count", backend="redis", op="take_many") == 2
    assert sample(m, "examcast_backend_errors_total", backend="redis", op="take_many") == 1


class SqliteThings:
    """An adapter (module level, as storage's are)."""

    @staticmethod
    def count(conn: Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM takes").fetchone()[0])

    @staticmethod
    def broken(conn: Connection) -> None:
        conn.execute("SELECT * FROM no_such_table")


async def test_database_calls_are_timed_by_the_adapter_that_made_them(tmp_path: Path) -> None:
    m = Metrics("node-a")
    db = TimedDatabase(open_database("", tmp_path / "db.sqlite3"), m)
    await db.open()
    try:
        assert await db.call(SqliteThings.count) == 0
        with pytest.raises(Exception, match="no_such_table"):
            await db.call(SqliteThings.broken)
        await db.ping()
    finally:
        await db.close()
    calls = "examcast_backend_call_seconds_count"
    assert sample(m, calls, backend="sqlite", op="SqliteThings") == 2
    assert sample(m, "examcast_backend_errors_total", backend="sqlite", op="SqliteThings") == 1
    assert sample(m, calls, backend="sqlite", op="ping") == 1
    assert sample(m, calls, backend="sqlite", op="open") == 1


def test_udp_drops_of_this_process_are_read_from_proc() -> None:
    """A socket nobody reads, with a small receive buffer, flooded: the kernel's drops on it
    are this process's, and a socket that closes takes none of the count back."""
    m = Metrics("node-a")
    m.render()
    before = sample(m, "examcast_udp_drops_total")
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        receiver.bind(("127.0.0.1", 0))
        for _ in range(200):
            sender.sendto(b"x" * 1000, receiver.getsockname())
        m.render()
        dropped = sample(m, "examcast_udp_drops_total") - before
        assert dropped > 100
        assert sample(m, "examcast_udp_sockets") >= 2
        assert sample(m, "examcast_udp_receive_queue_bytes") > 0
    finally:
        receiver.close()
        sender.close()
    m.render()
    assert sample(m, "examcast_udp_drops_total") - before == dropped


async def test_deadlines_fired_are_counted_by_action() -> None:
    clock = FakeClock()
    b = Bench(exam_of(online(reading_limit_s=10, recording_limit_s=30)), clock)
    m = Metrics("node-a")
    b.takes.listeners.clear()
    b.runner = AttemptRunner(
        b.attempts, b.exams, b.takes, b.takes, b.clock, b.scheduler, telemetry=m
    )
    b.takes.add_listener(b.runner.on_take_event)

    async def step(a: Attempt, now: float) -> Attempt:
        return enter_formal(a, b.exam, now)

    await b.runner.run(b.exam, "q1", "candidate-1", step, create=True)
    await b.advance(10)  # the reading time is over: the server starts the recording
    await b.advance(30)  # ... and its limit stops it
    assert sample(m, "examcast_deadlines_fired_total", action="start_recording") == 1
    assert sample(m, "examcast_deadlines_fired_total", action="stop_recording") == 1


def test_the_walls_pictures_are_counted_from_their_stats() -> None:
    """Each scrape adds what the wall made, dropped and spent since the last one (a
    counter never goes back); the cameras and the stalest picture's age are gauges."""
    m = Metrics("node-a")

    def stats(cameras: int, made: int, dropped: int, cpu: float) -> PictureStats:
        return PictureStats(
            cameras=cameras,
            watched_owners=cameras,
            keyframe_requests=made,
            pictures=made,
            dropped=dropped,
            pending=0,
            failed=1,
            worker_cpu_s=cpu,
            loop_cpu_s=cpu / 10,
            previewed=cameras - 1,
        )

    m.refresh({}, 0, False, stats(4, 10, 2, 0.5), [1.0, 2.75, 0.5])
    m.refresh({}, 0, False, stats(3, 16, 2, 1.0), [2.5])
    assert sample(m, "examcast_wall_cameras") == 3
    assert sample(m, "examcast_wall_cameras_previewed") == 2
    assert sample(m, "examcast_wall_picture_age_max_seconds") == 2.5
    assert sample(m, "examcast_wall_pictures_total", outcome="made") == 16
    assert sample(m, "examcast_wall_pictures_total", outcome="dropped") == 2
    assert sample(m, "examcast_wall_pictures_total", outcome="failed") == 1
    assert sample(m, "examcast_wall_picture_cpu_seconds_total") == pytest.approx(1.1)
    m.refresh({}, 0, False, stats(0, 16, 2, 1.0), [])
    assert sample(m, "examcast_wall_picture_age_max_seconds") == 0
    assert sample(m, "examcast_wall_pictures_total", outcome="made") == 16


def test_the_media_gauges_are_the_hubs_counts() -> None:
    m = Metrics("n1")
    m.refresh({"primary": 3, "viewer": 1, "recording": 2, "previews": 1}, 2, False)
    assert sample(m, "examcast_media_sessions", role="primary") == 3
    assert sample(m, "examcast_media_sessions", role="viewer") == 1
    assert sample(m, "examcast_streams_recording") == 2
    assert sample(m, "examcast_previews_sending") == 1
    assert sample(m, "examcast_media_sessions", role="previews") == 0  # not a role

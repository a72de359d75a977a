"""The suite runs in pytest-xdist workers at once: what each worker names must be its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from bench.spawn import free_port, use_port_block
from tests.conftest import DIRECTORIES_IN_ORDER, LONGEST_FIRST, NO_MEDIA, _group
from tests.support.workers import per_worker, worker_id, worker_number, worker_ports

ROOT = Path(__file__).resolve().parents[2]


def test_each_worker_has_its_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert (worker_id(), worker_number()) == ("gw3", 3)
    assert per_worker("examcast_test") == "examcast_test_gw3"
    assert per_worker("examcast-test", sep="-") == "examcast-test-gw3"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert (worker_id(), worker_number()) == ("main", 0)


@pytest.fixture
def no_port_block() -> Iterator[None]:
    """Whatever block the tests set, put back afterwards (none without xdist)."""
    yield
    use_port_block(worker_ports() if worker_id().startswith("gw") else None)


def test_a_workers_ports_come_from_its_own_block_never_twice(no_port_block: None) -> None:
    block = worker_ports(2)
    assert block == range(22000, 23000)  # below the kernel's ephemeral ports: nobody else's
    assert worker_ports(5) == range(25000, 26000)
    use_port_block(block)
    first = free_port()
    assert first in block
    # A port someone listens on is passed over; none is handed out twice in a row.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy = block[(first - block.start + 1) % len(block)]
        try:
            taken.bind(("127.0.0.1", busy))
        except OSError:
            pytest.skip(f"port {busy} is in use here")
        taken.listen()
        ports = [free_port() for _ in range(5)]
    assert busy not in ports
    assert len({first, *ports}) == 6
    assert all(p in block for p in ports)


def test_a_process_a_test_starts_asks_the_kernel(no_port_block: None) -> None:
    """Not the worker's block: it would hand out the worker's next ports a second time."""
    use_port_block(worker_ports(2))
    env = {**os.environ, "PYTEST_XDIST_WORKER": "gw2"}
    done = subprocess.run(
        [sys.executable, "-c", "from bench.spawn import free_port; print(free_port())"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) not in worker_ports(2)


def test_the_longest_files_named_to_go_first_exist() -> None:
    """A renamed or removed file would silently lose its place at the start of the run."""
    for path in LONGEST_FIRST:
        assert (ROOT / path).is_file(), path
        assert path.startswith(DIRECTORIES_IN_ORDER), path


# What puts media on the wire or records: a file using any of these belongs in the real-time
# group (its camera and the server's recorder work in real time).
MEDIA = ("getUserMedia", "through_journey", "device-check", "start-recording", "publish(")


def test_the_browser_files_out_of_the_realtime_group_use_no_media() -> None:
    """A file named NO_MEDIA that later records would run beside the real-time group."""
    for path in NO_MEDIA:
        source = (ROOT / path).read_text()
        assert path.startswith("tests/e2e/"), path
        assert not [word for word in MEDIA if word in source], path
        assert _group(cast(pytest.Item, SimpleNamespace(nodeid=f"{path}::test"))) == path
    for path in ("tests/e2e/test_exam.py", "tests/integration/test_reconnect.py"):
        assert _group(cast(pytest.Item, SimpleNamespace(nodeid=f"{path}::test"))) == "realtime"

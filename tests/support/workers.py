"""Which pytest-xdist worker this process is, so each worker can have services of its own.

``scripts/test`` runs the suite in several worker processes at once (pytest-xdist, see
``[tool.pytest.ini_options]`` and ``tests/conftest.py``). Anything a test or fixture names
globally must differ between workers: ports (``bench.spawn.free_port`` hands out the
worker's own, :func:`worker_ports`), network namespaces and veth links
(``tests/support/netns.py``), and the databases, buckets and key prefixes on the shared
test services::

    database = per_worker("examcast_test")          # examcast_test_gw1 (PostgreSQL)
    bucket = per_worker("examcast-test", sep="-")   # examcast-test-gw1 (S3: no "_")

Without xdist (``-n0``, ``-p no:xdist``) the worker is ``main`` with number 0.
"""

from __future__ import annotations

import os


def worker_id() -> str:
    """``gw0``, ``gw1``, … under pytest-xdist; ``main`` without it."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def worker_number() -> int:
    """0, 1, … under pytest-xdist (``gwN``); 0 without it."""
    worker = worker_id()
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def per_worker(name: str, sep: str = "_") -> str:
    """``name`` made this worker's own: a database, bucket or prefix no other worker uses."""
    return f"{name}{sep}{worker_id()}"


# Each worker's ports (bench.spawn.free_port): a block of its own below the kernel's
# ephemeral range (32768-60999), away from the fixed ports of the test services (Redis 6390,
# PostgreSQL 5439, SeaweedFS 8333 and its neighbours).
PORTS_FROM = 20000
PORTS_PER_WORKER = 1000
PORT_BLOCKS = 12


def worker_ports(number: int | None = None) -> range:
    """The ports of worker ``number`` (this one's by default)."""
    first = (
        PORTS_FROM
        + (worker_number() if number is None else number) % PORT_BLOCKS * PORTS_PER_WORKER
    )
    return range(first, first + PORTS_PER_WORKER)

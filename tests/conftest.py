from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

from bench.spawn import use_port_block
from tests.support.workers import worker_id, worker_ports

ARTIFACTS = Path(os.environ.get("EXAMCAST_ARTIFACTS", Path(__file__).parent.parent / "artifacts"))

# -- running in parallel (pytest-xdist) ----------------------------------------------------
#
# pyproject.toml asks for ``-n auto --dist loadgroup --no-loadscope-reorder``: worker processes
# each take whole groups in the order collected: every browser test (and REALTIME) one group, so one
# worker runs them one after the other (two or three Chromiums with their servers at once
# starve each other's real-time media on 2 cores: drops, fills and the phone failed so), and
# each other file a group of its own (a module's fixtures are made once). Most of the
# integration tests' time is spent waiting (media in real time), so the other workers run
# them beside the browser tests. The whole suite or a folder of it runs on WORKERS workers;
# files named one by one run in this process (as does ``-n0``); ``-n N`` or
# EXAMCAST_TEST_WORKERS=N asks for N. Anything a test names globally must be the worker's
# own: see tests/support/workers.py.
WORKERS = 2  # the browser tests on one, the rest on the other (3 starved the media)

# The files that take longest, started first so the run does not end with one of them alone
# (a minute or more each, measured under xdist on 2 busy cores). After them: the rest of
# tests/e2e, tests/integration, then the short unit files that fill the workers' gaps.
LONGEST_FIRST = (
    "tests/e2e/test_network_drops.py",
    "tests/integration/test_fills.py",
    "tests/e2e/test_local_copy.py",
    "tests/e2e/test_console.py",
    "tests/e2e/test_device_check.py",
    "tests/e2e/test_exam.py",
    "tests/e2e/test_proctor_wall.py",
    "tests/e2e/test_second_camera.py",
    "tests/e2e/test_incidents.py",
    "tests/e2e/test_account_security.py",
    "tests/e2e/test_fill_upload.py",
    "tests/e2e/test_journey.py",
    "tests/integration/test_spotlight_relay.py",
    "tests/integration/test_recording.py",
)
# Integration files that cut a client's uplink for seconds and wait for its media to come
# back on the real clock: beside the browser tests they missed it (twice in three runs), so
# they run in the browser tests' group, one after another.
REALTIME = (
    "tests/integration/test_fills.py",
    "tests/integration/test_recording.py",  # every frame counted (lost some beside browsers)
    "tests/integration/test_recording_loss.py",
    "tests/integration/test_reconnect.py",
    # Three nodes' cameras in real time: at OTHERS_NICE beside the browsers, their test
    # peers and nodes got too little of the cores (a camera's connection dropped, a page's
    # socket missed its pings) on a slow machine.
    "tests/integration/test_failover.py",
    "tests/integration/test_wall_nodes.py",
)
# Browser tests without camera, microphone or recording (pages and forms): nothing of theirs
# is in real time, so each file is a group of its own like an integration file and runs on
# the other worker (at OTHERS_NICE, its Chromium too) instead of waiting its turn behind the
# real-time group's media. Only as many as keep the other worker shorter than the real-time
# one.
NO_MEDIA = (
    "tests/e2e/test_account_security.py",
    "tests/e2e/test_console_reimport.py",
)
DIRECTORIES_IN_ORDER = ("tests/e2e/", "tests/integration/", "tests/unit/")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    asked = os.environ.get("EXAMCAST_TEST_WORKERS")
    if asked:
        return int(asked)
    if any(str(arg).split("::")[0].endswith(".py") for arg in config.args):
        return 0  # files named one by one (a test being worked on): in this process
    return WORKERS


def pytest_configure(config: pytest.Config) -> None:
    if worker_id().startswith("gw"):  # an xdist worker: servers on ports of its own
        use_port_block(worker_ports())


# A worker running anything but the real-time group yields the CPU to the one running it
# (its browsers and servers play media in real time; these tests mostly wait or compute).
OTHERS_NICE = 10
_lowered = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _lowered
    if _lowered or not worker_id().startswith("gw") or _group(item) == "realtime":
        return
    os.nice(OTHERS_NICE)  # this thread, and the threads and processes it starts from now on
    _lowered = True


def _group(item: pytest.Item) -> str:
    return _group_of(item.nodeid)


def _group_of(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    if path in NO_MEDIA:
        return path
    return "realtime" if path.startswith("tests/e2e/") or path in REALTIME else path


class GroupScheduling(LoadScopeScheduling):
    """``--dist loadgroup`` by _group_of. pytest-xdist 3.8 marks a test's group by appending
    ``@group`` to ``item._nodeid`` in the worker, but pytest 9 reads a node's id from
    ``item._id``: the suffix never reaches the scheduler, and each test was a group of its own
    (both workers ran browser tests at once, and the real-time group was no group)."""

    def _split_scope(self, nodeid: str) -> str:
        return _group_of(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> GroupScheduling | None:
    return GroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


def _rank(item: pytest.Item) -> tuple[int, int]:
    path = item.nodeid.split("::")[0]
    if path in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(path))
    for rank, directory in enumerate(DIRECTORIES_IN_ORDER, start=1):
        if path.startswith(directory):
            return (rank, 0)
    return (len(DIRECTORIES_IN_ORDER) + 1, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first, each file's tests together and in their own order (a stable sort:
    every xdist worker must collect the same order); the browser tests (but NO_MEDIA) and REALTIME
    one group."""
    items.sort(key=_rank)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder for this test's screenshots and other things a person may want to see."""
    path = ARTIFACTS / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path

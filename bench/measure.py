"""What the bench measures about a process and the machine: CPU, memory, UDP drops.

CPU is the process's user + system time (every thread) between two marks;
memory is its resident set sampled every half second; UDP drops come from
the kernel's counters in ``/proc/net/snmp`` (for the whole machine, or the
whole network namespace the bench runs in) and, per socket, from the
``drops`` column of ``/proc/net/udp`` for the sockets a process holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RSS_SAMPLE_S = 0.5


@dataclass(frozen=True)
class CpuMark:
    wall: float
    cpu: float  # user + system seconds, all threads
    main_thread: float  # the thread whose id is the pid: the event loop's


def cpu_mark(process: psutil.Process) -> CpuMark:
    times = process.cpu_times()
    main = 0.0
    with contextlib.suppress(psutil.Error):
        for thread in process.threads():
            if thread.id == process.pid:
                main = thread.user_time + thread.system_time
    return CpuMark(time.monotonic(), times.user + times.system, main)


def machine_busy() -> float:
    """CPU seconds every CPU of the machine has spent busy (not idle or waiting for I/O)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def pct_of_core(start: CpuMark, end: CpuMark) -> tuple[float, float]:
    """(all threads, main thread) CPU between two marks, in percent of one core."""
    wall = max(end.wall - start.wall, 1e-9)
    return (end.cpu - start.cpu) / wall * 100, (end.main_thread - start.main_thread) / wall * 100


@dataclass
class MemorySampler:
    """Samples a process's RSS every :data:`RSS_SAMPLE_S` until stopped."""

    process: psutil.Process
    peak: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def sample(self) -> int:
        try:
            rss = int(self.process.memory_info().rss)
        except psutil.Error:
            return 0
        self.peak = max(self.peak, rss)
        self.samples.append((time.monotonic(), rss))
        return rss

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(RSS_SAMPLE_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


def udp_counters(snmp: Path = Path("/proc/net/snmp")) -> dict[str, int]:
    """The kernel's UDP counters (``InErrors``, ``RcvbufErrors``, ...)."""
    try:
        lines = [line.split() for line in snmp.read_text().splitlines() if line.startswith("Udp:")]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    return {name: int(value) for name, value in zip(lines[0][1:], lines[1][1:], strict=False)}


def udp_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    names = ("InDatagrams", "InErrors", "RcvbufErrors", "NoPorts")
    return {name: after.get(name, 0) - before.get(name, 0) for name in names}


def socket_drops(pid: int) -> int | None:
    """Datagrams the kernel dropped on the UDP sockets ``pid`` holds open now."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return None
    total = 0
    for table in ("udp", "udp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) >= 13 and cols[9] in inodes:
                total += int(cols[12])
    return total


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` (threads started later inherit it) to ``cpus``."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)


def mib(value: float) -> float:
    return round(value / (1024 * 1024), 1)

"""Fail a test whose code blocked the event loop (as aiohttp's own suite does).

A watchdog thread asks the loop every 50 ms to run a callback and waits for
it. A late answer alone proves nothing on a shared machine: the loop thread
may simply not have been scheduled while other processes ran. So a stall is
measured as the time the loop thread *spent* before answering: its own CPU
time (the thread's CPU clock) plus the time it was seen in uninterruptible
disk waits (state ``D``: a synchronous fsync or file read on the loop). Code
that computes or does disk I/O on the loop is caught; a busy neighbour is not.
Nor is the garbage collector: a full collection of the test process's heap
(hundreds of tests' objects in one pytest worker) can take a second on the loop
thread whatever the code under test does; its time is measured (``gc.callbacks``)
and left out, and reported beside a stall.

While it waits for an answer, the watchdog also notes where the loop thread is
(its innermost frames, every 10 ms): the worst stall's places come with it, so
a failure names the code that blocked the loop.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

_SAMPLE_S = 0.01
_FRAMES = 4  # the innermost frames of the loop thread noted in a sample


class LoopWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.05) -> None:
        self._loop = loop
        self._interval = interval
        self._stop = threading.Event()
        self.max_stall = 0.0  # seconds the loop thread spent running or in disk waits
        self.max_wall = 0.0  # the longest wait for an answer, for the message only
        self._thread = threading.Thread(target=self._run, name="loopwatch", daemon=True)
        self._cpu_clock = 0
        self._stat: Path | None = None
        self._loop_thread = 0
        self._gc_started: float | None = None
        self.gc_s = 0.0  # the loop thread's time in the garbage collector, while watched
        self._worst: Counter[str] = Counter()  # where the loop thread was, in the worst stall

    def start(self) -> LoopWatch:
        """Call from the loop's own thread."""
        self._loop_thread = threading.get_ident()
        self._cpu_clock = time.pthread_getcpuclockid(self._loop_thread)
        gc.callbacks.append(self._on_gc)
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat")
        self._stat = stat if stat.exists() else None
        self._thread.start()
        return self

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self._loop_thread:
            return
        if phase == "start":
            self._gc_started = time.clock_gettime(self._cpu_clock)
        elif self._gc_started is not None:
            self.gc_s += time.clock_gettime(self._cpu_clock) - self._gc_started
            self._gc_started = None

    def _cpu(self) -> float:
        return time.clock_gettime(self._cpu_clock)

    def _in_disk_wait(self) -> bool:
        if self._stat is None:
            return False
        try:
            text = self._stat.read_text()
        except OSError:
            return False
        # The state follows the command name, which is in parentheses and may hold spaces.
        return text[text.rfind(")") + 2 : text.rfind(")") + 3] == "D"

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            asked = time.monotonic()
            cpu_before = self._cpu()
            gc_before = self.gc_s
            answered = threading.Event()
            try:
                self._loop.call_soon_threadsafe(answered.set)
            except RuntimeError:
                return  # loop closed
            disk_wait = 0.0
            places: Counter[str] = Counter()
            while not answered.wait(_SAMPLE_S):
                if self._stop.is_set():
                    return
                if self._in_disk_wait():
                    disk_wait += _SAMPLE_S
                places[self._place()] += 1
            spent = self._cpu() - cpu_before + disk_wait - (self.gc_s - gc_before)
            if spent > self.max_stall:
                self.max_stall = spent
                self._worst = places
            self.max_wall = max(self.max_wall, time.monotonic() - asked)

    def _place(self) -> str:
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return "?"
        stack = traceback.extract_stack(frame, limit=_FRAMES)  # the innermost only
        return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))

    def where(self, most: int = 3) -> str:
        """The places the loop thread was seen most often in the worst stall, with counts."""
        return "; ".join(f"{count}x {place}" for place, count in self._worst.most_common(most))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        return self.max_stall

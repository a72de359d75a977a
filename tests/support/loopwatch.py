"""Fail a test whose code blocked the event loop (as aiohttp's own suite does).

A watchdog thread asks the loop every 50 ms to note the time; the longest
wait between asking and being answered is the worst stall the loop had.
"""

from __future__ import annotations

import asyncio
import threading
import time


class LoopWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.05) -> None:
        self._loop = loop
        self._interval = interval
        self._stop = threading.Event()
        self.max_stall = 0.0
        self._thread = threading.Thread(target=self._run, name="loopwatch", daemon=True)

    def start(self) -> LoopWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            asked = time.monotonic()
            answered = threading.Event()
            try:
                self._loop.call_soon_threadsafe(answered.set)
            except RuntimeError:
                return  # loop closed
            while not answered.wait(0.05):
                if self._stop.is_set():
                    return
                self.max_stall = max(self.max_stall, time.monotonic() - asked)
            self.max_stall = max(self.max_stall, time.monotonic() - asked)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.max_stall

"""One viewer's queue of encoded frames: bounded, and skipping to the next keyframe.

The relay puts every frame of a camera into each viewer's queue on the event
loop, in the step the frame arrived (it never waits); the viewer's sender
takes them out at its own pace. A queue that is full has fallen behind: it
drops what it holds and waits for the next keyframe (asking for one, merged
with every other request), so a slow viewer costs neither memory nor delay to
anyone else. Sound has no keyframes: a full audio queue drops its backlog and
goes on with the newest frame.

While the server sheds load (``shedding()`` is true, see :mod:`media.load`)
video takes keyframes only; its next picture after that is a keyframe again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RelayFrame:
    """An encoded frame as the relay hands it to viewers (shared, never copied)."""

    data: bytes
    timestamp: int  # the source's RTP ticks, unwrapped, from its first frame
    clock_rate: int
    keyframe: bool
    source: object  # the relay it came from: a change of source restarts the timestamps
    arrived: float  # monotonic: when the server had the frame (for latency figures)


@dataclass
class QueueStats:
    delivered: int = 0  # frames taken out by the viewer's sender
    dropped: int = 0  # frames thrown away (a skip, or waiting for a keyframe)
    skips: int = 0  # times the queue was full and skipped ahead
    peak: int = 0  # the most frames it ever held
    shed: int = 0  # frames left out to take keyframes only (load shedding)


class ViewerQueue:
    """``limit`` frames at most; ``need_keyframe`` is called when video must skip ahead."""

    def __init__(
        self,
        kind: str,
        limit: int,
        need_keyframe: Callable[[], None],
        shedding: Callable[[], bool] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("a viewer queue holds at least one frame")
        self.kind = kind
        self.limit = limit
        self._shedding = shedding
        self.stats = QueueStats()
        self._need_keyframe = need_keyframe
        self._frames: deque[RelayFrame] = deque()
        self._waiting_keyframe = kind == "video"
        self._getter: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def waiting_keyframe(self) -> bool:
        return self._waiting_keyframe

    def wait_for_keyframe(self) -> None:
        """Take no picture until the next keyframe (a new source, or the stream broke);
        frames already queued still go out."""
        if self.kind == "video":
            self._waiting_keyframe = True

    def put(self, frame: RelayFrame) -> None:
        if self._closed:
            return
        shed = self.kind == "video" and not frame.keyframe and self._shed()
        if self._waiting_keyframe or shed:
            if not frame.keyframe:
                self.stats.dropped += 1
                if shed:
                    self.stats.shed += 1
                    self._waiting_keyframe = True  # after a gap, a keyframe comes first
                return
            self._waiting_keyframe = False
        if len(self._frames) >= self.limit:
            self.stats.dropped += len(self._frames)
            self.stats.skips += 1
            self._frames.clear()
            if self.kind == "video" and not frame.keyframe:
                self.stats.dropped += 1
                self._waiting_keyframe = True
                self._need_keyframe()
                return
        self._frames.append(frame)
        self.stats.peak = max(self.stats.peak, len(self._frames))
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    def _shed(self) -> bool:
        return self._shedding is not None and self._shedding()

    def prefill(self, frames: list[RelayFrame]) -> bool:
        """Start with ``frames`` (a keyframe and the frames since); False if they do not fit."""
        if not frames or not frames[0].keyframe or len(frames) > self.limit:
            return False
        self._waiting_keyframe = False
        for frame in frames:
            self.put(frame)
        return True

    async def get(self) -> RelayFrame | None:
        """The next frame; None once the queue is closed."""
        while not self._frames:
            if self._closed:
                return None
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        self.stats.delivered += 1
        return self._frames.popleft()

    def close(self) -> None:
        self._closed = True
        self._frames.clear()
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

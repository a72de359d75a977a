"""A camera lost: no media from it for ``after_s`` (2 s, :data:`media.hub.MEDIA_SILENCE_S`).

The media's freshness is :attr:`media.sources.TrackSource.last_frame_at` (its
picture when it sends one, its sound otherwise), on the media clock (monotonic);
the condition begins when the last frame arrived, so its onset is that moment,
not when a sample noticed it.
"""

from __future__ import annotations

from collections.abc import Iterable

from exams.proctoring.conditions import Change, Condition
from media.sources import TrackSource

# Media older than this is not flowing now: the condition has begun (it fires at after_s).
STALE_S = 0.5


def last_frame_at(sources: Iterable[TrackSource]) -> float | None:
    """When the camera's newest frame arrived (media clock): its picture if it has one."""
    sources = list(sources)
    video = [s for s in sources if s.kind == "video"]
    times = [s.last_frame_at for s in video or sources if s.last_frame_at is not None]
    return max(times, default=None)


class LostWatch:
    """One camera of one take."""

    def __init__(self, after_s: float, started_at: float) -> None:
        self.condition = Condition(after_s)
        self._last_media = started_at  # server clock: the media was last known fresh

    def sample(self, last_frame: float | None, now: float, media_now: float) -> Change | None:
        """``last_frame``: :func:`last_frame_at` of the camera's session now (None: no
        session, or no frame yet)."""
        if last_frame is not None:
            self._last_media = max(self._last_media, now - max(0.0, media_now - last_frame))
        if now - self._last_media < STALE_S:
            return self.condition.feed(False, now)
        return self.condition.feed(True, self._last_media) or self.condition.poll(now)

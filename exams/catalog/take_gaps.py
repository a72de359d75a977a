"""A take's holes on its own clock, and the fills that close them (issue #14).

Every time here is on the *take's clock*: seconds since the take's
``started_at`` (the server's epoch clock). The recorder writes the holes it
saw (``gaps``) in each camera's manifest; a fill uploaded from the page's
local copy becomes a ``fill`` segment that ``covers`` a stretch. What is
still lacking is the recorded holes minus what the fills cover; a take is
*complete* when nothing is lacking on any camera.

The first fill keeps the recorder's own holes under ``recorded_gaps`` and
from then on ``gaps`` holds what is still open, so every reader of ``gaps``
(playback, the console, the export) sees the take as it now is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

Span = tuple[float, float]

MIN_GAP_S = 0.05  # a hole shorter than this is a rounding, not a hole
# A take the server lost (restart) and had no limit: what is missing after its last media
# counts up to at most this long (the page's copy cannot have more than it recorded).
UNLIMITED_TAIL_S = 1800.0
FILL = "fill"


def subtract(gaps: Iterable[Span], covers: Iterable[Span]) -> list[Span]:
    """``gaps`` with every stretch of ``covers`` taken out (pieces shorter than
    :data:`MIN_GAP_S` dropped)."""
    out = [(float(a), float(b)) for a, b in gaps]
    for c0, c1 in covers:
        pieces: list[Span] = []
        for a, b in out:
            if c1 <= a or c0 >= b:
                pieces.append((a, b))
                continue
            if c0 > a:
                pieces.append((a, c0))
            if c1 < b:
                pieces.append((c1, b))
        out = pieces
    return [(round(a, 3), round(b, 3)) for a, b in out if b - a >= MIN_GAP_S]


def overlap(a: Span, b: Span) -> Span | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if hi - lo >= MIN_GAP_S else None


def cameras(manifest: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(name, that camera's part of the manifest): ``primary`` is the top level."""
    yield "primary", manifest
    yield from (manifest.get("cameras") or {}).items()


def recorded_gaps(part: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The holes the recorder saw (before any fill)."""
    if "recorded_gaps" in part:
        return list(part["recorded_gaps"])
    return list(part.get("gaps") or [])


def covers(part: Mapping[str, Any]) -> list[Span]:
    return [
        (float(s["covers"][0]), float(s["covers"][1]))
        for s in part.get("segments") or []
        if s.get("reason") == FILL and s.get("covers")
    ]


def open_gaps(part: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One camera's stretches still lacking: each recorded hole minus the fills."""
    out: list[dict[str, Any]] = []
    filled = covers(part)
    for gap in recorded_gaps(part):
        if gap.get("start_s") is None or gap.get("end_s") is None:
            continue
        for a, b in subtract([(gap["start_s"], gap["end_s"])], filled):
            out.append({"start_s": a, "end_s": b, "reason": gap.get("reason", "lost")})
    return out


def is_complete(manifest: Mapping[str, Any]) -> bool:
    return bool(manifest.get("segments")) and not any(
        open_gaps(part) for _, part in cameras(manifest)
    )


def with_fill(part: dict[str, Any], segment: dict[str, Any]) -> dict[str, Any]:
    """One camera's part of the manifest with ``segment`` (a fill) added: its holes
    recomputed and ``recorded_s`` counting what the fill covers."""
    new = dict(part)
    new["recorded_gaps"] = recorded_gaps(part)
    new["segments"] = [*(part.get("segments") or []), segment]
    new["gaps"] = open_gaps(new)
    live = sum(s.get("picture_s") or 0.0 for s in new["segments"] if s.get("reason") != FILL)
    filled = sum(b - a for a, b in covers(new))
    new["recorded_s"] = round(live + filled, 3)
    return new


def trailing_gaps(
    segments: Sequence[Mapping[str, Any]], end_s: float, reason: str = "server_restart"
) -> list[dict[str, Any]]:
    """The holes of a camera whose server died: between its segments (placed on the
    take's clock) and from its last media to ``end_s``, when the take would have stopped."""
    placed = sorted(
        (float(s["start_s"]), float(s["start_s"]) + float(s.get("duration_s") or 0.0))
        for s in segments
        if s.get("start_s") is not None
    )
    out: list[dict[str, Any]] = []
    reached = placed[0][1] if placed else 0.0
    for start, end in placed[1:]:
        if start - reached >= MIN_GAP_S:
            out.append(_gap(reached, start, "media_lost"))
        reached = max(reached, end)
    if end_s - reached >= MIN_GAP_S:
        out.append(_gap(reached, end_s, reason))
    return out


def recovery_end_s(
    started_at: float, stopped_at: float, limit_s: float | None, last_s: float
) -> float:
    """Until when (take clock) a take the server lost should have media: its limit, but no
    later than when the server came back and stopped it; a take without a limit at most
    :data:`UNLIMITED_TAIL_S` past its last media."""
    end = stopped_at - started_at
    if limit_s is not None:
        end = min(end, limit_s)
    else:
        end = min(end, last_s + UNLIMITED_TAIL_S)
    return round(max(end, last_s), 3)


def _gap(start: float, end: float, reason: str) -> dict[str, Any]:
    return {"start_s": round(start, 3), "end_s": round(end, 3), "reason": reason}


# -- placing a fill on the take's clock -------------------------------------------------------


def fill_zero(started_at_ms: float, take_started_at: float) -> float:
    """Where the page's recording's time 0 sits on the take's clock."""
    return started_at_ms / 1000 - take_started_at


def claimed_span(from_ms: float, to_ms: float, take_started_at: float) -> Span:
    """The stretch (take clock) a fill says it covers, from server epoch milliseconds."""
    return (from_ms / 1000 - take_started_at, to_ms / 1000 - take_started_at)

"""A take continued on this node after the node recording it died (issue #15).

What the dead node left (its files brought here from the object store and recovered by
:func:`media.recovery.recover_take`) is the take's *prior* part, per camera. The recorders
here number their segments after the prior files, start after the prior media ends on the
take's clock (nothing recorded twice), and open a ``node_lost`` gap from there to their
first new frame, for the page's local copy to fill. At stop each camera's manifest is the
prior segments and gaps followed by the new ones, in the shape a take recorded on one node
has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exams.catalog import take_gaps

NODE_LOST = "node_lost"
PRIMARY = "primary"
_SEGMENT = re.compile(r"segment-(\d+)\.")


@dataclass(frozen=True)
class Prior:
    """One camera's part of a take as the node that died left it."""

    segments: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    end_s: float = 0.0  # where its media ends on the take's clock (0: none survived)
    first_index: int = 0  # the number of the first segment recorded here
    recorded_s: float = 0.0


def next_index(folder: Path) -> int:
    """The number after every ``segment-NNN.*`` file in ``folder`` (0 when there is none)."""
    if not folder.is_dir():
        return 0
    numbers = [int(m[1]) for p in folder.iterdir() if (m := _SEGMENT.match(p.name))]
    return max(numbers, default=-1) + 1


def priors(recovered: Mapping[str, Any], take_dir: Path) -> dict[str, Prior]:
    """Each camera's prior part (the primary's always) from ``recover_take``'s manifest."""
    parts: dict[str, Mapping[str, Any]] = {PRIMARY: recovered}
    parts |= recovered.get("cameras") or {}
    out = {}
    for name, part in parts.items():
        segments = [dict(s) for s in part.get("segments") or [] if s.get("start_s") is not None]
        ends = [float(s["start_s"]) + float(s.get("duration_s") or 0.0) for s in segments]
        end_s = max(ends, default=0.0)
        folder = take_dir if name == PRIMARY else take_dir / name
        out[name] = Prior(
            segments=segments,
            # holes between the surviving segments (recovery knows no more of its gaps)
            gaps=take_gaps.trailing_gaps(segments, end_s),
            end_s=round(end_s, 3),
            first_index=next_index(folder),
            recorded_s=float(part.get("recorded_s") or 0.0),
        )
    return out


def merged(prior: Prior, part: dict[str, Any]) -> dict[str, Any]:
    """A camera's manifest part recorded here, after its prior part."""
    out = dict(part)
    out["segments"] = [*prior.segments, *(part.get("segments") or [])]
    out["gaps"] = [*prior.gaps, *(part.get("gaps") or [])]
    out["recorded_s"] = round(prior.recorded_s + float(part.get("recorded_s") or 0.0), 3)
    out["continued"] = {"prior_segments": len(prior.segments), "prior_end_s": prior.end_s}
    return out


def left_behind(prior: Prior, now_s: float) -> dict[str, Any]:
    """A camera with a prior part that did not record here: its prior segments, lost from
    their end until the take stopped (``now_s``, take clock)."""
    gap = {"start_s": prior.end_s, "end_s": round(max(now_s, prior.end_s), 3), "reason": NODE_LOST}
    part: dict[str, Any] = {"segments": [], "gaps": [gap], "recorded_s": 0.0, "stats": {}}
    return merged(prior, part)

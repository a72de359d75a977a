"""A stopped take's segments as its manifest describes them (docs/signaling.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from media.writer import SegmentResult, StreamSpec

AUDIO_FRAME_MS = 20.0


class SegmentFacts(Protocol):
    index: int
    reason: str
    peer_id: str
    start_s: float
    video: StreamSpec | None
    audio: StreamSpec | None


def segment_json(seg: SegmentFacts, res: SegmentResult, directory: Path) -> dict[str, Any]:
    """``duration_s``: how long the file plays (its longest stream); ``picture_s``: how
    much of that has a picture (0 for sound recorded alone)."""
    streams = []
    end_ms = picture_ms = 0.0
    for spec in (seg.video, seg.audio):
        if spec is None:
            continue
        st = res.streams.get(spec.kind)
        frames = st.frames if st else 0
        first = st.first_pts_ms if st else None
        last = st.last_pts_ms if st else None
        entry: dict[str, Any] = {
            "kind": spec.kind,
            "codec": spec.codec,
            "frames": frames,
            "first_pts_ms": first,
            "last_pts_ms": last,
        }
        if spec.kind == "video":
            entry.update(width=spec.width, height=spec.height)
        if first is not None and last is not None:
            step = (last - first) / (frames - 1) if frames > 1 else 0.0
            if spec.kind == "audio":
                step = AUDIO_FRAME_MS
            else:
                picture_ms = last + step - first
            end_ms = max(end_ms, last + step)
        streams.append(entry)
    return {
        "index": seg.index,
        "file": res.path.relative_to(directory).as_posix(),
        "container": res.path.suffix.lstrip("."),
        "reason": seg.reason,
        "peer": seg.peer_id,
        "start_s": rounded(seg.start_s),
        "duration_s": rounded(end_ms / 1000),
        "picture_s": rounded(picture_ms / 1000),
        "size": res.size,
        "sha256": res.sha256,
        "playback_file": (
            res.playback_path.relative_to(directory).as_posix() if res.playback_path else None
        ),
        "playback_sha256": res.playback_sha256,
        "streams": streams,
        "error": res.error,
    }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

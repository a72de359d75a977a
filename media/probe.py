"""Reading a stored file back: streams, frame counts, timing. No decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av


def probe(path: Path) -> dict[str, Any]:
    """Codecs, sizes and per-stream packet counts and times (ms) of a media file.

    A file cut short by a crash is read up to its last whole packet.
    """
    streams: dict[int, dict[str, Any]] = {}
    truncated = False
    with av.open(str(path)) as container:
        for stream in container.streams:
            if stream.type not in ("video", "audio"):
                continue
            entry: dict[str, Any] = {
                "kind": stream.type,
                "codec": stream.codec_context.name,
                "frames": 0,
                "first_pts_ms": None,
                "last_pts_ms": None,
            }
            if stream.type == "video":
                video: Any = stream.codec_context
                entry.update(width=video.width, height=video.height)
            streams[stream.index] = entry
        try:
            for packet in container.demux():
                entry = streams.get(packet.stream.index)  # type: ignore[assignment]
                if entry is None or packet.pts is None or packet.size == 0:
                    continue
                ms = round(float(packet.pts * packet.time_base) * 1000)
                entry["frames"] += 1
                if entry["first_pts_ms"] is None:
                    entry["first_pts_ms"] = ms
                entry["last_pts_ms"] = ms
        except av.error.FFmpegError:
            truncated = True
        duration = container.duration
        start = container.metadata.get("EXAMCAST_START_S")  # media.writer.START_TAG
    return {
        "start_s": _number(start),
        "streams": list(streams.values()),
        "duration_s": None if duration is None else duration / av.time_base,
        "truncated": truncated,
    }


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None

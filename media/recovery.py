"""Recovering a take whose server stopped while it was being recorded.

Matroska stays readable when cut short; what a crash leaves out is the seek
index (cues) and the duration, which a ``-c copy`` remux writes. Each segment
is remuxed in place (through a temporary file), fsynced, hashed and
described in a manifest like the one a normal stop produces.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from media.probe import probe
from media.writer import remux, sha256_file

log = logging.getLogger(__name__)


CAMERAS = ("secondary",)  # other cameras' segments are in a folder of that name


def recover_take(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = _camera(directory, directory)
    manifest["cameras"] = {
        camera: _camera(directory / camera, directory)
        for camera in CAMERAS
        if (directory / camera).is_dir()
    }
    if directory.exists():
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return {**manifest, "recovered": True}


def _camera(directory: Path, take_dir: Path) -> dict[str, Any]:
    segments = _recover(directory, take_dir)
    recorded = sum(s["picture_s"] or 0.0 for s in segments)
    return {"segments": segments, "gaps": [], "recorded_s": round(recorded, 3)}


def _recover(directory: Path, take_dir: Path) -> list[dict[str, Any]]:
    """Recover the segments in ``directory``; file names relative to ``take_dir``."""
    segments: list[dict[str, Any]] = []
    files = sorted(directory.glob("segment-*.webm")) + sorted(directory.glob("segment-*.mkv"))
    for index, path in enumerate(sorted(files)):
        for stale in directory.glob(path.name + ".part"):
            stale.unlink()
        try:
            remux(path, path)
            info = probe(path)
        except Exception as exc:
            log.warning("segment %s could not be recovered: %s", path, exc)
            continue
        if not any(s["frames"] for s in info["streams"]):
            continue
        playback = None
        if any(s["codec"] == "h264" for s in info["streams"]):
            playback = path.with_suffix(".mp4")
            remux(path, playback, faststart=True)
        segments.append(
            {
                "index": index,
                "file": path.relative_to(take_dir).as_posix(),
                "container": path.suffix.lstrip("."),
                "reason": "recovered",
                "start_s": info.get("start_s"),
                "duration_s": info["duration_s"],
                "picture_s": info["duration_s"] if _has_picture(info) else 0.0,
                "size": path.stat().st_size,
                "sha256": sha256_file(path),
                "playback_file": playback.relative_to(take_dir).as_posix() if playback else None,
                "playback_sha256": sha256_file(playback) if playback else None,
                "streams": info["streams"],
                "error": None,
            }
        )
    return segments


def _has_picture(info: dict[str, Any]) -> bool:
    return any(s.get("kind") == "video" and s.get("frames") for s in info["streams"])


def delete_take_files(directory: Path) -> None:
    """Remove a take's media, every camera's (a rehearsal after its one playback)."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.is_dir():
            delete_take_files(path)
        else:
            path.unlink()
    directory.rmdir()

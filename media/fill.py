"""A fill from the page's local copy made into a segment of a take (issue #14).

The page sends the first chunk of its MediaRecorder recording (``head``: the
container's header and its first media) and the chunks covering a hole
(``tail``). MediaRecorder's chunks are cut anywhere, so the header is taken
from ``head`` up to its first Cluster (WebM) or ``moof`` (fragmented MP4), and
the tail from its own first Cluster or ``moof``; joined, they are a file PyAV
reads. Chrome's WebM has no cues and no duration, Safari's MP4 is in
fragments: both are copied packet by packet (``-c copy``), never decoded, into
a file that starts at the last keyframe at or before the hole and ends where
the hole ends. Everything here runs in a worker thread (:class:`FillMaker`).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from exams.shared.errors import InvalidInput, UnsupportedMediaType
from exams.shared.objects import FileShipping
from exams.uploads.fills import FillMediaInfo, FillPiece
from media.writer import _fsync_path, remux, sha256_file

CLUSTER = b"\x1f\x43\xb6\x75"
EBML = b"\x1a\x45\xdf\xa3"
CLUSTER_TIMECODE = 0xE7
CRC32 = 0xBF
VIDEO_CODECS = ("vp8", "vp9", "h264")
AUDIO_CODECS = ("opus", "aac")
MS = Fraction(1, 1000)


def _vint(data: bytes, at: int) -> tuple[int, int] | None:
    """An EBML variable-size integer at ``at``: (value, length) or None."""
    if at >= len(data) or data[at] == 0:
        return None
    first = data[at]
    length = 8 - first.bit_length() + 1
    if at + length > len(data):
        return None
    value = first & ((1 << (8 - length)) - 1)
    for b in data[at + 1 : at + length]:
        value = (value << 8) | b
    return value, length


def _cluster_at(data: bytes, at: int) -> bool:
    """A Cluster really starts at ``at``: its id, a size, then its Timecode element."""
    size = _vint(data, at + 4)
    if size is None:
        return False
    child = at + 4 + size[1]
    if child < len(data) and data[child] == CRC32:  # Matroska may checksum each element
        child += 6
    return child < len(data) and data[child] == CLUSTER_TIMECODE


def _moof_at(data: bytes, at: int) -> bool:
    """A ``moof`` box starts at ``at - 4``: its size, then an ``mfhd`` box inside."""
    if at < 4 or at + 8 > len(data):
        return False
    size = struct.unpack(">I", data[at - 4 : at])[0]
    return size >= 16 and data[at + 8 : at + 12] == b"mfhd"


def first_fragment(data: bytes, container: str) -> int | None:
    """Where the first Cluster (WebM) or ``moof`` box (MP4) starts in ``data``."""
    marker, check, back = (
        (CLUSTER, _cluster_at, 0) if container == "webm" else (b"moof", _moof_at, 4)
    )
    at = data.find(marker)
    while at >= 0:
        if check(data, at):
            return at - back
        at = data.find(marker, at + 1)
    return None


def header_end(head: bytes, container: str) -> int | None:
    """Where the container's header ends in ``head``: at its first fragment, or (a first
    chunk of the header alone, as Chromium's MP4 muxer hands it out) at its end."""
    found = first_fragment(head, container)
    if found is not None:
        return found
    if container == "mp4":  # whole top-level boxes, ftyp and moov among them
        at, kinds = 0, set()
        while at + 8 <= len(head):
            size = struct.unpack(">I", head[at : at + 4])[0]
            kinds.add(head[at + 4 : at + 8])
            if size < 8 or at + size > len(head):
                return None
            at += size
        return at if {b"ftyp", b"moov"} <= kinds else None
    return len(head) if head.startswith(EBML) and b"\x16\x54\xae\x6b" in head else None


def join(head: bytes, tail: bytes, container: str) -> bytes:
    """The header of ``head`` followed by ``tail`` from its first fragment."""
    end = header_end(head, container)
    start = first_fragment(tail, container)
    if end is None or start is None:
        raise UnsupportedMediaType(
            f"this is not a {container} recording from the browser (no header or no media "
            "fragments found); send the chunks of the local copy as they were recorded"
        )
    return head[:end] + tail[start:]


def sniff(head: bytes, mime: str) -> str:
    """The container the declared MIME type names, checked against the first bytes."""
    if mime.startswith("video/webm") or mime.startswith("video/x-matroska"):
        if not head.startswith(EBML):
            raise UnsupportedMediaType("the fill says it is WebM but is not: no EBML header")
        return "webm"
    if mime.startswith("video/mp4"):
        if head[4:8] not in (b"ftyp", b"moov", b"moof", b"styp"):
            raise UnsupportedMediaType("the fill says it is MP4 but is not: no ftyp box")
        return "mp4"
    raise UnsupportedMediaType(
        "a fill must be video/webm (VP8, VP9 or H.264 with Opus) or video/mp4 (H.264 with AAC)"
    )


def inspect(upload: Path, head_size: int, mime: str, joined: Path) -> FillMediaInfo:
    """Join head and tail of ``upload`` into ``joined``; its codecs and timing."""
    body = upload.read_bytes()
    if not 0 < head_size < len(body):
        raise InvalidInput("head_size must be more than 0 and less than the upload's length")
    head, tail = body[:head_size], body[head_size:]
    container = sniff(head, mime)
    joined.write_bytes(join(head, tail, container))
    video = audio = None
    keyframes: list[float] = []
    first: float | None = None
    end = 0.0
    try:
        with av.open(str(joined)) as f:
            if f.streams.video:
                video = f.streams.video[0].codec_context.name
            if f.streams.audio:
                audio = f.streams.audio[0].codec_context.name
            if video not in VIDEO_CODECS or (audio is not None and audio not in AUDIO_CODECS):
                raise UnsupportedMediaType(
                    f"a fill must be VP8, VP9 or H.264 video with Opus or AAC sound; this one "
                    f"is {video or 'no video'} with {audio or 'no sound'}"
                )
            for packet in f.demux():
                if packet.pts is None or packet.size == 0 or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                step = float((packet.duration or 0) * packet.time_base)
                first = t if first is None else min(first, t)
                end = max(end, t + step)
                if packet.stream.type == "video" and packet.is_keyframe:
                    keyframes.append(t)
    except av.error.FFmpegError as exc:
        raise UnsupportedMediaType(
            "the fill could not be read as a recording (not media, or cut short)"
        ) from exc
    if first is None or not keyframes:
        raise UnsupportedMediaType("the fill holds no picture the server can place")
    return FillMediaInfo(joined, container, video, audio, first, end, tuple(sorted(keyframes)))


def damaged_at(path: Path) -> float | None:
    """The time (s) of the first video packet of ``path`` that does not decode, if any."""
    with av.open(str(path)) as f:
        stream = f.streams.video[0]
        for packet in f.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            try:
                packet.decode()
            except av.error.FFmpegError:
                return float(packet.pts * packet.time_base)
    return None


def cut(source: Path, target: Path, start_s: float, end_s: float) -> FillPiece:
    """Copy ``source`` from its last keyframe at or before ``start_s`` to ``end_s`` into
    ``target`` (times of the source; the target starts at 0). The copy is decoded once:
    a damaged frame ends it before that frame (``end_s`` says where it ends)."""
    piece = _cut(source, target, start_s, end_s)
    damage = damaged_at(target)
    if damage is None:
        return piece
    end = piece.origin_s + damage
    target.unlink()
    if end - start_s < 0.05:
        raise UnsupportedMediaType(
            f"the copy is damaged at {end:.2f} s of its recording, where the hole begins"
        )
    return _cut(source, target, start_s, end)


def _cut(source: Path, target: Path, start_s: float, end_s: float) -> FillPiece:
    with av.open(str(source)) as src:
        keys = [
            float(p.pts * p.time_base)
            for p in src.demux(video=0)
            if p.pts is not None and p.is_keyframe and p.size
        ]
    before = [k for k in keys if k <= start_s + 1e-3]
    origin = before[-1] if before else min((k for k in keys if k < end_s), default=None)
    if origin is None:
        raise UnsupportedMediaType("the fill has no keyframe in the stretch it should cover")
    tmp = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    stats: dict[str, dict[str, Any]] = {}
    with av.open(str(source)) as src:
        streams = [s for s in src.streams if s.type in ("video", "audio")]
        codecs = {s.codec_context.name for s in streams}
        fmt = "webm" if codecs <= {"vp8", "vp9", "opus"} else "matroska"
        with av.open(str(tmp), "w", format=fmt) as dst:
            mapping = {s.index: dst.add_stream_from_template(s) for s in streams}
            for packet in src.demux(streams):
                if packet.pts is None or packet.size == 0 or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                if t < origin - 1e-3 or t >= end_s:
                    continue
                kind = packet.stream.type
                ms = round((t - origin) * 1000)
                dts = packet.dts if packet.dts is not None else packet.pts
                dts_ms = round((float(dts * packet.time_base) - origin) * 1000)
                entry = stats.setdefault(
                    kind,
                    {
                        "kind": kind,
                        "codec": packet.stream.codec_context.name,
                        "frames": 0,
                        "first_pts_ms": ms,
                        "last_pts_ms": ms,
                        "last_dts_ms": None,
                        "step_ms": float((packet.duration or 0) * packet.time_base) * 1000,
                    },
                )
                if entry["last_dts_ms"] is not None and dts_ms <= entry["last_dts_ms"]:
                    continue  # decoding order must rise in the copy
                packet.stream = mapping[packet.stream.index]
                packet.time_base = MS
                packet.pts, packet.dts = ms, dts_ms
                dst.mux(packet)
                entry["frames"] += 1
                entry["last_dts_ms"] = dts_ms
                entry["first_pts_ms"] = min(entry["first_pts_ms"], ms)
                entry["last_pts_ms"] = max(entry["last_pts_ms"], ms)
    _fsync_path(tmp)
    tmp.replace(target)
    video = stats.get("video")
    if video is None or not video["frames"]:
        target.unlink()
        raise UnsupportedMediaType("the fill has no picture in the stretch it should cover")
    step = (
        (video["last_pts_ms"] - video["first_pts_ms"]) / (video["frames"] - 1)
        if video["frames"] > 1
        else video["step_ms"] or 33.0
    )
    picture_s = (video["last_pts_ms"] + step - video["first_pts_ms"]) / 1000
    duration_s = max(
        (s["last_pts_ms"] + (step if s["kind"] == "video" else 20.0)) / 1000 for s in stats.values()
    )
    playback = None
    if "h264" in codecs:
        playback = target.with_suffix(".mp4")
        remux(target, playback, faststart=True)
    _fsync_path(target.parent)
    return FillPiece(
        origin_s=origin,
        end_s=end_s,
        path=target,
        size=target.stat().st_size,
        sha256=sha256_file(target),
        duration_s=round(duration_s, 3),
        picture_s=round(picture_s, 3),
        streams=[
            {k: v for k, v in s.items() if k not in ("step_ms", "last_dts_ms")}
            for s in stats.values()
        ],
        playback_path=playback,
        playback_sha256=sha256_file(playback) if playback else None,
    )


def upload_sha256(path: Path) -> str:
    return sha256_file(path)


@dataclass
class FillMaker:
    """``exams.uploads.fills.FillMedia``: the PyAV work, in a worker thread."""

    recordings_dir: Path
    objects: FileShipping | None = None  # storage_url set: each fill goes to the store

    async def inspect(self, upload: Path, head_size: int, mime: str) -> FillMediaInfo:
        joined = upload.with_name(upload.name + ".joined")
        return await asyncio.to_thread(inspect, upload, head_size, mime, joined)

    async def cut(
        self, info: FillMediaInfo, take_id: str, file: str, start_s: float, end_s: float
    ) -> FillPiece:
        target = self.recordings_dir / take_id / file
        piece = await asyncio.to_thread(cut, info.path, target, start_s, end_s)
        if self.objects is not None:  # checked against the sha256 the manifest will hold
            await self.objects.ship(piece.path, piece.sha256)
            if piece.playback_path is not None and piece.playback_sha256 is not None:
                await self.objects.ship(piece.playback_path, piece.playback_sha256)
        return piece

    async def hash(self, path: Path) -> str:
        return await asyncio.to_thread(sha256_file, path)

    async def remove(self, *paths: Path) -> None:
        def unlink() -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        await asyncio.to_thread(unlink)
        if self.objects is not None:
            under = [p for p in paths if p.is_relative_to(self.recordings_dir)]
            await self.objects.unship(*under)

    def relative(self, take_id: str, path: Path) -> str:
        return path.relative_to(self.recordings_dir / take_id).as_posix()

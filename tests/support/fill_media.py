"""Recordings like a browser's MediaRecorder makes them, made here with PyAV (issue #14).

Chrome's WebM: VP8 + Opus, clusters of a second starting at keyframes, no cues,
no duration (``live``); Safari's MP4: H.264 + AAC in fragments (``empty_moov``,
a ``moof`` per keyframe). Either is cut into chunks at arbitrary byte positions,
as MediaRecorder's ``timeslice`` does, each with its times on the server's
epoch clock, and sliced into the ``head`` + ``tail`` a fill upload carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

FPS = 30


def recording(path: Path, seconds: float, container: str = "webm", fps: int = FPS) -> bytes:
    """A browser-like recording of ``seconds``: a keyframe every second, each frame's
    number drawn as a grey level (frame ``i`` at ``i / fps`` s)."""
    if container == "webm":
        fmt, vcodec, acodec, options = "webm", "libvpx", "libopus", {"live": "1"}
    else:
        fmt, vcodec, acodec = "mp4", "libx264", "aac"
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        video: Any = out.add_stream(vcodec, rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.codec_context.gop_size = fps
        video.codec_context.options = {"g": str(fps), "keyint_min": str(fps)}
        audio: Any = out.add_stream(acodec, rate=48000)
        audio.codec_context.layout = "stereo"
        frames = int(seconds * fps)
        samples = 960
        sent_audio = 0
        for i in range(frames):
            luma = np.full((120, 160, 3), (i * 7) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(luma, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
            while sent_audio * samples < (i + 1) * 48000 / fps:
                pcm = np.zeros((2, samples), dtype=np.float32)
                a = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="stereo")
                a.sample_rate = 48000
                a.pts = sent_audio * samples
                a.time_base = Fraction(1, 48000)
                out.mux(audio.encode(a))
                sent_audio += 1
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path.read_bytes()


@dataclass
class Chunk:
    data: bytes
    start_ms: float
    end_ms: float


def chunks(data: bytes, seconds: float, started_at_ms: float, count: int) -> list[Chunk]:
    """``data`` cut into ``count`` chunks at arbitrary places, with times spread evenly."""
    step = len(data) // count
    out = []
    for i in range(count):
        piece = data[i * step : len(data) if i == count - 1 else (i + 1) * step]
        out.append(
            Chunk(
                piece,
                started_at_ms + i * seconds * 1000 / count,
                started_at_ms + (i + 1) * seconds * 1000 / count,
            )
        )
    return out


def fill_body(parts: list[Chunk], from_ms: float, to_ms: float) -> tuple[bytes, int]:
    """(head + tail, head size) as the page's ``LocalCopy.slice`` gives them."""
    head = parts[0].data
    tail = b"".join(
        c.data for c in parts if c.end_ms > from_ms - 2000 and c.start_ms < to_ms + 1000
    )
    return head + tail, len(head)

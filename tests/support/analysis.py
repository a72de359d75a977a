"""Reading recorded files back with PyAV: frames, barcodes, the marked instant."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tests.support.media import BARCODE_ROWS, read_barcode


@dataclass
class VideoFrameInfo:
    pts_s: float
    index: int
    body_luma: float
    size: tuple[int, int]


def frame_s(frame: av.VideoFrame | av.AudioFrame) -> float:
    """A decoded frame's time in seconds (every frame of our files has a pts)."""
    assert frame.pts is not None and frame.time_base is not None, "a frame without a time"
    return float(frame.pts * frame.time_base)


def video_frames(path: Path) -> list[VideoFrameInfo]:
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray")
            out.append(
                VideoFrameInfo(
                    pts_s=frame_s(frame),
                    index=read_barcode(luma),
                    body_luma=float(luma[BARCODE_ROWS + 4 :].mean()),
                    size=(frame.width, frame.height),
                )
            )
    return out


def audio_samples(path: Path) -> tuple[np.ndarray, float]:
    """Mono float samples at 48 kHz, and the time of the first one."""
    chunks = []
    first = None
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        for frame in container.decode(audio=0):
            if first is None:
                first = frame_s(frame)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return np.zeros(0), 0.0
    return np.concatenate(chunks), first or 0.0


def flash_time(frames: list[VideoFrameInfo]) -> float:
    """When the picture first turns white."""
    return next(f.pts_s for f in frames if f.body_luma > 200)


def beep_time(samples: np.ndarray, first: float, rate: int = 48000) -> float:
    """When the loud tone starts (5 ms windows)."""
    window = rate // 200
    usable = len(samples) // window * window
    rms = np.sqrt((samples[:usable].reshape(-1, window) ** 2).mean(axis=1))
    loud = np.nonzero(rms > 0.2)[0]
    assert len(loud), "no beep found in the recorded audio"
    return first + float(loud[0]) * window / rate


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def segment_file(data_dir: Path, take_id: str, segment: dict[str, object]) -> Path:
    return data_dir / "recordings" / take_id / str(segment["file"])


@dataclass
class Decoded:
    video: list[VideoFrameInfo]
    video_packets: int
    audio_pts_s: list[float]  # each audio frame's start


def decode_strictly(path: Path) -> Decoded:
    """Every packet of ``path`` decoded in order; a decode error (a frame cut short, a
    frame whose reference is missing) raises, as it stops a browser's player."""
    video: list[VideoFrameInfo] = []
    audio: list[float] = []
    packets = 0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size == 0:
                continue
            packets += packet.stream.type == "video"
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    luma = frame.to_ndarray(format="gray")
                    info = VideoFrameInfo(
                        frame_s(frame),
                        read_barcode(luma),
                        float(luma[BARCODE_ROWS + 4 :].mean()),
                        (frame.width, frame.height),
                    )
                    video.append(info)
                elif isinstance(frame, av.AudioFrame):
                    audio.append(frame_s(frame))
    return Decoded(video, packets, audio)

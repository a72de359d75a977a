"""The bench's media: a VP8 + Opus clip encoded once, in memory, at run time.

640x480 at 30 fps, about 1 Mbit/s, a keyframe every 2.5 s: a coarse random
texture that pans, with a little noise on top so every frame costs bits the
way a webcam picture does. Opus is a 48 kHz stereo tone in 20 ms frames.
Senders replay these packets as they are; nothing is encoded while the
bench runs.
"""

from __future__ import annotations

import fractions
import math
from dataclasses import dataclass

import av
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_BITRATE = 1_100_000  # the rate control lands a little under its target: ~1 Mbit/s
KEYFRAME_EVERY = 75  # frames: 2.5 s
AUDIO_RATE = 48000
AUDIO_FRAME = 960  # samples per channel: 20 ms
AUDIO_BITRATE = 64000


@dataclass(frozen=True, slots=True)
class Sample:
    """One encoded frame of the clip."""

    data: bytes
    keyframe: bool


@dataclass(frozen=True)
class Clip:
    video: tuple[Sample, ...]
    audio: tuple[Sample, ...]
    fps: int = FPS

    @property
    def seconds(self) -> float:
        return len(self.video) / self.fps

    @property
    def keyframes(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.video) if s.keyframe)

    @property
    def video_bitrate(self) -> float:
        return sum(len(s.data) for s in self.video) * 8 / self.seconds

    def describe(self) -> dict[str, object]:
        return {
            "codec": "vp8+opus",
            "size": f"{WIDTH}x{HEIGHT}",
            "fps": self.fps,
            "seconds": round(self.seconds, 2),
            "video_kbps": round(self.video_bitrate / 1000),
            "keyframes": list(self.keyframes),
        }


def make_clip(seconds: int = 10) -> Clip:
    """Encode ``seconds`` of test pattern and tone with PyAV (about a second of CPU)."""
    frames = seconds * FPS
    # Whole GOPs, so that looping the clip starts over at a keyframe.
    frames = max(frames - frames % KEYFRAME_EVERY, KEYFRAME_EVERY)
    video = _encode_video(frames)
    audio = _encode_audio(round(frames / FPS * AUDIO_RATE / AUDIO_FRAME))
    if not video[0].keyframe:
        raise RuntimeError("the encoded clip does not start with a keyframe")
    return Clip(video, audio)


def _encode_video(count: int) -> tuple[Sample, ...]:
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = fractions.Fraction(FPS)
    ctx.bit_rate = VIDEO_BITRATE
    ctx.gop_size = KEYFRAME_EVERY
    ctx.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "minrate": str(VIDEO_BITRATE),
        "maxrate": str(VIDEO_BITRATE),
        "auto-alt-ref": "0",  # no hidden frames: one packet per picture, like a browser
        "lag-in-frames": "0",
    }
    rng = np.random.default_rng(2024)
    coarse = rng.integers(40, 200, size=(HEIGHT // 4, WIDTH // 4)).astype(np.uint8)
    texture = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))  # twice the picture each way
    samples: list[Sample] = []
    for index in range(count):
        dy, dx = (index * 3) % HEIGHT, (index * 5) % WIDTH
        luma = texture[dy : dy + HEIGHT, dx : dx + WIDTH].astype(np.int16)
        luma += rng.integers(-3, 4, size=luma.shape, dtype=np.int16)
        picture = np.full((HEIGHT * 3 // 2, WIDTH), 128, dtype=np.uint8)
        picture[:HEIGHT] = np.clip(luma, 16, 235)
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = index
        samples += [Sample(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    samples += [Sample(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    if len(samples) != count:
        raise RuntimeError(f"libvpx returned {len(samples)} packets for {count} pictures")
    return tuple(samples)


def _encode_audio(count: int) -> tuple[Sample, ...]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = AUDIO_RATE
    ctx.layout = "stereo"
    ctx.format = "s16"
    ctx.bit_rate = AUDIO_BITRATE
    ctx.time_base = fractions.Fraction(1, AUDIO_RATE)
    samples: list[Sample] = []
    for index in range(count + 1):  # one more: the encoder's look-ahead delays its output
        t = (np.arange(AUDIO_FRAME) + index * AUDIO_FRAME) / AUDIO_RATE
        wave = 0.2 * np.sin(2 * math.pi * 440 * t) * (1 + 0.5 * np.sin(2 * math.pi * 0.5 * t))
        pcm = (wave * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(pcm, 2)[None, :], format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * AUDIO_FRAME
        frame.time_base = ctx.time_base
        samples += [Sample(bytes(p), True) for p in ctx.encode(frame)]
    samples += [Sample(bytes(p), True) for p in ctx.encode(None)]
    return tuple(samples[:count])

"""Encoded VP8/H.264/Opus frames made with PyAV at test time."""

from __future__ import annotations

import fractions
from typing import cast

import av
import numpy as np

from tests.support.media import _picture


def video_packets(
    codec: str, count: int, width: int = 320, height: int = 240, gop: int = 30
) -> list[bytes]:
    """``count`` encoded frames, a keyframe every ``gop``; H.264 as Annex B."""
    name = {"vp8": "libvpx", "h264": "libx264"}[codec]
    enc = cast(av.VideoCodecContext, av.CodecContext.create(name, "w"))
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = fractions.Fraction(1, 30)
    enc.framerate = fractions.Fraction(30)
    enc.gop_size = gop
    enc.options = (
        {"deadline": "realtime", "cpu-used": "8"}
        if codec == "vp8"
        else {"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "repeat-headers": "1"}
    )
    packets: list[bytes] = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(_picture(width, height, i, False), format="yuv420p")
        frame.pts = i
        packets += [bytes(p) for p in enc.encode(frame)]
    packets += [bytes(p) for p in enc.encode(None)]
    return packets


def opus_packets(count: int) -> list[bytes]:
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    enc.time_base = fractions.Fraction(1, 48000)
    packets: list[bytes] = []
    for i in range(count):
        t = (np.arange(960) + i * 960) / 48000
        pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(pcm, 2)[None, :], format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48000, i * 960
        packets += [bytes(p) for p in enc.encode(frame)]
    return packets

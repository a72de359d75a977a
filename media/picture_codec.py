"""One keyframe in, one small JPEG out: the work of the wall's picture threads.

Only keyframes are decoded, each by a fresh decoder (a VP8 or H.264 keyframe
needs nothing before it; a fresh decoder costs ~0.1 ms more than a kept one and
carries no state across reconnects or size changes). The decoder keeps its loop
filter: skipping it (``skip_loop_filter``, as :mod:`media.quality`'s small samples
do) saves 5-12% of decoding the bench clip's keyframes and ~20% of a low-rate one,
just where it leaves blocks a proctor sees (VP8 at 300 kbit/s: it changes the picture
more than the JPEG does, 1-2 dB further from the camera's), and it changed two of the vision
fixtures' 630 verdicts (a face count, a frozen pair). The decoders' other options
that could help (``skip_idct``, the gray flag, ``flags2`` fast) change nothing in
FFmpeg's VP8 and H.264. The picture is scaled to fit :data:`MAX_SIZE` keeping its
aspect and encoded by FFmpeg's ``mjpeg`` encoder: no image library besides PyAV.
Each worker thread keeps its scalers and its JPEG encoder (one per size) from
picture to picture: neither keeps anything of a picture (a JPEG needs nothing of
the one before), and making them anew cost a fifth of a picture.
"""

from __future__ import annotations

import fractions
import threading
import time
from dataclasses import dataclass
from typing import cast

import av
from av.video.reformatter import VideoReformatter

from media import bitstream

MAX_SIZE = (320, 240)
JPEG_QUALITY = 5  # mjpeg's qscale, 2 (best) .. 31; ~4-8 KB for a 320x240 camera picture
_DECODERS = {"vp8": "vp8", "h264": "h264"}
_MAX_JPEG_ENCODERS = 4  # per thread: sizes (cameras of other shapes) kept at once
_local = threading.local()  # each worker thread's scalers and JPEG encoders


class PictureError(ValueError):
    """A keyframe could not be decoded into a picture."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a worker made of one keyframe."""

    jpeg: bytes
    frame: av.VideoFrame  # the scaled picture, yuv420p (for detectors)
    cpu_s: float  # this thread's CPU time to decode, scale and encode it


def is_keyframe(codec: str | None, data: bytes) -> bool:
    """Whether ``data`` is a whole keyframe of ``codec`` (``vp8``, ``h264``), read from its
    header without decoding; a frame cut short or of another codec is not."""
    try:
        if codec == "vp8":
            return bitstream.vp8_keyframe(data) is not None
        if codec == "h264":
            return bitstream.h264_keyframe(data) is not None
    except bitstream.BitstreamError:
        return False
    return False


def may_be_keyframe(codec: str | None, data: bytes) -> bool:
    """A cheap first look, for every frame of a watched camera: False means surely not a
    keyframe (VP8: the frame tag's inter bit); True means :func:`is_keyframe` decides."""
    if codec == "vp8":
        return bool(data) and not data[0] & 1
    return codec == "h264"


def fit(width: int, height: int, box: tuple[int, int] = MAX_SIZE) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` picture scaled down to fit ``box`` with its
    aspect kept (never up), both sides even (as 4:2:0 wants) and at least 2."""
    if width <= 0 or height <= 0:
        raise PictureError(f"no picture of size {width}x{height}")
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def decode_keyframe(codec: str, data: bytes) -> av.VideoFrame:
    """The picture of one keyframe, by a fresh single-threaded decoder."""
    name = _DECODERS.get(codec)
    if name is None:
        raise PictureError(f"pictures of {codec} video are not made")
    decoder = cast(av.VideoCodecContext, av.CodecContext.create(name, "r"))
    decoder.thread_count = 1  # one picture: a decoder's own threads cost more than they save
    try:
        frames = decoder.decode(av.Packet(data))
        if not frames:  # H.264 may hold a picture back until it is flushed
            frames = decoder.decode(None)
    except av.FFmpegError as e:
        raise PictureError(f"the keyframe did not decode: {e}") from e
    if not frames:
        raise PictureError("the keyframe decoded to no picture")
    return frames[0]


def encode_jpeg(frame: av.VideoFrame, quality: int = JPEG_QUALITY) -> bytes:
    """``frame`` as a baseline JPEG (full-range 4:2:0), by this thread's encoder for its
    size and quality (MJPEG keeps nothing from one picture to the next; opening an encoder
    cost more than a third of encoding with one)."""
    key = (frame.width, frame.height, quality)
    encoders: dict[tuple[int, int, int], av.VideoCodecContext] = _local.__dict__.setdefault(
        "jpeg", {}
    )
    encoder = encoders.pop(key, None) or _jpeg_encoder(*key)
    full = _reformatter("full_range").reformat(frame, format="yuvj420p")
    try:
        packets = encoder.encode(full)
    except av.FFmpegError as e:
        raise PictureError(f"the JPEG encoder failed: {e}") from e
    if not packets:
        raise PictureError("the JPEG encoder gave nothing")
    if len(encoders) >= _MAX_JPEG_ENCODERS:
        encoders.clear()
    encoders[key] = encoder  # kept only once it worked
    return bytes(packets[0])


def _reformatter(use: str) -> VideoReformatter:
    """This thread's reformatter for ``use``: one kept keeps its scaler (libswscale's
    context) from picture to picture; a frame's own ``reformat`` made one each time, which
    cost more than the scaling (0.3 ms a picture of the 0.5 ms it took)."""
    found: VideoReformatter | None = _local.__dict__.get(use)
    if found is None:
        found = _local.__dict__[use] = VideoReformatter()
    return found


def _jpeg_encoder(width: int, height: int, quality: int) -> av.VideoCodecContext:
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = fractions.Fraction(1, 1)
    encoder.qmin = encoder.qmax = quality
    return encoder


def snapshot(codec: str, data: bytes, box: tuple[int, int] = MAX_SIZE) -> Snapshot:
    """Decode one keyframe, scale it to fit ``box`` and encode a JPEG (in a worker thread)."""
    started = time.thread_time()
    picture = decode_keyframe(codec, data)
    width, height = fit(picture.width, picture.height, box)
    small = _reformatter("scale").reformat(
        picture, width=width, height=height, format="yuv420p", interpolation="AREA"
    )
    jpeg = encode_jpeg(small)
    return Snapshot(jpeg, small, time.thread_time() - started)

"""The bench's media: a VP8 + Opus clip encoded once, in memory, at run time.

640x480 at 30 fps, about 1 Mbit/s, a keyframe every 2.5 s: a coarse random
texture that pans, with a little noise on top so every frame costs bits the
way a webcam picture does, and the frame's index as a barcode across the top
(:func:`read_barcode`: a viewer that receives re-encoded pictures tells
which frame it got). Every third picture is also encoded once more as a
keyframe (:attr:`Clip.key_video`): what a sender sends, at the next such
picture, when asked for a keyframe (RTCP PLI), as a browser's encoder would. Opus is a 48 kHz stereo
tone in 20 ms frames, or in the longer ones an answer's ``a=ptime`` asks for
(:meth:`Clip.audio_in`). Senders replay these packets as they are; nothing is
encoded while the bench runs.

Keyframes are sized as Chromium's. Measured (Chromium 156's libvpx, fake camera
playing these pictures as a 640x480 y4m, sending to the server's own aiortc
answerer with its 1500 kbit/s start bitrate, a PLI every 2.5 s as the wall
asks): it settled at 1.7 Mbit/s, and after the first 10 s its keyframes were
36 KB median (15-42 KB; 2.6 ms to decode). The clip's encoder starts as a
sender that has been sending (:func:`_encode_video`'s ``warm_up``: the first
keyframe of a cold encoder was 70 KB, twice any other) and caps keyframes as
WebRTC does (:data:`MAX_INTRA_PCT`): keyframes of 12-34 KB, about 30 KB on
request (~2.3 ms to decode).

The wall preview (:func:`make_preview`) is what a candidate's page sends beside
its camera for the proctors' wall: the same pictures scaled to 320x240, every
sixth one (5 fps, so it shows the camera's moments and loops with it), about
150 kbit/s, keyframes only when asked, and every picture also as a keyframe, so
a request is answered at the very next preview frame, as Chromium does.
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import av
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_BITRATE = 1_100_000  # the rate control lands a little under its target: ~1 Mbit/s
KEYFRAME_EVERY = 75  # frames: 2.5 s
AUDIO_RATE = 48000
AUDIO_FRAME_MS = 20  # a browser's Opus packets, unless the answer's a=ptime asks longer
AUDIO_FRAME = AUDIO_RATE * AUDIO_FRAME_MS // 1000  # samples per channel: 960
AUDIO_FRAME_LENGTHS_MS = (10, 20, 40, 60)  # Chromium's Opus encoder's: a=ptime, rounded up
AUDIO_BITRATE = 64000
KEY_ON_REQUEST_EVERY = 3  # pictures with a keyframe version, for keyframe requests
KEY_WARM_UP = 5  # keyframes encoded and dropped before the keyframe versions
# libvpx's rc_max_intra_bitrate_pct as WebRTC sets it for VP8: a keyframe at most this
# percent of an average frame (0.5 x its 600 ms optimal buffer x 30 fps / 10)
MAX_INTRA_PCT = 900
CHROMIUM_KEYFRAME_BYTES = 32_000  # asked for: lands at ~36 KB, the median measured above
PREVIEW_WIDTH, PREVIEW_HEIGHT, PREVIEW_FPS = 320, 240, 5
PREVIEW_EVERY = FPS // PREVIEW_FPS  # the clip's pictures a preview picture stands for
PREVIEW_BITRATE = 150_000
# WebRTC's cap at the preview's 5 fps: 0.5 x 600 ms x 5 fps / 10 = 150, raised to its floor of
# 300 (LibvpxVp8Encoder::MaxIntraTarget): a keyframe at most 3 x 3.75 KB, about 11 KB.
PREVIEW_MAX_INTRA_PCT = 300
# Keyframes on request of the preview: aimed at ~9 KB, what Chromium's would be: a quarter
# of its 36 KB median 640x480 keyframes of these pictures for a quarter of the pixels, under
# the cap above, and what the preview's own first keyframe, capped so, comes out at. Forced
# keyframes at 5 fps overshoot half the rate of one such keyframe a frame (make_clip's rule)
# threefold, not twofold: asking 6 KB lands at 9 KB median (5-11 KB).
PREVIEW_KEYFRAME_BYTES = 6_000
BARCODE_BITS = 10  # the frame index; then the same bits inverted, as a check
BARCODE_ROWS = 32
BARCODE_CELL = WIDTH // (2 * BARCODE_BITS)


@dataclass(frozen=True, slots=True)
class Sample:
    """One encoded frame of the clip."""

    data: bytes
    keyframe: bool


@dataclass(frozen=True)
class Clip:
    video: tuple[Sample, ...]
    audio: tuple[Sample, ...]  # none for the wall preview
    fps: int = FPS
    # picture index -> that picture encoded as a keyframe (every KEY_ON_REQUEST_EVERY-th;
    # every one for the wall preview)
    key_video: Mapping[int, Sample] = field(default_factory=dict)
    width: int = WIDTH
    height: int = HEIGHT
    # a lens covered at this size (the wall preview's, which goes black with its camera:
    # bench.tracks.PacedTrack.cover); none for the clip (make_black)
    black: tuple[Sample, ...] = ()
    # the sound in packets of other lengths (ms), made when first asked (audio_in)
    _audio_in: dict[int, tuple[Sample, ...]] = field(default_factory=dict, repr=False)

    def audio_in(self, frame_ms: int) -> tuple[Sample, ...]:
        """The clip's sound in packets of ``frame_ms`` (a length Chromium's Opus encoder
        has): what a browser sends when the answer's ``a=ptime`` asks for it."""
        if frame_ms == AUDIO_FRAME_MS:
            return self.audio
        if frame_ms not in AUDIO_FRAME_LENGTHS_MS:
            raise ValueError(f"no Opus packets of {frame_ms} ms")
        if frame_ms not in self._audio_in:
            seconds = len(self.audio) * AUDIO_FRAME_MS / 1000
            self._audio_in[frame_ms] = _encode_audio(round(seconds * 1000 / frame_ms), frame_ms)
        return self._audio_in[frame_ms]

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
            "codec": "vp8+opus" if self.audio else "vp8",
            "size": f"{self.width}x{self.height}",
            "fps": self.fps,
            "seconds": round(self.seconds, 2),
            "video_kbps": round(self.video_bitrate / 1000),
            "keyframes": list(self.keyframes),
        }


def make_clip(seconds: int = 10, keyframe_every: int | None = KEYFRAME_EVERY) -> Clip:
    """Encode ``seconds`` of test pattern and tone with PyAV (about a second of CPU).

    ``keyframe_every`` None: as a browser's encoder, no keyframe but the first one (where the
    looped clip starts over) and those asked for (:attr:`Clip.key_video`)."""
    frames = seconds * FPS
    gop = frames if keyframe_every is None else keyframe_every
    # Whole GOPs, so that looping the clip starts over at a keyframe.
    frames = max(frames - frames % gop, gop)
    pictures = _pictures(frames)
    video = _encode_video(
        pictures, VIDEO_BITRATE, gop, warm_up=KEYFRAME_EVERY, key_first=keyframe_every is None
    )
    audio = _encode_audio(round(frames / FPS * AUDIO_RATE / AUDIO_FRAME))
    if not video[0].keyframe:
        raise RuntimeError("the encoded clip does not start with a keyframe")
    # Keyframes on request about as large as the clip's own ones: forced keyframes overshoot
    # the rate control's budget about twofold, so half the rate of one such keyframe a frame.
    # Without natural keyframes to follow (``keyframe_every`` None), Chromium's median.
    natural = [len(s.data) for s in video if s.keyframe] if keyframe_every else []
    key_bytes = sum(natural) // len(natural) if natural else CHROMIUM_KEYFRAME_BYTES
    key_rate = key_bytes * 8 * FPS // 2
    some = list(range(0, frames, KEY_ON_REQUEST_EVERY))
    keys = _encode_video([pictures[i] for i in some], key_rate, 1, warm_up=KEY_WARM_UP)
    if not all(s.keyframe for s in keys):
        raise RuntimeError("libvpx did not make every picture a keyframe")
    return Clip(video, audio, key_video=dict(zip(some, keys, strict=True)))


def make_preview(frames: int) -> Clip:
    """The wall preview of a clip of ``frames`` pictures (:func:`make_clip`'s, a multiple of
    :data:`PREVIEW_EVERY`, so that it loops with the clip): every sixth picture scaled to
    320x240, at 5 fps, its first a keyframe and then none but those asked for, each picture
    also encoded as a keyframe (:attr:`Clip.key_video`)."""
    if frames % PREVIEW_EVERY:
        raise ValueError(f"a clip of {frames} pictures has no preview that loops with it")
    pictures = [_scaled(p) for p in _pictures(frames)[::PREVIEW_EVERY]]
    video = _encode_video(
        pictures,
        PREVIEW_BITRATE,
        len(pictures),
        warm_up=KEYFRAME_EVERY // PREVIEW_EVERY,  # 2.4 s, as the clip's 2.5 s
        key_first=True,
        fps=PREVIEW_FPS,
        max_intra_pct=PREVIEW_MAX_INTRA_PCT,
    )
    # As make_clip's keyframes on request: half the rate of one such keyframe a frame.
    key_rate = PREVIEW_KEYFRAME_BYTES * 8 * PREVIEW_FPS // 2
    keys = _encode_video(
        pictures,
        key_rate,
        1,
        warm_up=KEY_WARM_UP,
        fps=PREVIEW_FPS,
        max_intra_pct=PREVIEW_MAX_INTRA_PCT,
    )
    if not video[0].keyframe or not all(s.keyframe for s in keys):
        raise RuntimeError("libvpx did not make the preview's keyframes")
    return Clip(
        video,
        (),
        PREVIEW_FPS,
        dict(enumerate(keys)),
        PREVIEW_WIDTH,
        PREVIEW_HEIGHT,
        make_black(PREVIEW_FPS, PREVIEW_WIDTH, PREVIEW_HEIGHT),
    )


def make_black(frames: int = FPS, width: int = WIDTH, height: int = HEIGHT) -> tuple[Sample, ...]:
    """A camera gone black (a lens covered): ``frames`` black pictures, each a keyframe, so
    a track may switch to them at any frame and back (:meth:`bench.tracks.PacedTrack.cover`)."""
    black = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    black[:height] = 16
    samples = _encode_video([black] * frames, 200_000, 1)
    if not all(s.keyframe for s in samples):
        raise RuntimeError("libvpx did not make every black picture a keyframe")
    return samples


def barcode(luma: np.ndarray, index: int) -> None:
    """Draw ``index`` across the top of ``luma`` (in place): a cell per bit, then the bits
    inverted."""
    for bit in range(2 * BARCODE_BITS):
        value = (index >> (bit % BARCODE_BITS)) & 1
        if bit >= BARCODE_BITS:
            value ^= 1
        luma[:BARCODE_ROWS, bit * BARCODE_CELL : (bit + 1) * BARCODE_CELL] = 235 if value else 16


def read_barcode(luma: np.ndarray) -> int | None:
    """The frame index drawn by :func:`barcode` in a picture of any size (scaled), or None
    when the check bits do not match."""
    height, width = luma.shape[:2]
    scale_x, scale_y = width / WIDTH, height / HEIGHT
    y0, y1 = round(BARCODE_ROWS * 0.25 * scale_y), max(1, round(BARCODE_ROWS * 0.75 * scale_y))
    bits = []
    for bit in range(2 * BARCODE_BITS):
        x0 = round((bit + 0.25) * BARCODE_CELL * scale_x)
        x1 = max(x0 + 1, round((bit + 0.75) * BARCODE_CELL * scale_x))
        bits.append(int(luma[y0:y1, x0:x1].mean() > 128))
    index = sum(b << i for i, b in enumerate(bits[:BARCODE_BITS]))
    if any(a == b for a, b in zip(bits[:BARCODE_BITS], bits[BARCODE_BITS:], strict=True)):
        return None
    return index


def _pictures(count: int) -> list[np.ndarray]:
    """The clip's pictures as yuv420p planes in one array each."""
    rng = np.random.default_rng(2024)
    coarse = rng.integers(40, 200, size=(HEIGHT // 4, WIDTH // 4)).astype(np.uint8)
    texture = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))  # twice the picture each way
    pictures = []
    for index in range(count):
        dy, dx = (index * 3) % HEIGHT, (index * 5) % WIDTH
        luma = texture[dy : dy + HEIGHT, dx : dx + WIDTH].astype(np.int16)
        luma += rng.integers(-3, 4, size=luma.shape, dtype=np.int16)
        picture = np.full((HEIGHT * 3 // 2, WIDTH), 128, dtype=np.uint8)
        picture[:HEIGHT] = np.clip(luma, 16, 235)
        barcode(picture, index)
        pictures.append(picture)
    return pictures


def _scaled(picture: np.ndarray) -> np.ndarray:
    """A clip picture scaled to the wall preview's size, as a browser scales a cloned track."""
    frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
    return frame.reformat(width=PREVIEW_WIDTH, height=PREVIEW_HEIGHT).to_ndarray()


def _encode_video(
    pictures: list[np.ndarray],
    bit_rate: int,
    gop: int,
    warm_up: int = 0,
    key_first: bool = False,
    fps: int = FPS,
    max_intra_pct: int = MAX_INTRA_PCT,
) -> tuple[Sample, ...]:
    """``pictures`` (yuv420p, all of one size) encoded by libvpx at ``fps`` as WebRTC does
    (realtime, no hidden frames, keyframes capped at ``max_intra_pct``), after the last
    ``warm_up`` of them, whose packets are dropped: the rate control starts in its steady
    state, as a looping clip is sent. ``key_first``: the first picture kept is made a
    keyframe (the warm-up is no whole GOP)."""
    rows, width = pictures[0].shape
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, rows * 2 // 3, "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.framerate = fractions.Fraction(fps)
    ctx.bit_rate = bit_rate
    ctx.gop_size = gop
    ctx.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "minrate": str(bit_rate),
        "maxrate": str(bit_rate),
        "auto-alt-ref": "0",  # no hidden frames: one packet per picture, like a browser
        "lag-in-frames": "0",
        "max-intra-rate": str(max_intra_pct),
    }
    samples: list[Sample] = []
    warm = pictures[len(pictures) - warm_up :] if warm_up else []
    for index, picture in enumerate([*warm, *pictures]):
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = index
        if gop == 1 or (key_first and index == len(warm)):
            frame.pict_type = av.video.frame.PictureType.I
        samples += [Sample(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    samples += [Sample(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    if len(samples) != len(warm) + len(pictures):
        raise RuntimeError(f"libvpx returned {len(samples)} packets for {len(pictures)} pictures")
    return tuple(samples[len(warm) :])


def _encode_audio(count: int, frame_ms: int = AUDIO_FRAME_MS) -> tuple[Sample, ...]:
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = AUDIO_RATE
    ctx.layout = "stereo"
    ctx.format = "s16"
    ctx.bit_rate = AUDIO_BITRATE
    ctx.time_base = fractions.Fraction(1, AUDIO_RATE)
    ctx.options = {"frame_duration": str(frame_ms)}
    size = AUDIO_RATE * frame_ms // 1000  # samples per channel in a packet
    samples: list[Sample] = []
    for index in range(count + 1):  # one more: the encoder's look-ahead delays its output
        t = (np.arange(size) + index * size) / AUDIO_RATE
        wave = 0.2 * np.sin(2 * math.pi * 440 * t) * (1 + 0.5 * np.sin(2 * math.pi * 0.5 * t))
        pcm = (wave * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(pcm, 2)[None, :], format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * size
        frame.time_base = ctx.time_base
        samples += [Sample(bytes(p), True) for p in ctx.encode(frame)]
    samples += [Sample(bytes(p), True) for p in ctx.encode(None)]
    return tuple(samples[:count])

"""Media made at test time: a moving test picture and a tone, with a marked instant.

At ``mark_at`` seconds the picture turns white and the audio beeps for
``mark_len`` seconds, so a test can find the same instant in both recorded
streams and measure their sync.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import numpy as np
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamTrack
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90000


class SyntheticVideo(MediaStreamTrack):
    kind = "video"

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        fps: int = 30,
        *,
        mark_at: float | None = None,
        mark_len: float = 0.2,
        start_delay: float = 0.0,
        resize_at: float | None = None,
        resize_to: tuple[int, int] = (640, 480),
    ) -> None:
        super().__init__()
        self.size = (width, height)
        self.fps = fps
        self.mark_at = mark_at
        self.mark_len = mark_len
        self.start_delay = start_delay
        self.resize_at = resize_at
        self.resize_to = resize_to
        self.frames_sent = 0
        self.sent_at: list[float] = []  # time.monotonic() of each frame handed to the sender
        # Each frame leaves this long after it was captured (its RTP time unchanged): a
        # camera whose uplink queue grew (see :meth:`fall_behind`).
        self.behind_s = 0.0
        self._start: float | None = None

    def flash_at(self, when: float) -> None:
        """Turn white at the monotonic time ``when`` (the first frame due at or after it),
        so tracks started at different moments flash together."""
        assert self._start is not None, "the track has not started yet"
        self.mark_at = when - self._start

    def captured_at(self, index: int) -> float:
        """When frame ``index`` was due (monotonic): its RTP time says so, however late it
        left."""
        assert self._start is not None, "the track has not started yet"
        return self._start + index / self.fps

    def fall_behind(self, seconds: float) -> None:
        """From now on every frame leaves ``seconds`` later than it was captured (its RTP
        time says when it was captured): the track pauses that long, then keeps pace."""
        self.behind_s += seconds

    async def recv(self) -> VideoFrame:
        if self._start is None:
            if self.start_delay:
                await asyncio.sleep(self.start_delay)
            self._start = time.monotonic()
        index = self.frames_sent
        target = self._start + self.behind_s + index / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = index / self.fps
        width, height = self.size
        if self.resize_at is not None and t >= self.resize_at:
            width, height = self.resize_to
        white = self.mark_at is not None and self.mark_at <= t < self.mark_at + self.mark_len
        frame = VideoFrame.from_ndarray(_picture(width, height, index, white), format="yuv420p")
        frame.pts = round(t * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        self.sent_at.append(time.monotonic())
        return frame


BARCODE_BITS = 16
BARCODE_ROWS = 16
# The barcode's cells are each a twentieth of the picture's width (16 px at 320, 32 at 640:
# whole macroblocks, flat, in VP8 and H.264 alike), the index in Gray code (one cell turns
# from a frame to the next). A cell that straddled two macroblocks, with several turning at
# once, came out grey at a starved encoder's bitrate (~130 kbit/s at 320x240 under a REMB
# cut): frame 246 read as 244, as if missing.
_BARCODE_SLOTS = 20


def _cell(bit: int, width: int) -> slice:
    return slice(bit * width // _BARCODE_SLOTS, (bit + 1) * width // _BARCODE_SLOTS)


def _picture(width: int, height: int, index: int, white: bool) -> np.ndarray:
    """A moving gradient (or white), with the frame index as a barcode across the top."""
    rows = height * 3 // 2
    img = np.full((rows, width), 128, dtype=np.uint8)
    if white:
        img[:height] = 235
    else:
        x = np.arange(width, dtype=np.uint16)
        img[:height] = ((x[None, :] + index * 4) % 160 + 40).astype(np.uint8)
    img[:BARCODE_ROWS] = 16
    gray = index ^ (index >> 1)
    for bit in range(BARCODE_BITS):
        if (gray >> bit) & 1:
            img[:BARCODE_ROWS, _cell(bit, width)] = 235
    return img


def barcode_levels(luma: np.ndarray, rows: int = BARCODE_ROWS) -> list[float]:
    """Each barcode cell's mean brightness inside a 2-pixel margin, from a decoded frame's
    luma plane (its width as drawn or scaled; ``rows``: the barcode's height in it,
    :data:`BARCODE_ROWS` unless scaled). Above 128: the cell is set."""
    width = luma.shape[1]
    levels = []
    for bit in range(BARCODE_BITS):
        cell = _cell(bit, width)
        levels.append(float(luma[2 : rows - 2, cell.start + 2 : cell.stop - 2].mean()))
    return levels


def read_barcode(luma: np.ndarray, rows: int = BARCODE_ROWS) -> int:
    """The frame index drawn by :func:`_picture` (see :func:`barcode_levels`)."""
    gray = sum(1 << bit for bit, level in enumerate(barcode_levels(luma, rows)) if level > 128)
    index = gray
    while gray:
        gray >>= 1
        index ^= gray
    return index


class SyntheticAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(
        self, *, mark_at: float | None = None, mark_len: float = 0.2, sample_rate: int = 48000
    ) -> None:
        super().__init__()
        self.mark_at = mark_at
        self.mark_len = mark_len
        self.rate = sample_rate
        self.samples = int(AUDIO_PTIME * sample_rate)
        self.frames_sent = 0
        self.muted = False  # send digital silence (a muted microphone) while set
        self.behind_s = 0.0  # as SyntheticVideo's
        self._start: float | None = None

    def fall_behind(self, seconds: float) -> None:
        """As :meth:`SyntheticVideo.fall_behind`."""
        self.behind_s += seconds

    def captured_at(self, index: int) -> float:
        """When frame ``index`` (20 ms of sound) was due (monotonic), however late it left."""
        assert self._start is not None, "the track has not started yet"
        return self._start + index * AUDIO_PTIME

    def beep_at(self, when: float) -> None:
        """Beep at the monotonic time ``when`` (as :meth:`SyntheticVideo.flash_at`)."""
        assert self._start is not None, "the track has not started yet"
        self.mark_at = when - self._start

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        index = self.frames_sent
        target = self._start + self.behind_s + index * AUDIO_PTIME
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = index * self.samples
        t = (np.arange(self.samples) + t0) / self.rate
        loud = np.zeros(self.samples)
        if self.mark_at is not None:
            loud = ((t >= self.mark_at) & (t < self.mark_at + self.mark_len)).astype(float)
        quiet = 0.02 * np.sin(2 * math.pi * 220 * t)
        wave = quiet + loud * 0.8 * np.sin(2 * math.pi * 1000 * t)
        if self.muted:
            wave = np.zeros(self.samples)
        pcm = (wave * 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(np.repeat(pcm, 2)[None, :], format="s16", layout="stereo")
        frame.sample_rate = self.rate
        frame.pts = t0
        frame.time_base = fractions.Fraction(1, self.rate)
        self.frames_sent += 1
        return frame

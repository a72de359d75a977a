"""A barcoded fake camera for Chromium, and the check that a stored take holds every
frame of it, each in its place on the take's clock.

:func:`write_barcoded_y4m` makes the clip Chromium plays as its camera
(``--use-file-for-fake-video-capture``): every frame carries its index in the loop as a
barcode across the top (:func:`read_code`), with guard cells and a parity cell so a
smeared frame reads as unreadable, never as another index. Chromium loops the file at
its frame rate, so along a take the index grows with time: the frame shown at take time
``t`` carries ``(t * fps + phase) mod loop`` for one ``phase`` per take. (Chromium
starts the clip over when it opens the camera anew: a test keeps one page holding the
camera, so a reload or a new peer connection does not.)

:func:`check_continuity` decodes every segment of one camera of a stored take (the live
ones and the ``fill`` ones the page uploaded) with PyAV, puts each frame on the take's
clock (``start_s`` of its segment + its pts), and finds

- **missing** stretches: no frame for longer than ``hole_s`` (a hole in the take);
- **misplaced** stretches: frames whose barcode is more than ``tolerance_s`` away from
  the index their place on the take's clock calls for (a fill put at the wrong time, or
  a segment after a reconnect that sits late). The phase is taken from the take's first
  segment.

A loop several seconds long tells a misplacement of up to half the loop; 12 s is not a
divisor of the 5 s or 30 s cuts the tests make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import numpy as np

FPS = 30
LOOP_S = 12
INDEX_BITS = 9  # 2**9 = 512 > LOOP_S * FPS
# Cells across the top: a white guard, the index bits (lowest first), a parity bit, a black
# guard. The band is a fixed share of the picture, so a downscaled stream still reads.
CELLS = INDEX_BITS + 3
BAND = 1 / 6  # of the picture's height
WHITE, BLACK = 235, 16


def _code_cells(index: int) -> list[int]:
    bits = [(index >> bit) & 1 for bit in range(INDEX_BITS)]
    return [1, *bits, sum(bits) % 2, 0]


def barcoded_frame(width: int, height: int, index: int) -> bytes:
    """One I420 frame: a moving gradient below, the barcode of ``index`` above."""
    luma = np.empty((height, width), dtype=np.uint8)
    x = np.arange(width, dtype=np.int32)
    y = np.arange(height, dtype=np.int32)
    luma[:] = ((x[None, :] + y[:, None] // 2 + index * 6) % 180 + 40).astype(np.uint8)
    band = round(height * BAND)
    for cell, on in enumerate(_code_cells(index)):
        left, right = cell * width // CELLS, (cell + 1) * width // CELLS
        luma[:band, left:right] = WHITE if on else BLACK
    chroma = np.full((height // 2) * (width // 2), 128, dtype=np.uint8).tobytes()
    return luma.tobytes() + chroma + chroma


def write_barcoded_y4m(
    path: Path, width: int = 320, height: int = 240, fps: int = FPS, loop_s: int = LOOP_S
) -> Path:
    """The clip: ``loop_s`` seconds of barcoded frames at ``fps``, raw (about 41 MB at
    320x240, 30 fps, 12 s)."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(fps * loop_s):
            out.write(b"FRAME\n")
            out.write(barcoded_frame(width, height, index))
    return path


def read_code(luma: np.ndarray) -> int | None:
    """The index a frame's luma plane carries; None when the barcode does not read (guards
    or parity wrong)."""
    height, width = luma.shape
    band = round(height * BAND)
    top, bottom = band // 4, band - band // 4
    cells = []
    for cell in range(CELLS):
        left, right = cell * width // CELLS, (cell + 1) * width // CELLS
        inset = (right - left) // 4
        cells.append(float(luma[top:bottom, left + inset : right - inset].mean()))
    if cells[0] < 170 or cells[-1] > 80:
        return None
    bits = [1 if value > 126 else 0 for value in cells[1:-1]]
    if sum(bits[:INDEX_BITS]) % 2 != bits[INDEX_BITS]:
        return None
    return sum(bit << n for n, bit in enumerate(bits[:INDEX_BITS]))


@dataclass(frozen=True)
class Frame:
    t: float  # on the take's clock
    code: int | None
    segment: int
    reason: str


@dataclass(frozen=True)
class Stretch:
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return round(self.end_s - self.start_s, 3)

    def to_json(self) -> list[float]:
        return [round(self.start_s, 3), round(self.end_s, 3)]


@dataclass
class Continuity:
    """What one camera of a take holds, on the take's clock."""

    frames: int = 0
    unreadable: int = 0
    first_s: float | None = None
    last_s: float | None = None
    missing: list[Stretch] = field(default_factory=list)
    misplaced: list[Stretch] = field(default_factory=list)
    max_error_s: float = 0.0  # the farthest any readable frame sits from its place

    @property
    def missing_s(self) -> float:
        return round(sum(s.length_s for s in self.missing), 3)

    @property
    def misplaced_s(self) -> float:
        return round(sum(s.length_s for s in self.misplaced), 3)

    @property
    def gap_s(self) -> float:
        """The measured gap: seconds missing or misplaced."""
        return round(self.missing_s + self.misplaced_s, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "unreadable": self.unreadable,
            "first_s": self.first_s,
            "last_s": self.last_s,
            "gap_s": self.gap_s,
            "missing": [s.to_json() for s in self.missing],
            "misplaced": [s.to_json() for s in self.misplaced],
            "max_error_s": round(self.max_error_s, 3),
        }


def segment_frames(path: Path, start_s: float, index: int, reason: str) -> list[Frame]:
    """Every video frame of one segment file, on the take's clock."""
    frames = []
    with av.open(str(path)) as container:
        if not container.streams.video:
            return []
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            t = start_s + float(frame.pts * frame.time_base)
            code = read_code(frame.to_ndarray(format="gray"))
            frames.append(Frame(t, code, index, reason))
    return frames


def camera_frames(folder: Path, segments: list[dict[str, Any]]) -> list[Frame]:
    """The frames of a camera's segments (``folder``: the take's folder; a segment's
    ``file`` is relative to it), in take-clock order. A segment with no place on the
    take's clock (no ``start_s``) is left out."""
    frames: list[Frame] = []
    for segment in segments:
        if segment.get("start_s") is None:
            continue
        frames += segment_frames(
            folder / segment["file"], float(segment["start_s"]), segment["index"], segment["reason"]
        )
    return sorted(frames, key=lambda f: f.t)


def _wrapped(frames_off: float, loop: int) -> float:
    """A difference in frames, folded into [-loop/2, loop/2)."""
    return (frames_off + loop / 2) % loop - loop / 2


def check_continuity(
    frames: list[Frame],
    *,
    fps: int = FPS,
    loop_s: int = LOOP_S,
    hole_s: float = 0.25,
    tolerance_s: float = 0.25,
    within: tuple[float, float] | None = None,
) -> Continuity:
    """Holes and misplaced frames along ``frames`` (take-clock order). ``within``: the
    stretch of the take's clock that must be covered (e.g. from the first frame to where
    the take stopped); by default from the first frame to the last."""
    result = Continuity(frames=len(frames))
    if not frames:
        if within is not None:
            result.missing.append(Stretch(*within))
        return result
    loop = fps * loop_s
    result.first_s, result.last_s = round(frames[0].t, 3), round(frames[-1].t, 3)
    readable = [(f, f.code) for f in frames if f.code is not None]
    result.unreadable = len(frames) - len(readable)

    # Where the loop stood at take time 0, from the first segment (circular median).
    first = frames[0].segment
    phases = [(code - f.t * fps) % loop for f, code in readable if f.segment == first]
    if phases:
        angles = np.array(phases) * 2 * math.pi / loop
        mean = math.atan2(float(np.sin(angles).mean()), float(np.cos(angles).mean()))
        rough = mean * loop / (2 * math.pi)
        phase = rough + float(np.median([_wrapped(p - rough, loop) for p in phases]))
        wrong: Stretch | None = None
        for f, code in readable:
            error_s = abs(_wrapped(code - f.t * fps - phase, loop)) / fps
            result.max_error_s = max(result.max_error_s, error_s)
            if error_s > tolerance_s:
                wrong = Stretch(wrong.start_s if wrong else f.t, f.t + 1 / fps)
            elif wrong is not None:
                result.misplaced.append(wrong)
                wrong = None
        if wrong is not None:
            result.misplaced.append(wrong)

    start, end = within if within is not None else (frames[0].t, frames[-1].t)
    times = [start, *(f.t for f in frames if start <= f.t <= end), end]
    for before, after in pairwise(times):
        if after - before > hole_s:
            result.missing.append(Stretch(before, after))
    return result


def take_continuity(
    take_folder: Path, manifest: dict[str, Any], camera: str = "primary", **options: Any
) -> Continuity:
    """:func:`check_continuity` for one camera of a stored take (its manifest as
    ``GET /api/takes/{id}`` gives it; the secondary camera's under ``cameras``)."""
    if camera == "primary":
        segments = manifest["segments"]
    else:
        segments = manifest["cameras"][camera]["segments"]
    return check_continuity(camera_frames(take_folder, segments), **options)

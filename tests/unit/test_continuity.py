"""The continuity check of the drop tests (tests/support/continuity.py) on files made
here: barcoded frames encoded as VP8 in WebM, as the recorder stores them, with a hole
and a fill put in the wrong place."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from tests.support.continuity import (
    FPS,
    LOOP_S,
    barcoded_frame,
    read_code,
    take_continuity,
    write_barcoded_y4m,
)

W, H = 320, 240


def segment(folder: Path, name: str, first: int, count: int) -> Path:
    """``count`` frames of the loop from index ``first``, pts from 0 (ms)."""
    path = folder / name
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.bit_rate = 600_000
        for n in range(count):
            raw = np.frombuffer(barcoded_frame(W, H, (first + n) % (FPS * LOOP_S)), np.uint8)
            frame = av.VideoFrame.from_ndarray(raw.reshape(H * 3 // 2, W), format="yuv420p")
            frame.pts, frame.time_base = round(n * 1000 / FPS), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def entry(index: int, file: Path, start_s: float, reason: str) -> dict[str, Any]:
    return {"index": index, "file": file.name, "start_s": start_s, "reason": reason}


PHASE = 100  # the loop's index at take time 0


def at(t: float) -> int:
    return round(PHASE + t * FPS)


def test_the_clip_reads_back_every_index(tmp_path: Path) -> None:
    clip = write_barcoded_y4m(tmp_path / "clip.y4m")
    with av.open(str(clip)) as container:
        codes = [read_code(f.to_ndarray(format="gray")) for f in container.decode(video=0)]
    assert codes == list(range(FPS * LOOP_S))
    assert read_code(np.full((H, W), 128, np.uint8)) is None  # no barcode: unreadable


def test_a_hole_and_a_misplaced_fill_are_found_and_a_right_fill_closes_the_hole(
    tmp_path: Path,
) -> None:
    # 0-2 s, a hole 2-5 s, then 5-7 s (the loop wraps in between).
    live = [
        entry(0, segment(tmp_path, "s0.webm", at(0), 2 * FPS), 0.0, "start"),
        entry(1, segment(tmp_path, "s1.webm", at(5), 2 * FPS), 5.0, "resumed"),
    ]
    holed = take_continuity(tmp_path, {"segments": live}, within=(0.0, 7.0))
    assert [s.to_json() for s in holed.missing] == [[round(2 - 1 / FPS, 3), 5.0]]
    assert not holed.misplaced and holed.unreadable == 0
    assert holed.max_error_s < 0.02

    # The fill from the page's copy, at its place: nothing missing, nothing misplaced.
    fill = segment(tmp_path, "fill.webm", at(1.9), round(3.2 * FPS))
    filled = take_continuity(
        tmp_path, {"segments": [*live, entry(2, fill, 1.9, "fill")]}, within=(0.0, 7.0)
    )
    assert filled.gap_s == 0.0, filled.to_json()

    # The same fill placed a second late: the hole is covered, but by the wrong pictures.
    late = take_continuity(
        tmp_path, {"segments": [*live, entry(2, fill, 2.9, "fill")]}, within=(0.0, 7.0)
    )
    assert late.misplaced and 2.5 < late.misplaced_s < 3.5, late.to_json()
    assert 0.9 < late.max_error_s < 1.1
    assert [s.to_json() for s in late.missing] == [[round(2 - 1 / FPS, 3), 2.9]]

"""Camera black or covered: a picture that is dark *and* flat.

A lens under a finger, a sticker or a hand shows a dim, nearly even picture; a
camera that sends black shows an even one at 0. A dim room is
dark too, but it still has edges, a window, a face: its luma spreads. So a
picture counts as dark when its mean is low and its spread (the 5th to 95th
percentile of the luma) is small; a picture that is almost perfectly even is
counted whatever its brightness (a lens pressed against a lit hand or paper).

Pure numpy on the wall's small picture (``Picture.luma()``, ≤320x240), read
every fourth pixel each way: ~0.3 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_MEAN = 40.0  # luma 0-255 as Picture.luma() gives it (black is 0)
MAX_SPREAD = 14.0  # 95th - 5th percentile, for a dark picture
FLAT_SPREAD = 6.0  # this even is covered at any brightness
STEP = 4  # read every STEP-th pixel each way


@dataclass(frozen=True)
class Exposure:
    mean: float
    spread: float  # 95th - 5th percentile of the luma


def exposure(luma: np.ndarray) -> Exposure:
    """How bright and how spread the picture's luma (height x width uint8) is."""
    sample = luma[::STEP, ::STEP]
    if sample.size == 0:
        return Exposure(0.0, 0.0)
    low, high = np.percentile(sample, (5, 95))
    return Exposure(float(sample.mean()), float(high - low))


def is_dark(found: Exposure) -> bool:
    """Black or covered (see the module)."""
    return found.spread <= FLAT_SPREAD or (found.mean <= MAX_MEAN and found.spread <= MAX_SPREAD)

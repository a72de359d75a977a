"""Picture frozen: the camera keeps sending the same picture.

Two wall pictures (~2.5 s apart, each a fresh keyframe) of a frozen camera are
the same picture compressed twice: they differ by the encoder's quantisation,
a little everywhere. A live camera with a person in front of it differs
somewhere by more: a head that moved, hands, a change of light. So both
pictures are scaled to :data:`SIZE` (averaging most of the quantisation away),
their absolute difference is averaged over :data:`BLOCK`-pixel blocks, and the
pair is *the same* when no block stands out from the typical one by
:data:`LOCAL` and the typical block moved less than :data:`OVERALL`.

An empty, perfectly still room also looks the same picture after picture; the
candidate is gone from it, which ``no_face`` tells.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = (160, 120)  # width, height compared
BLOCK = 20  # pixels of SIZE per block side (8 x 6 blocks)
LOCAL = 4.5  # the most changed block minus the median block, luma levels
OVERALL = 9.0  # the median block's change, luma levels


@dataclass(frozen=True)
class Difference:
    local: float  # how far the most changed block stands out from the median block
    overall: float  # the median block's mean absolute difference


def small(luma: np.ndarray) -> np.ndarray:
    """The picture as compared: :data:`SIZE`, float32."""
    return cv2.resize(luma, SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def difference(before: np.ndarray, after: np.ndarray) -> Difference:
    """Between two :func:`small` pictures."""
    diff = np.abs(after - before)
    rows, cols = diff.shape[0] // BLOCK, diff.shape[1] // BLOCK
    blocks = diff[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    means = blocks.mean(axis=(1, 3))
    median = float(np.median(means))
    return Difference(float(means.max()) - median, median)


def is_same(found: Difference) -> bool:
    """The same picture within the encoder's noise."""
    return found.local < LOCAL and found.overall < OVERALL

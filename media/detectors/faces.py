"""Faces in the picture: none (the candidate left) or more than one (someone helps).

OpenCV's frontal-face Haar cascade, the model that ships inside
``opencv-python-headless`` 4.x (``cv2.data``; nothing is downloaded), run on the
wall's small picture (≤320x240) halved again, in a worker thread. Tuned on the
fixtures (``bench/detection.py``): a candidate in front of a laptop camera is
50-150 pixels tall on the wall's picture, so the cascade looks at a half-size
copy (160x120: a quarter of the work) for faces of :data:`MIN_SIZE` and more
there, and wants :data:`NEIGHBOURS` overlapping hits for one face (fewer false
faces on shelves and posters). Full size with larger steps found no more.

A cascade object is not shared between threads: each worker thread loads its own.
OpenCV's own thread pool is switched off (one picture is too small to split, and
the cost must show in the calling thread's CPU time).
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

# cv2.data.haarcascades: the package's data folder (opencv-python 4.x wheels)
CASCADE = Path(cv2.__file__).parent / "data" / "haarcascade_frontalface_default.xml"
SHRINK = 2  # the wall's picture is divided by this each way first
SCALE_STEP = 1.15  # detectMultiScale's scaleFactor
NEIGHBOURS = 3  # minNeighbors
MIN_SIZE = 24  # pixels, on the shrunk picture (48 on the wall's)

_local = threading.local()


class FaceModelMissing(RuntimeError):
    """The installed OpenCV has no Haar cascades (5.x ships none): install opencv<5."""


def _cascade() -> cv2.CascadeClassifier:
    found: cv2.CascadeClassifier | None = getattr(_local, "cascade", None)
    if found is None:
        if not CASCADE.is_file():
            raise FaceModelMissing(f"{CASCADE} is missing: install opencv-python-headless<5")
        cv2.setNumThreads(1)
        found = cv2.CascadeClassifier(str(CASCADE))
        if found.empty():
            raise FaceModelMissing(f"{CASCADE} did not load")
        _local.cascade = found
    return found


def find(luma: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The faces in the picture's luma, as (x, y, width, height) boxes of the shrunk picture."""
    height, width = luma.shape[:2]
    shrunk = cv2.resize(
        luma, (max(1, width // SHRINK), max(1, height // SHRINK)), interpolation=cv2.INTER_AREA
    )
    boxes = _cascade().detectMultiScale(
        shrunk,
        scaleFactor=SCALE_STEP,
        minNeighbors=NEIGHBOURS,
        minSize=(MIN_SIZE, MIN_SIZE),
    )
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in boxes]


def count(luma: np.ndarray) -> int:
    """How many faces are in the picture (worker thread: ~4-8 ms for a 320x240 picture)."""
    return len(find(luma))

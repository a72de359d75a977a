"""Real face photos that ship inside scikit-image, as the face check's tests need them.

The astronaut (``skimage.data.astronaut``) is the candidate: her head as the reference photo,
and camera frames of her head where she blinks (her eyes painted shut over the engine's own
eye landmarks for a few frames: a photo held up cannot do that). The cameraman
(``skimage.data.camera``) is someone else. Frames are made as the verification page makes
them: the middle square of the camera picture, 420 pixels, JPEG.
"""

from __future__ import annotations

import base64
import functools
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench import vision_fixtures as fx

SIDE = 420  # media.face_verifier.FRAME_SIDE


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, out = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return bytes(out.tobytes())


def reference_photo() -> bytes:
    """The candidate's 报名照片: the astronaut's head and shoulders."""
    return jpeg(fx.astronaut())


@functools.cache
def other_person_photo() -> bytes:
    """Someone else (the cameraman), sharp and large enough for a reference photo.

    His face is turned a little and found only at some sizes: the first size at which the
    engine takes it as a reference photo (it does at several)."""
    from media import face_engine

    camera = fx._rgb(fx._data().camera())
    for top, left, side in ((0, 100, 256), (20, 130, 200), (40, 150, 160)):
        face = camera[top : top + side, left : left + side]
        for size in (560, 600, 640, 480, 720):
            photo = jpeg(cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC))
            if face_engine.photo_problems(photo) == []:
                return photo
    raise AssertionError("the face engine finds the cameraman at no size")


def no_face_photo() -> bytes:
    return jpeg(fx.scene("coffee"))


def two_faces_photo() -> bytes:
    """Two people side by side (the astronaut twice, one mirrored: the cameraman's face is
    found only in a small picture, looked at twice its size)."""
    head = cv2.resize(_head(), (300, 300))
    return jpeg(np.concatenate([head, head[:, ::-1]], axis=1))


@functools.cache
def _head() -> np.ndarray:
    """The astronaut's head, one face only (her whole photo has a badge the detector sees)."""
    return np.ascontiguousarray(fx._rgb(fx._data().astronaut())[0:300, 80:380])


@functools.cache
def _eyes() -> tuple[tuple[float, float], ...]:
    from media import face_engine

    [face] = face_engine.find_faces(_head(), embed=False)
    return face.landmarks[36:48]


def eyes_shut(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (the head at its own size) with both eyes painted shut: skin over each eye
    (its colour from just below it) and a dark lid line."""
    out = rgb.copy()
    points = np.array(_eyes())
    for eye in (points[:6], points[6:]):
        (x0, y0), (x1, y1) = eye.min(axis=0), eye.max(axis=0)
        cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
        below = out[int(y1 + h + 2) : int(y1 + 2 * h + 4), int(x0) : int(x1)]
        skin = below.reshape(-1, 3).mean(axis=0).tolist()
        axes = (int(w * 0.75), int(h * 1.6 + 3))
        cv2.ellipse(out, (int(cx), int(cy)), axes, 0, 0, 360, skin, -1)
        cv2.line(out, (int(x0), int(cy + 1)), (int(x1), int(cy + 1)), (40, 30, 30), 2)
    return out


def head_frame(shut: bool = False, dx: int = 0, dy: int = 0) -> np.ndarray:
    """A 420x420 frame of the head (moved by dx, dy pixels: a person never sits still)."""
    head = eyes_shut(_head()) if shut else _head()
    big = cv2.resize(head, (SIDE + 40, SIDE + 40))
    return np.ascontiguousarray(big[20 + dy : 20 + dy + SIDE, 20 + dx : 20 + dx + SIDE])


def blink_frames(
    count: int = 12, shut: tuple[int, ...] = (5, 6), step_ms: int = 250
) -> dict[str, Any]:
    """The answer to a "blink" challenge: ``count`` frames, eyes shut in frames ``shut``."""
    frames = []
    for n in range(count):
        rgb = head_frame(n in shut, dx=(n % 3) - 1, dy=(n % 2))
        frames.append({"t_ms": n * step_ms, "jpeg": base64.b64encode(jpeg(rgb, 75)).decode()})
    return {"frames": frames}


def blink_video(path: Path, fps: int = 20, open_s: float = 1.25, shut_s: float = 0.5) -> Path:
    """A camera clip for Chromium's fake camera (y4m, 640x480, looped by Chromium): the
    astronaut in the middle, blinking (eyes shut ``shut_s``) every ``open_s + shut_s``."""
    width, height, side = 640, 480, 440
    background = fx.scene("brick")
    frames = round((open_s + shut_s) * fps)
    raw = bytearray()
    for n in range(frames):
        shut = n >= round(open_s * fps)
        head = cv2.resize(eyes_shut(_head()) if shut else _head(), (side, side))
        picture = background.copy()
        x, y = (width - side) // 2 + (n % 3) - 1, (height - side) // 2 + (n % 2)
        picture[y : y + side, x : x + side] = head
        raw += picture.tobytes()
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-pix_fmt", "yuv420p",
            str(path),
        ],
        input=bytes(raw),
        check=True,
    )  # fmt: skip
    return path

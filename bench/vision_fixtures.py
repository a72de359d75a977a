"""Pictures to measure the vision detectors on, made from real photos shipped in a package.

Every picture goes the way a candidate's camera picture goes: a 640x480 frame,
encoded as a VP8 keyframe by libvpx (as a browser sends it on a PLI), decoded
and scaled to fit 320x240 by the wall's own code (:func:`media.picture_codec.snapshot`).
Nothing is downloaded: the photos are the ones scikit-image ships inside its
package (``skimage.data``, a test dependency):

- faces: the astronaut (Eileen Collins) and the 100 face crops of
  ``lfw_subset`` (Labeled Faces in the Wild, 100 different people), each put
  onto one of the real scenes; two faces: two of those photos side by side;
- no face: the shipped scenes with no person (coffee, a cat, a rocket, coins,
  a page of text, …) and the 100 non-face crops of ``lfw_subset``;
- dark: black and covered lenses, generated (dim, flat, tinted, with a
  vignette and sensor noise), against the real scenes dimmed to a poorly lit
  room;
- frozen: one picture sent again and again (keyframes of one running encoder at
  a low and a normal bit rate) against a live camera (a person moving a few
  pixels, a light changing).
"""

from __future__ import annotations

import fractions
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.frame import PictureType

from media import picture_codec

WIDTH, HEIGHT = 640, 480
SEED = 13

# Real scenes with no frontal face in them (skimage.data names).
SCENES = (
    "coffee", "chelsea", "rocket", "horse", "page", "text", "coins", "moon",
    "hubble_deep_field", "immunohistochemistry", "stereo_motorcycle", "grass", "gravel",
    "brick", "cell", "clock", "retina", "microaneurysms", "logo", "colorwheel",
)  # fmt: skip


@dataclass(frozen=True)
class Still:
    """One picture and what it shows."""

    name: str
    frame: av.VideoFrame  # as the wall makes it (yuv420p, ≤320x240)
    faces: int | None = None  # None: not a face fixture
    dark: bool | None = None  # None: not a dark fixture


@dataclass(frozen=True)
class Pair:
    """Two consecutive wall pictures of one camera; ``frozen``: the same picture."""

    name: str
    before: av.VideoFrame
    after: av.VideoFrame
    frozen: bool


# -- the photos ------------------------------------------------------------------------------


def _data() -> Any:
    import skimage.data  # a test dependency (see the module's docstring)

    return skimage.data


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:  # a mask or a float picture in 0..1
        image = (np.clip(image.astype(np.float64), 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)


@functools.cache
def scene(name: str) -> np.ndarray:
    """A shipped photo filling a 640x480 frame (RGB)."""
    found = getattr(_data(), name)()
    if isinstance(found, tuple):  # a stereo pair: its left picture
        found = found[0]
    return _resize(_rgb(found), WIDTH, HEIGHT)


@functools.cache
def _lfw() -> np.ndarray:
    return (_data().lfw_subset() * 255).astype(np.uint8)


def lfw_faces() -> np.ndarray:
    return _lfw()[:100]


def lfw_non_faces() -> np.ndarray:
    return _lfw()[100:]


@functools.cache
def astronaut() -> np.ndarray:
    """The astronaut's head and shoulders (RGB, 256x256)."""
    return _rgb(_data().astronaut())[0:256, 96:352]


def paste(background: np.ndarray, photo: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    out = background.copy()
    out[y : y + size, x : x + size] = _resize(_rgb(photo), size, size)
    return out


# -- as the wall sees it ---------------------------------------------------------------------


def _encoder(bit_rate: int) -> av.VideoCodecContext:
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    enc.time_base = fractions.Fraction(1, 30)
    enc.framerate = fractions.Fraction(30)
    enc.gop_size = 1 << 20
    enc.bit_rate = bit_rate
    enc.thread_count = 1
    # A negative cpu-used is a fixed speed: a positive one adapts to the time each frame
    # took, and the fixtures would differ from run to run on a busy machine.
    enc.options = {"deadline": "realtime", "cpu-used": "-8", "lag-in-frames": "0"}
    return enc


def camera_pictures(
    frames: list[np.ndarray], keyframe_every: int, bit_rate: int = 1_000_000
) -> list[av.VideoFrame]:
    """The wall pictures of a camera sending ``frames`` (RGB 640x480) and a keyframe
    every ``keyframe_every`` frames (a PLI per wall tick)."""
    enc = _encoder(bit_rate)
    out: list[av.VideoFrame] = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(format="yuv420p")
        frame.pts = i
        if i % keyframe_every == 0:
            frame.pict_type = PictureType.I
        for packet in enc.encode(frame):
            if packet.is_keyframe:
                out.append(picture_codec.snapshot("vp8", bytes(packet)).frame)
    return out


def picture(rgb: np.ndarray) -> av.VideoFrame:
    """One camera picture as the wall makes it."""
    return camera_pictures([rgb], 1)[0]


# -- the sets --------------------------------------------------------------------------------


def _backgrounds() -> list[np.ndarray]:
    return [scene(n) for n in ("coffee", "brick", "grass", "gravel", "horse", "page")]


def face_stills() -> Iterator[Still]:
    rng = np.random.default_rng(SEED)
    backs = _backgrounds()
    faces = lfw_faces()
    yield Still("astronaut", picture(paste(scene("brick"), astronaut(), 160, 40, 360)), faces=1)
    yield Still(
        "astronaut mirrored",
        picture(paste(scene("coffee"), astronaut()[:, ::-1], 200, 60, 300)),
        faces=1,
    )
    for i, face in enumerate(faces):
        size = int(rng.integers(130, 260))
        x = int(rng.integers(0, WIDTH - size))
        y = int(rng.integers(0, HEIGHT - size))
        back = backs[i % len(backs)]
        yield Still(f"lfw face {i}", picture(paste(back, face, x, y, size)), faces=1)
    for i in range(50):  # two different people side by side
        back = backs[i % len(backs)]
        two = paste(paste(back, faces[i], 40, 120, 240), faces[50 + i], 360, 120, 240)
        yield Still(f"lfw faces {i}+{50 + i}", picture(two), faces=2)
    for i in range(10):
        two = paste(paste(scene("brick"), astronaut(), 20, 100, 280), faces[i * 7], 340, 120, 240)
        yield Still(f"astronaut + lfw face {i * 7}", picture(two), faces=2)
    for name in SCENES:
        yield Still(name, picture(scene(name)), faces=0)
    for i, patch in enumerate(lfw_non_faces()):
        size = int(rng.integers(130, 260))
        back = backs[i % len(backs)]
        yield Still(f"lfw non-face {i}", picture(paste(back, patch, 200, 100, size)), faces=0)


def _noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def covered(
    rng: np.random.Generator,
    level: float,
    tint: tuple[float, float, float],
    vignette: float = 0.6,
) -> np.ndarray:
    """A lens under a finger or a hand: even, dim, darker to the edges, sensor noise."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    r = np.hypot((xx - WIDTH / 2) / WIDTH, (yy - HEIGHT / 2) / HEIGHT)
    edges = 1.0 - vignette * r
    gray = level * edges
    rgb = np.stack([gray * t for t in tint], axis=2)
    return _noise(rng, rgb, float(rng.uniform(0.5, 2.5)))


def dark_stills() -> Iterator[Still]:
    rng = np.random.default_rng(SEED + 1)
    for i in range(10):
        black = np.zeros((HEIGHT, WIDTH, 3))
        yield Still(f"black {i}", picture(_noise(rng, black, i * 0.3)), dark=True)
    tints = ((1.0, 1.0, 1.0), (1.0, 0.55, 0.45), (0.9, 0.8, 0.7), (0.6, 0.7, 1.0))
    for i in range(30):
        level = float(rng.uniform(5, 45))
        yield Still(f"covered {i}", picture(covered(rng, level, tints[i % 4])), dark=True)
    for i in range(5):  # a lens against lit paper: bright, but even
        level = float(rng.uniform(120, 220))
        flat = covered(rng, level, tints[i % 4], vignette=0.03)
        yield Still(f"covered bright {i}", picture(flat), dark=True)
    for name in SCENES:
        yield Still(name, picture(scene(name)), dark=False)
        for dim in (0.35, 0.2):  # a poorly lit room
            room = _noise(rng, scene(name) * dim, 1.5)
            yield Still(f"{name} dim {dim}", picture(room), dark=False)


def frozen_pairs() -> Iterator[Pair]:
    """Consecutive wall pictures (one every 75 frames: 2.5 s at 30 fps)."""
    rng = np.random.default_rng(SEED + 2)
    every, pictures = 6, 4  # a few frames between pictures: the encoder moves on
    faces = lfw_faces()
    for k, name in enumerate(SCENES):
        for bit_rate in (300_000, 1_000_000):  # the same picture again and again
            pics = camera_pictures([scene(name)] * (every * pictures), every, bit_rate)
            for j in range(1, len(pics)):
                yield Pair(f"{name} frozen {bit_rate // 1000}k {j}", pics[j - 1], pics[j], True)
        # live: a person on that scene moving 3-12 pixels between pictures
        back = scene(name)
        frames = []
        x, y = 240.0, 140.0
        for _ in range(pictures):
            x += float(rng.uniform(3, 12)) * rng.choice((-1, 1))
            y += float(rng.uniform(0, 6)) * rng.choice((-1, 1))
            frames += [paste(back, faces[k], int(x), int(y), 200)] * every
        pics = camera_pictures(frames, every, 500_000)
        for j in range(1, len(pics)):
            yield Pair(f"{name} person moving {j}", pics[j - 1], pics[j], False)
        # live: the light changes (a lamp, the screen), nothing else
        frames = []
        for j in range(pictures):
            frames += [_noise(rng, back * (1.0 - 0.12 * j), 1.0)] * every
        pics = camera_pictures(frames, every, 500_000)
        for j in range(1, len(pics)):
            yield Pair(f"{name} light changing {j}", pics[j - 1], pics[j], False)

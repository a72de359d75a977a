"""Faces for the real-person check: where, which landmarks, whose, and which way turned.

dlib (the ``dlib-bin`` wheel) runs three models, all shipped inside packages, nothing
downloaded: its HOG frontal-face detector (built into dlib), the 68-point shape predictor
and the ResNet face-recognition model (a 128-d embedding; two photos of one person lie
within :data:`DEFAULT_THRESHOLD` of each other), both from ``face-recognition-models``.
That package's own ``__init__`` imports ``pkg_resources`` (gone from recent setuptools),
so its model files are found through its import spec without importing it.

Everything here blocks: callers run it in a worker thread. Detectors are made per thread
(cheap); the shape predictor (100 MB) and the recognition network (22 MB) are loaded once
and shared: the predictor keeps no state between calls, the network does (its layers'
outputs), so it runs under a lock. It also holds the GIL for its ~75 ms per face (dlib's
Python binding does not release it), which is why a caller that must not stall other
threads embeds few frames (docs/faces.md).

:func:`pose` reads the head's yaw and pitch from landmarks through an *affine* camera fit
of a generic 3D face: an affine change of the picture (what a photo held up to the camera
can do: move, turn in its plane, tilt away, come closer) changes the fit's columns alike,
so the yaw and pitch it gives do not move at all; only a solid head turning does that.
The eyes' openness is measured the same way (ratios of parallel lengths).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np

from exams.identity.liveness import Observation

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
# Two embeddings closer than this are one person: measured on real photos (docs/faces.md,
# python -m bench.faces). dlib's own figure is 0.6 (LFW, 99.38%); lower refuses more
# genuine pairs and accepts fewer impostors.
DEFAULT_THRESHOLD = 0.5

MAX_SIDE = 960  # a larger picture is shrunk to this (longer side) before detection
MAX_PIXELS = 50_000_000  # a bigger picture (by its header) is refused before decoding
UPSAMPLE_BELOW = 640  # a picture this small (longer side) with no face is looked at 2x
ALWAYS_UPSAMPLE = 400  # a picture this small (longer side) is always looked at 2x
EXTRA_FACE_SCORE = 0.5  # HOG score a face besides the surest one needs (real faces: 0.5-2.5)

# Reference-photo quality (photo_problems), on the face shrunk/grown to FACE_SIDE pixels.
MIN_FACE_PX = 80  # the face box's width in the photo as uploaded
FACE_SIDE = 150
# Variance of the Laplacian of the face at FACE_SIDE, its contrast made alike (std 50): the
# astronaut's face scores 280, blurred by 1.5 px 41, by 2 px 30; a 160 px photo blown up 47.
MIN_SHARPNESS = 35.0
MIN_BRIGHTNESS = 60.0  # mean luma (0-255) of the face; well-lit photos: 110-170
SECOND_FACE_RATIO = 0.5  # another face at least this wide (share of the biggest) counts

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


class NotAnImage(ValueError):
    """The bytes are no JPEG or PNG (by magic bytes), do not decode, or are too big."""


class FaceModelMissing(RuntimeError):
    """face-recognition-models is not installed (pip install face-recognition-models)."""


@dataclass(frozen=True)
class Face:
    """One face in a picture, in the picture's pixels."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    landmarks: tuple[tuple[float, float], ...]  # 68 points, dlib's order
    embedding: tuple[float, ...] | None  # 128 floats; None when not asked for


@dataclass(frozen=True)
class Pose:
    """Where a face looks, in degrees, and how open its eyes are.

    ``yaw_deg`` > 0: the person turned their head to *their own left* (the nose moves to
    the right of an unmirrored camera picture, which is what a browser's canvas holds);
    ``pitch_deg`` > 0: they look down; ``roll_deg``: the eye line's slope, clockwise in
    the picture. ``eyes_open``: an eye aspect ratio (open eyes 0.17-0.3 from person to person,
    about half that closed), corrected for the face's own proportions so that a tilted
    photo does not "blink".
    Angles come from a generic face, so they are ±5-10° from the true ones: compare a
    face with itself over time, not with a fixed angle.
    """

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    eyes_open: float


# -- models ------------------------------------------------------------------------------

_local = threading.local()  # each thread's face detector
_load_lock = threading.Lock()
_net_lock = threading.Lock()  # the recognition network keeps state while it runs
_shared: dict[str, Any] = {}


def models_dir() -> Path:
    """face-recognition-models' ``models`` folder (found without importing the package)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelMissing("install face-recognition-models (pip install -e .)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not folder.is_dir():
        raise FaceModelMissing(f"{folder} is missing: reinstall face-recognition-models")
    return folder


def model_version() -> str:
    """The engine's libraries, to store beside each verdict."""
    try:
        models = importlib.metadata.version("face-recognition-models")
    except importlib.metadata.PackageNotFoundError:
        models = "?"
    return f"dlib {dlib.__version__} / face-recognition-models {models}"


def warm_up() -> None:
    """Load the models now (~1 s) rather than at the first picture."""
    _predictor()
    _network()


def _shared_model(name: str, file: str, load: Any) -> Any:
    found = _shared.get(name)
    if found is None:
        with _load_lock:
            found = _shared.get(name)
            if found is None:
                path = models_dir() / file
                if not path.is_file():
                    raise FaceModelMissing(f"{path} is missing: reinstall face-recognition-models")
                found = _shared[name] = load(str(path))
    return found


def _predictor() -> Any:
    return _shared_model("predictor", "shape_predictor_68_face_landmarks.dat", dlib.shape_predictor)


def _network() -> Any:
    return _shared_model("network", f"{MODEL_NAME}.dat", dlib.face_recognition_model_v1)


def _detector() -> Any:
    found = getattr(_local, "detector", None)
    if found is None:
        cv2.setNumThreads(1)  # one picture is too small to split; the cost shows per thread
        found = _local.detector = dlib.get_frontal_face_detector()
    return found


# -- pictures ----------------------------------------------------------------------------


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's SOF marker; None if not found."""
    if data.startswith(_PNG):
        if len(data) < 24:
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    return None


def decode(image: bytes | np.ndarray) -> np.ndarray:
    """An RGB uint8 array (C-contiguous) from JPEG/PNG bytes or an array; else NotAnImage."""
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise NotAnImage("an image array is uint8, height x width (x 3)")
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.shape[2] != 3 or min(array.shape[:2]) < 1:
            raise NotAnImage("an image array has 3 channels (RGB)")
        return np.ascontiguousarray(array)
    if not isinstance(image, bytes | bytearray | memoryview):
        raise NotAnImage("not an image")
    data = bytes(image)
    if not (data.startswith(_JPEG) or data.startswith(_PNG)):
        raise NotAnImage("not a JPEG or PNG file")
    size = _header_size(data)
    if size is None or size[0] < 1 or size[1] < 1:
        raise NotAnImage("the image's header is unreadable")
    if size[0] * size[1] > MAX_PIXELS:
        raise NotAnImage(f"the image is larger than {MAX_PIXELS // 1_000_000} megapixels")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise NotAnImage("the image does not decode")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _shrunk(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """The picture at most MAX_SIDE pixels long, and the factor it was multiplied by."""
    side = max(rgb.shape[:2])
    if side <= MAX_SIDE:
        return rgb, 1.0
    scale = MAX_SIDE / side
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)), scale


# -- faces -------------------------------------------------------------------------------


def _rectangles(rgb: np.ndarray) -> list[Any]:
    side = max(rgb.shape[:2])
    # a small picture (the wall's 320x240) always 2x: its faces are 40-80 px, which HOG
    # finds at 1x only with low scores; a larger one 2x when nothing was found at 1x
    found, scores, _ = _detector().run(rgb, 1 if side <= ALWAYS_UPSAMPLE else 0, 0.0)
    if not found and ALWAYS_UPSAMPLE < side <= UPSAMPLE_BELOW:
        found, scores, _ = _detector().run(rgb, 1, 0.0)  # faces down to ~40 px: 4x the work
    if not found:
        return []
    # the surest detection, and others only when sure too: HOG's weak hits on a badge or a
    # pattern (scores 0-0.4) would make "several faces" of one
    best = max(range(len(found)), key=lambda i: scores[i])
    kept = [r for i, r in enumerate(found) if i == best or scores[i] >= EXTRA_FACE_SCORE]
    return sorted(kept, key=lambda r: r.width() * r.height(), reverse=True)


def _embed(rgb: np.ndarray, shape: Any) -> tuple[float, ...]:
    with _net_lock:
        vector = _network().compute_face_descriptor(rgb, shape)
    return tuple(float(v) for v in vector)


def find_faces(image: bytes | np.ndarray, *, embed: bool = True) -> list[Face]:
    """The faces in a JPEG/PNG (checked by magic bytes) or an RGB uint8 array, biggest first.

    Raises :class:`NotAnImage` for anything else. ~30 ms for a 640x480 frame, +75 ms per
    face with ``embed``.
    """
    rgb, scale = _shrunk(decode(image))
    height, width = rgb.shape[:2]
    faces = []
    for rect in _rectangles(rgb):
        shape = _predictor()(rgb, rect)
        points = tuple((p.x / scale, p.y / scale) for p in shape.parts())
        box = (
            round(max(0, rect.left()) / scale),
            round(max(0, rect.top()) / scale),
            round(min(width, rect.right()) / scale),
            round(min(height, rect.bottom()) / scale),
        )
        faces.append(Face(box, points, _embed(rgb, shape) if embed else None))
    return faces


def embed_face(image: bytes | np.ndarray, face: Face) -> tuple[float, ...]:
    """The embedding of a face found earlier with ``embed=False`` in the same picture."""
    rgb, scale = _shrunk(decode(image))
    left, top, right, bottom = (round(v * scale) for v in face.box)
    parts = [dlib.point(round(x * scale), round(y * scale)) for x, y in face.landmarks]
    shape = dlib.full_object_detection(dlib.rectangle(left, top, right, bottom), parts)
    return _embed(rgb, shape)


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance of two embeddings: below :data:`DEFAULT_THRESHOLD` = one person."""
    if len(a) != len(b):
        raise ValueError("embeddings of different lengths")
    return math.dist(a, b)


# -- pose --------------------------------------------------------------------------------

# A generic head's rigid points (nose bridge and tip, nostril wings, subnasale, the eyes'
# corners), dlib index -> (x right in the picture, y down, z towards the camera), in cm:
# the anthropometric model of Martins & Batista (glAnthropometric3DModel), as used in the
# common "head pose from dlib landmarks" code, with the tip and bridge from its nose points.
_MODEL_3D = {
    27: (0.0, -4.554, 6.301),
    30: (0.0, -1.916, 7.654),
    31: (-2.006, -1.410, 6.166),
    33: (0.0, 0.0, 6.763),
    35: (2.006, -1.410, 6.166),
    36: (-5.311, -5.485, 3.988),
    39: (-1.790, -5.394, 4.413),
    42: (1.790, -5.394, 4.413),
    45: (5.311, -5.485, 3.988),
}
_RIGID = tuple(_MODEL_3D)
_MODEL = np.array([_MODEL_3D[i] for i in _RIGID], dtype=np.float64)
_MODEL_CENTRED = _MODEL - _MODEL.mean(axis=0)
_FIT = np.linalg.pinv(_MODEL_CENTRED)  # (3, n): least squares of points = model @ M.T
# An open eye's aspect ratio on a generic face = EAR * (nose length / eye distance) / this.
_FACE_ASPECT = 0.43


def _yaw_pitch(points: np.ndarray) -> tuple[float, float]:
    seen = points[list(_RIGID)]
    camera = (_FIT @ (seen - seen.mean(axis=0))).T  # (2, 3): the affine camera
    across, down, depth = camera[:, 0], camera[:, 1], camera[:, 2]
    basis = np.stack([across, down], axis=1)
    if abs(float(np.linalg.det(basis))) < 1e-9:
        return 0.0, 0.0
    # the depth axis in the picture, in units of the face's own across/down axes: an
    # affine change of the picture changes all three alike and leaves these two alone
    tan_yaw, tan_pitch = np.linalg.solve(basis, depth)
    return math.degrees(math.atan(float(tan_yaw))), math.degrees(math.atan(float(tan_pitch)))


def _eye_ratio(points: np.ndarray, first: int) -> float:
    p = points[first : first + 6]
    height = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    width = np.linalg.norm(p[0] - p[3])
    return float(height / (2 * width)) if width > 0 else 0.0


def pose(face: Face) -> Pose:
    """The face's yaw, pitch and roll, and how open its eyes are (see :class:`Pose`)."""
    points = np.array(face.landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError("a face with 68 landmarks")
    yaw, pitch = _yaw_pitch(points)
    eye_line = points[45] - points[36]
    roll = math.degrees(math.atan2(float(eye_line[1]), float(eye_line[0])))
    # the eyes' height against the nose's length (both up-down in the face) and their width
    # against the eyes' distance (both across): ratios an affine change of the picture keeps
    nose = float(np.linalg.norm(points[33] - points[27]))
    across = float(np.linalg.norm(points[45] - points[36]))
    ear = (_eye_ratio(points, 36) + _eye_ratio(points, 42)) / 2
    eyes_open = ear * (across / nose) * _FACE_ASPECT if nose > 0 else 0.0
    return Pose(yaw, pitch, roll, eyes_open)


def observation(t_ms: int, faces: Sequence[Face], first: Sequence[float] | None) -> Observation:
    """What liveness needs of one frame's faces (the biggest is the one that counts).

    ``first``: the first frame's embedding; the distance is measured when the biggest face
    has an embedding too (frames found with ``embed=False`` have none).
    """
    if not faces:
        return Observation(t_ms, 0, None, None, None, None)
    face = faces[0]
    seen = pose(face)
    far = None
    if first is not None and face.embedding is not None:
        far = distance(face.embedding, first)
    return Observation(t_ms, len(faces), seen.yaw_deg, seen.pitch_deg, seen.eyes_open, far)


# -- reference photos --------------------------------------------------------------------


def photo_problems(image: bytes) -> list[str]:
    """What is wrong with a reference photo, as codes; [] for a good one.

    ``not_an_image``, ``no_face``, ``several_faces``, ``face_too_small``, ``blurry``,
    ``too_dark`` (the last three may come together).
    """
    try:
        rgb = decode(image)
    except NotAnImage:
        return ["not_an_image"]
    faces = find_faces(rgb, embed=False)
    if not faces:
        return ["no_face"]
    biggest = faces[0].box
    width = biggest[2] - biggest[0]
    if any(f.box[2] - f.box[0] >= SECOND_FACE_RATIO * width for f in faces[1:]):
        return ["several_faces"]
    problems = []
    if width < MIN_FACE_PX:
        problems.append("face_too_small")
    luma = cv2.cvtColor(rgb[biggest[1] : biggest[3], biggest[0] : biggest[2]], cv2.COLOR_RGB2GRAY)
    if luma.size == 0:
        return ["no_face"]
    face = cv2.resize(luma, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)
    face = face.astype(np.float64)
    # edges against the face's own contrast, so that a dark photo is not also "blurry"
    normal = (face - face.mean()) / max(float(face.std()), 1.0) * 50
    if float(cv2.Laplacian(normal, cv2.CV_64F).var()) < MIN_SHARPNESS:
        problems.append("blurry")
    if float(face.mean()) < MIN_BRIGHTNESS:
        problems.append("too_dark")
    return problems

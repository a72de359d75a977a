"""How often the face match is wrong, at which threshold, and what a verification costs.

``python -m bench.faces`` prints the distances' false-accept and false-reject rates over a
sweep of thresholds, and the server CPU of one verification and of one in-exam check
(``time.thread_time``: this thread's work, whatever else the machine does). The numbers
of ``docs/faces.md`` come from it.

The photos are real ones shipped inside packages; nothing is drawn or generated:

- ``skimage.data`` (scikit-image, a test dependency): the astronaut (Eileen Collins) and
  the 100 face crops of ``lfw_subset`` (Labeled Faces in the Wild, picked at random by
  scikit-image, so a person may be there twice; 25x25 pixels, grey, grown to 150x150);
- the source distribution of ``face-recognition`` 1.3.0 on PyPI (its tests' photos: three
  different photos of Barack Obama and one of Joe Biden; its crops and format copies of
  those are left out). It is a development file, not a dependency: ``--fetch`` downloads it
  with pip into ``--sdist-dir``, or put ``face_recognition-1.3.0.tar.gz`` there yourself;
- ``--photos DIR``: your own, a folder per person (``DIR/<person>/*.jpg|png``), e.g. the
  reference photos and a later photo of each of a unit's staff: the honest measure.

Genuine pairs: two different photos of one person, and each photo against six
recaptures of itself as a camera would send it (640x480 or smaller, JPEG at 60, lighter or
darker, a little turned in the plane, soft). Impostor pairs: any two people.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from exams.identity import liveness
from media import face_engine

SDIST = "face_recognition-1.3.0.tar.gz"
SDIST_PHOTOS = {  # photo in the sdist -> person (distinct photos only)
    "tests/test_images/obama.jpg": "Barack Obama",
    "tests/test_images/obama2.jpg": "Barack Obama",
    "tests/test_images/obama3.jpg": "Barack Obama",
    "tests/test_images/biden.jpg": "Joe Biden",
}
THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
FRAME = (640, 480)


@dataclass(frozen=True)
class Photo:
    person: str
    name: str
    rgb: np.ndarray
    recapture: bool = False  # a camera-like copy of another photo


def _skimage_photos() -> list[Photo]:
    import skimage.data  # a test dependency

    photos = [Photo("Eileen Collins", "skimage astronaut", skimage.data.astronaut())]
    for i, crop in enumerate(skimage.data.lfw_subset()[:100]):
        grey = (np.clip(crop, 0, 1) * 255).astype(np.uint8)
        big = cv2.resize(grey, (150, 150), interpolation=cv2.INTER_CUBIC)
        rgb = np.repeat(big[:, :, None], 3, axis=2)
        photos.append(Photo(f"lfw-{i}", f"skimage lfw_subset[{i}]", rgb))
    return photos


def _sdist_photos(folder: Path, fetch: bool) -> list[Photo]:
    path = folder / SDIST
    if not path.is_file() and fetch:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"),
                *("-d", str(folder), "face-recognition==1.3.0"),
            ],
            check=True,
        )
    if not path.is_file():
        print(f"bench.faces: no {path} (use --fetch): Obama/Biden left out", file=sys.stderr)
        return []
    photos = []
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            inner = member.name.split("/", 1)[-1]
            if inner in SDIST_PHOTOS:
                data = tar.extractfile(member)
                assert data is not None
                rgb = face_engine.decode(data.read())
                photos.append(Photo(SDIST_PHOTOS[inner], f"face-recognition sdist {inner}", rgb))
    return photos


def _own_photos(folder: Path) -> list[Photo]:
    photos = []
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(person.iterdir()):
            if file.suffix.lower() in (".jpg", ".jpeg", ".png"):
                rgb = face_engine.decode(file.read_bytes())
                photos.append(Photo(f"own:{person.name}", str(file), rgb))
    return photos


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return face_engine.decode(data.tobytes())


def _in_frame(rgb: np.ndarray, share: float) -> np.ndarray:
    """The photo scaled to fill ``share`` of a 640x480 frame's height, on grey."""
    h, w = rgb.shape[:2]
    scale = FRAME[1] * share / h
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME[1], FRAME[0], 3), 110, np.uint8)
    sh, sw = small.shape[:2]
    sw, sh = min(sw, FRAME[0]), min(sh, FRAME[1])
    x, y = (FRAME[0] - sw) // 2, (FRAME[1] - sh) // 2
    frame[y : y + sh, x : x + sw] = small[:sh, :sw]
    return frame


def recaptures(photo: Photo) -> list[Photo]:
    """Six camera-like copies of a photo (see the module's docstring)."""
    rgb = photo.rgb
    h, w = rgb.shape[:2]
    turned = cv2.warpAffine(rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 6, 1.0), (w, h))
    copies = {
        "frame, jpeg 60": _jpeg(_in_frame(rgb, 0.9), 60),
        "frame, smaller": _jpeg(_in_frame(rgb, 0.6), 75),
        "lighter": _jpeg(cv2.convertScaleAbs(rgb, alpha=1.15, beta=30), 75),
        "darker": _jpeg(cv2.convertScaleAbs(rgb, alpha=0.55), 75),
        "turned 6°": _jpeg(turned, 75),
        "soft": _jpeg(cv2.GaussianBlur(rgb, (0, 0), max(1.0, w / 600)), 75),
    }
    return [Photo(photo.person, f"{photo.name} ({k})", v, True) for k, v in copies.items()]


def _embedding(photo: Photo) -> tuple[float, ...] | None:
    faces = face_engine.find_faces(photo.rgb)
    return faces[0].embedding if faces else None


def _is_lfw(name: str) -> bool:
    return name.startswith("skimage lfw_subset")


def rates(genuine: list[float], impostor: list[float], threshold: float) -> tuple[float, float]:
    """(FAR, FRR): impostor pairs accepted, genuine pairs refused, as shares."""
    far = sum(d < threshold for d in impostor) / max(1, len(impostor))
    frr = sum(d >= threshold for d in genuine) / max(1, len(genuine))
    return far, frr


def measure(photos: list[Photo]) -> dict[str, object]:
    originals = [p for p in photos if not p.person.startswith("lfw-")]
    everything = photos + [r for p in originals for r in recaptures(p)]
    found = [(p, e) for p in everything if (e := _embedding(p)) is not None]
    missed = [p.name for p in everything if p.name not in {q.name for q, _ in found}]
    genuine_photos, genuine_recaptures, impostor = [], [], []
    for (a, ea), (b, eb) in itertools.combinations(found, 2):
        d = face_engine.distance(ea, eb)
        if a.person != b.person:
            if not (a.recapture or b.recapture):
                impostor.append((d, a.name, b.name))
        elif a.recapture and b.recapture:
            continue
        elif a.recapture or b.recapture:
            original = b if a.recapture else a
            copy = a if a.recapture else b
            if copy.name.startswith(original.name + " ("):
                genuine_recaptures.append((d, a.name, b.name))
        else:
            genuine_photos.append((d, a.name, b.name))
    genuine = [d for d, _, _ in genuine_photos + genuine_recaptures]
    impostors = [d for d, _, _ in impostor]
    # two LFW crops may be one person (scikit-image picked them at random): the pairs
    # with a named person on one side at least are the sure impostors
    named = [d for d, a, b in impostor if not (_is_lfw(a) and _is_lfw(b))]
    table = []
    for t in THRESHOLDS:
        far, frr = rates(genuine, impostors, t)
        far_named = rates([], named, t)[0]
        frr_photos = rates([d for d, _, _ in genuine_photos], [], t)[1]
        table.append((t, far, far_named, frr, frr_photos))
    return {
        "photos": len(everything),
        "faces_found": len(found),
        "missed": missed,
        "genuine_photo_pairs": sorted(genuine_photos),
        "genuine_recapture_pairs": len(genuine_recaptures),
        "largest_recaptures": sorted(genuine_recaptures)[-3:],
        "genuine_max": max(genuine, default=float("nan")),
        "impostor_pairs": len(impostor),
        "named_impostor_pairs": len(named),
        "closest_named_impostor": min(named, default=float("nan")),
        "closest_impostors": sorted(impostor)[:5],
        "table": table,
    }


def cost(photo: np.ndarray, frames: int = 12, embedded: int = 3) -> dict[str, float]:
    """CPU seconds of one verification: the reference photo found and embedded, ``frames``
    640x480 JPEG frames decoded and searched, ``embedded`` of them embedded, the judge."""
    face_engine.warm_up()
    reference = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))[1].tobytes()
    jpegs = []
    for i in range(frames):
        shift = np.array([[1, 0, 8 * (i % 5) - 16], [0, 1, 4 * (i % 3)]], dtype=np.float32)
        frame = cv2.warpAffine(_in_frame(photo, 0.8), shift, FRAME)
        jpegs.append(cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes())
    start = time.thread_time()
    ref_faces = face_engine.find_faces(reference)
    after_reference = time.thread_time()
    observations, first = [], None
    pick = {0, frames // 2, frames - 1} if embedded >= 3 else {0}
    for i, jpeg in enumerate(jpegs):
        faces = face_engine.find_faces(jpeg, embed=False)
        if faces and i in pick:
            embedding = face_engine.embed_face(jpeg, faces[0])
            faces = [face_engine.Face(faces[0].box, faces[0].landmarks, embedding), *faces[1:]]
            first = first or embedding
        observations.append(face_engine.observation(i * 300, faces, first))
    liveness.judge((liveness.TURN_LEFT, liveness.TURN_RIGHT), observations)
    if ref_faces and first is not None and ref_faces[0].embedding is not None:
        face_engine.distance(ref_faces[0].embedding, first)
    end = time.thread_time()
    wall = cv2.resize(_in_frame(photo, 0.8), (320, 240), interpolation=cv2.INTER_AREA)
    wall_jpeg = cv2.imencode(".jpg", cv2.cvtColor(wall, cv2.COLOR_RGB2BGR))[1].tobytes()
    check_start = time.thread_time()
    checks = 5
    for _ in range(checks):
        face_engine.find_faces(wall_jpeg)
    check = (time.thread_time() - check_start) / checks
    return {
        "reference_s": after_reference - start,
        "frames_s": end - after_reference,
        "verification_s": end - start,
        "in_exam_check_s": check,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faces", description=__doc__)
    parser.add_argument("--sdist-dir", type=Path, default=Path(".bench-faces"))
    parser.add_argument("--fetch", action="store_true", help="pip download the sdist")
    parser.add_argument("--photos", type=Path, help="DIR/<person>/*.jpg: your own photos")
    args = parser.parse_args(argv)
    photos = _skimage_photos() + _sdist_photos(args.sdist_dir, args.fetch)
    if args.photos:
        photos += _own_photos(args.photos)
    result = measure(photos)
    print(f"model: {face_engine.MODEL_NAME} ({face_engine.model_version()})")
    print(f"photos (with recaptures): {result['photos']}, faces found: {result['faces_found']}")
    print(f"no face found in: {result['missed']}")
    print("genuine pairs of different photos:")
    for d, a, b in result["genuine_photo_pairs"]:  # type: ignore[attr-defined]
        print(f"  {d:.3f}  {a}  /  {b}")
    print(f"genuine recapture pairs: {result['genuine_recapture_pairs']}")
    print(f"largest genuine distance: {result['genuine_max']:.3f}")
    print("largest genuine recapture distances:")
    for d, a, b in result["largest_recaptures"]:  # type: ignore[attr-defined]
        print(f"  {d:.3f}  {a}  /  {b}")
    print(f"impostor pairs: {result['impostor_pairs']}; closest:")
    for d, a, b in result["closest_impostors"]:  # type: ignore[attr-defined]
        print(f"  {d:.3f}  {a}  /  {b}")
    print(
        f"impostor pairs with a named person: {result['named_impostor_pairs']}, closest "
        f"{result['closest_named_impostor']:.3f}"
    )
    print("| threshold | FAR (all) | FAR (named) | FRR (all genuine) | FRR (different photos) |")
    print("|---|---|---|---|---|")
    for t, far, named, frr, frr_photos in result["table"]:  # type: ignore[attr-defined]
        print(f"| {t:.2f} | {far:.2%} | {named:.2%} | {frr:.2%} | {frr_photos:.2%} |")
    rgb = photos[0].rgb
    spent = cost(rgb)
    print(
        "cost (thread CPU s): reference photo {reference_s:.3f}, 12 frames + 3 embeddings + "
        "judge {frames_s:.3f}, verification {verification_s:.3f}; in-exam check (320x240, "
        "find + embed) {in_exam_check_s:.3f}".format(**spent)
    )
    for every in (30, 60, 120):
        share = spent["in_exam_check_s"] / every * 100
        print(f"  in-exam check every {every} s: {share:.3f}% of a core per candidate")


if __name__ == "__main__":
    main()

"""What the in-exam face check costs per candidate, and what it tells on wall pictures.

``python -m bench.face_check`` prints one JSON object. The pictures are the wall's own (real
photos shipped in scikit-image put on a real scene, a 640x480 frame encoded as a VP8 keyframe,
decoded and scaled to 320x240 by ``media/picture_codec.py``): the astronaut (the candidate;
the reference photo is her whole photo as a JPEG) with her face at several sizes, and 100
LFW faces (other people). Each picture goes through the check's own path
(``FaceCheck._compare``: the RGB picture made in the thread, faces found and embedded in the
worker process) and the figures are:

- ``cpu_ms``: thread CPU per check (here + in the worker process), mean and max, by face size;
  ``process_cpu_ms``: the worker process's whole CPU per check (``/proc``: with the transfer);
- ``pct_core_per_candidate``: ``cpu_ms`` x checks per second, for each interval (a candidate
  is checked once an interval while a take records), percent of one core;
- ``impostors``: of the LFW faces, how many a check found and called a mismatch at the
  threshold (two in a row raise the incident); ``genuine``: the astronaut's distances.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2

from bench import vision_fixtures as fx
from media import face_engine
from media.detectors.face_match import FaceCheck, FaceWorker
from media.pictures import Picture

SIZES = (240, 300, 360, 440)  # the astronaut photo's side on the 640x480 frame
INTERVALS_S = (30, 60, 90)


def _picture(rgb: Any) -> Picture:
    frame = fx.picture(rgb)
    return Picture("c", "primary", b"", frame.width, frame.height, 0.0, 1, frame)


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(impostors: int = 100) -> dict[str, Any]:
    worker = FaceWorker()
    check = FaceCheck(
        SimpleNamespace(), SimpleNamespace(), SimpleNamespace(), SimpleNamespace(),
        SimpleNamespace(), time.time, worker=worker,
    )  # fmt: skip
    try:
        ok, photo = cv2.imencode(".jpg", cv2.cvtColor(fx.astronaut(), cv2.COLOR_RGB2BGR))
        assert ok
        reference, _ = worker.reference(photo.tobytes())
        assert reference is not None, "the reference photo shows no face"
        pid = next(iter(worker._executor()._processes))  # the worker process, for /proc
        genuine: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        process_cpu: list[float] = []
        for size in SIZES:
            for dx, dy in ((0, 0), (14, 6), (28, 0), (14, -6), (-14, 4)):
                x, y = 320 - size // 2 + dx, 240 - size // 2 + dy
                picture = _picture(fx.paste(fx.scene("brick"), fx.astronaut(), x, y, size))
                before = _process_cpu_s(pid)
                seen = check._compare(picture, reference)
                process_cpu.append(_process_cpu_s(pid) - before)
                key = f"photo {size}px"
                cpu.setdefault(key, []).append(seen.cpu_s * 1000)
                if seen.distance is not None:
                    genuine.setdefault(key, []).append(round(seen.distance, 3))
        found = mismatched = 0
        impostor_distances = []
        for face in fx.lfw_faces()[:impostors]:
            seen = check._compare(
                _picture(fx.paste(fx.scene("brick"), face, 160, 40, 360)), reference
            )
            if seen.distance is not None:
                found += 1
                impostor_distances.append(seen.distance)
                mismatched += seen.distance > check.threshold
        every = [ms for values in cpu.values() for ms in values]
        mean_ms = statistics.fmean(every)
        return {
            "threshold": check.threshold,
            "cpu_ms": {
                "mean": round(mean_ms, 1),
                "max": round(max(every), 1),
                "by_size": {k: round(statistics.fmean(v), 1) for k, v in cpu.items()},
            },
            "process_cpu_ms": round(1000 * statistics.fmean(process_cpu), 1),
            "pct_core_per_candidate": {
                f"{s}s": round(100 * mean_ms / 1000 / s, 3) for s in INTERVALS_S
            },
            "genuine": genuine,
            "impostors": {
                "faces": impostors,
                "found": found,
                "mismatch": mismatched,
                "min_distance": round(min(impostor_distances), 3) if impostor_distances else None,
            },
            "model": face_engine.model_version(),
        }
    finally:
        worker.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impostors", type=int, default=100, help="LFW faces to try (<= 100)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.impostors)))


if __name__ == "__main__":
    main()

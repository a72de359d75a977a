"""How often the vision detectors are right on the fixtures, and what a picture costs.

``python -m bench.detection`` prints one JSON object: per detector the fixtures
it was run on, its false positives (it saw the condition where there is none)
and misses (it did not see one that is there), and the CPU time per picture of
each detector in this thread (``time.thread_time``: the worker's cost, whatever
else the machine does), and what that makes per camera pictured every 2.5 s
(``cpu_per_camera_pct``, percent of one core). ``--markdown`` prints the table
of ``docs/detection.md`` instead, which ``tests/unit/media/test_detection_rates.py``
keeps current.

The fixtures are :mod:`bench.vision_fixtures` (real photos shipped in
scikit-image, through the wall's own picture code).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from dataclasses import asdict, dataclass

from bench import vision_fixtures as fixtures
from media.detectors import dark, faces, frozen
from media.pictures import DEFAULT_INTERVAL_S


@dataclass(frozen=True)
class Rate:
    detector: str  # the alert kind
    positives: int  # fixtures showing the condition
    negatives: int  # fixtures without it
    misses: int
    false_positives: int
    missed: tuple[str, ...]
    false: tuple[str, ...]


@dataclass
class _Count:
    positives: int = 0
    negatives: int = 0
    missed: list[str] | None = None
    false: list[str] | None = None

    def add(self, name: str, truth: bool, seen: bool) -> None:
        self.missed = self.missed or []
        self.false = self.false or []
        if truth:
            self.positives += 1
            if not seen:
                self.missed.append(name)
        else:
            self.negatives += 1
            if seen:
                self.false.append(name)

    def rate(self, detector: str) -> Rate:
        missed, false = tuple(self.missed or ()), tuple(self.false or ())
        return Rate(
            detector, self.positives, self.negatives, len(missed), len(false), missed, false
        )


@dataclass(frozen=True)
class Figures:
    rates: tuple[Rate, ...]
    cpu_ms: dict[str, float]  # mean thread CPU per picture, per detector


@functools.cache
def measure() -> Figures:
    """Run every detector over its fixtures (a few seconds; cached per process)."""
    cpu = {"camera_dark": 0.0, "picture_frozen": 0.0, "faces": 0.0}
    runs = dict.fromkeys(cpu, 0)
    no_face, many = _Count(), _Count()
    for still in fixtures.face_stills():
        luma = still.frame.to_ndarray(format="gray")
        started = time.thread_time()
        found = faces.count(luma)
        cpu["faces"] += time.thread_time() - started
        runs["faces"] += 1
        assert still.faces is not None
        no_face.add(still.name, still.faces == 0, found == 0)
        many.add(still.name, still.faces >= 2, found >= 2)
    covered = _Count()
    for still in fixtures.dark_stills():
        luma = still.frame.to_ndarray(format="gray")
        started = time.thread_time()
        seen = dark.is_dark(dark.exposure(luma))
        cpu["camera_dark"] += time.thread_time() - started
        runs["camera_dark"] += 1
        covered.add(still.name, bool(still.dark), seen)
    still_count = _Count()
    for pair in fixtures.frozen_pairs():
        before = frozen.small(pair.before.to_ndarray(format="gray"))
        luma = pair.after.to_ndarray(format="gray")
        started = time.thread_time()
        same = frozen.is_same(frozen.difference(before, frozen.small(luma)))
        cpu["picture_frozen"] += time.thread_time() - started
        runs["picture_frozen"] += 1
        still_count.add(pair.name, pair.frozen, same)
    return Figures(
        (
            covered.rate("camera_dark"),
            still_count.rate("picture_frozen"),
            no_face.rate("no_face"),
            many.rate("many_faces"),
        ),
        {k: round(1000 * cpu[k] / max(1, runs[k]), 3) for k in cpu},
    )


FIXTURES = {
    "camera_dark": "black and covered lenses (generated) / 20 real scenes, lit and dimmed",
    "picture_frozen": "one picture re-sent (300 k, 1 Mbit/s) / a person moving, a light changing",
    "no_face": "20 real scenes, 100 LFW non-face crops / 102 one-face, 60 two-face photos",
    "many_faces": "60 two real faces side by side / 102 one-face photos, 120 without a face",
}


def markdown(figures: Figures) -> str:
    """The table of ``docs/detection.md`` (rates only: CPU depends on the machine)."""
    lines = [
        "| detector | fixtures (with / without the condition) | with | without "
        "| misses | false positives |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in figures.rates:
        lines.append(
            f"| `{r.detector}` | {FIXTURES[r.detector]} | {r.positives} | {r.negatives} "
            f"| {r.misses} ({_pct(r.misses, r.positives)}) "
            f"| {r.false_positives} ({_pct(r.false_positives, r.negatives)}) |"
        )
    return "\n".join(lines) + "\n"


def _pct(n: int, of: int) -> str:
    return f"{100 * n / max(1, of):.1f} %"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print docs/detection.md's table")
    args = parser.parse_args(argv)
    figures = measure()
    if args.markdown:
        print(markdown(figures), end="")
        return
    out = {
        "rates": [asdict(r) for r in figures.rates],
        "cpu_ms": figures.cpu_ms,
        "cpu_per_camera_pct": per_camera_pct(figures),
    }
    print(json.dumps(out))


def per_camera_pct(figures: Figures, interval_s: float = DEFAULT_INTERVAL_S) -> dict[str, float]:
    """Percent of one core per camera pictured every ``interval_s``: the primary camera is
    judged by all three, the second camera by dark and frozen only."""
    cpu = figures.cpu_ms
    both = cpu["camera_dark"] + cpu["picture_frozen"]
    return {
        "primary": round(100 * (both + cpu["faces"]) / 1000 / interval_s, 3),
        "secondary": round(100 * both / 1000 / interval_s, 3),
    }


if __name__ == "__main__":
    main()

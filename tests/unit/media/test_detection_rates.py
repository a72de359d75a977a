"""The vision detectors' rates on the fixtures (bench/detection.py), and docs/detection.md
showing exactly those (regenerate with ``python -m bench.detection --markdown``)."""

from __future__ import annotations

from pathlib import Path

from bench import detection

DOC = Path(__file__).resolve().parents[3] / "docs" / "detection.md"
START, END = "<!-- detection-rates", "<!-- /detection-rates -->"


def test_the_rates_in_the_docs_are_the_measured_ones() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n", text.index(START)) + 1
    table = text[start : text.index(END)]
    assert table == detection.markdown(detection.measure())


def test_every_detector_is_mostly_right_and_sees_every_covered_lens() -> None:
    rates = {r.detector: r for r in detection.measure().rates}
    assert set(rates) == {"camera_dark", "picture_frozen", "no_face", "many_faces"}
    for r in rates.values():
        assert r.positives >= 45 and r.negatives >= 60
        assert r.misses <= 0.1 * r.positives, r.missed
        assert r.false_positives <= 0.15 * r.negatives, r.false
    assert rates["camera_dark"].misses == 0
    lit = [name for name in rates["camera_dark"].false if "dim" not in name]
    assert lit == []  # only dimmed scenes are ever taken for a covered lens
    cpu = detection.measure().cpu_ms
    assert set(cpu) == {"camera_dark", "picture_frozen", "faces"} and all(cpu.values())

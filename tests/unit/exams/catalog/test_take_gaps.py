"""The arithmetic of a take's holes and fills, on the take's clock (issue #14)."""

from __future__ import annotations

from typing import Any

import pytest

from exams.catalog import take_gaps as tg


def fill(index: int, start_s: float, covers: tuple[float, float]) -> dict[str, Any]:
    return {
        "index": index,
        "reason": "fill",
        "start_s": start_s,
        "covers": list(covers),
        "picture_s": covers[1] - start_s,
    }


def test_subtract_takes_the_covered_stretches_out() -> None:
    assert tg.subtract([(2.0, 8.0)], [(3.0, 4.0)]) == [(2.0, 3.0), (4.0, 8.0)]
    assert tg.subtract([(2.0, 8.0)], [(1.0, 9.0)]) == []
    assert tg.subtract([(2.0, 8.0)], [(2.0, 5.0), (5.0, 8.0)]) == []
    assert tg.subtract([(2.0, 8.0)], [(8.0, 9.0)]) == [(2.0, 8.0)]
    # a sliver shorter than MIN_GAP_S is rounding, not a hole
    assert tg.subtract([(2.0, 8.0)], [(2.02, 8.0)]) == []


def test_open_gaps_are_the_recorded_holes_minus_the_fills() -> None:
    part = {
        "segments": [{"index": 0, "reason": "start", "start_s": 0.0, "picture_s": 2.0}],
        "gaps": [{"start_s": 2.0, "end_s": 7.0, "reason": "media_lost"}],
        "recorded_s": 2.0,
    }
    assert tg.open_gaps(part) == [{"start_s": 2.0, "end_s": 7.0, "reason": "media_lost"}]
    half = tg.with_fill(part, fill(1, 1.5, (2.0, 4.5)))
    assert half["gaps"] == [{"start_s": 4.5, "end_s": 7.0, "reason": "media_lost"}]
    assert half["recorded_gaps"] == part["gaps"]
    assert half["recorded_s"] == 4.5  # the fill counts what it covers, not its overlap
    assert not tg.is_complete(half)
    whole = tg.with_fill(half, fill(2, 4.0, (4.5, 7.0)))
    assert whole["gaps"] == [] and whole["recorded_s"] == 7.0
    assert tg.is_complete(whole)
    assert whole["recorded_gaps"] == part["gaps"]  # kept as the recorder saw them


def test_a_take_is_complete_only_when_every_camera_is() -> None:
    manifest: dict[str, Any] = {
        "segments": [{"index": 0, "start_s": 0.0}],
        "gaps": [],
        "cameras": {"secondary": {"segments": [], "gaps": [{"start_s": 1, "end_s": 3}]}},
    }
    assert not tg.is_complete(manifest)
    manifest["cameras"]["secondary"]["gaps"] = []
    assert tg.is_complete(manifest)
    assert not tg.is_complete({"segments": [], "gaps": []})  # nothing recorded


def test_a_take_cut_by_the_server_ends_in_a_gap_until_it_would_have_stopped() -> None:
    segments = [
        {"start_s": 0.1, "duration_s": 3.0},
        {"start_s": 5.0, "duration_s": 2.0},
    ]
    assert tg.trailing_gaps(segments, 30.0) == [
        {"start_s": 3.1, "end_s": 5.0, "reason": "media_lost"},
        {"start_s": 7.0, "end_s": 30.0, "reason": "server_restart"},
    ]
    # Its limit, but no later than when the server came back and stopped it...
    assert tg.recovery_end_s(1000.0, 1020.0, 60.0, 7.0) == 20.0
    assert tg.recovery_end_s(1000.0, 1900.0, 60.0, 7.0) == 60.0
    # ...and a take without a limit at most UNLIMITED_TAIL_S past its last media.
    assert tg.recovery_end_s(1000.0, 99_000.0, None, 7.0) == 7.0 + tg.UNLIMITED_TAIL_S


@pytest.mark.parametrize(
    ("started_at_ms", "take_started_at", "zero"),
    [(1_750_000_000_250.0, 1_750_000_000.0, 0.25), (1_750_000_004_000.0, 1_750_000_000.5, 3.5)],
)
def test_a_fill_is_placed_on_the_takes_clock(
    started_at_ms: float, take_started_at: float, zero: float
) -> None:
    """The copy's time 0 is ``started_at_ms / 1000 - take.started_at`` on the take's clock."""
    assert tg.fill_zero(started_at_ms, take_started_at) == pytest.approx(zero)
    span = tg.claimed_span(started_at_ms + 2000, started_at_ms + 5000, take_started_at)
    assert span == pytest.approx((zero + 2.0, zero + 5.0))

"""The shared "lasted after_s → onset; cleared → end" state machine, on times the test picks."""

from __future__ import annotations

import pytest

from exams.proctoring.conditions import Condition, End, Onset


def test_fires_once_after_lasting_and_reports_when_it_began() -> None:
    dark = Condition(after_s=5.0)
    assert dark.feed(True, 100.0) is None
    assert dark.since == 100.0 and dark.due == 105.0 and not dark.fired
    assert dark.feed(True, 102.5) is None
    assert dark.feed(True, 105.0) == Onset(started_at=100.0, at=105.0)
    assert dark.fired and dark.due is None
    assert dark.feed(True, 107.5) is None  # once
    assert dark.feed(False, 110.0) == End(started_at=100.0, ended_at=110.0)
    assert dark.since is None and not dark.fired


def test_a_break_before_after_s_reports_nothing_and_restarts_the_count() -> None:
    c = Condition(after_s=5.0)
    assert c.feed(True, 0.0) is None
    assert c.feed(True, 4.9) is None
    assert c.feed(False, 5.0) is None  # never fired: no End either
    assert c.feed(True, 7.5) is None
    assert c.feed(True, 10.0) is None  # 2.5 s since the new start
    assert c.feed(True, 12.5) == Onset(7.5, 12.5)


def test_samples_apart_fire_at_the_first_sample_past_after_s() -> None:
    # pictures come ~2.5 s apart: a 10 s rule fires at the fifth picture, onset at the first
    c = Condition(after_s=10.0)
    changes = [c.feed(True, 2.5 * k) for k in range(6)]
    assert changes[:4] == [None] * 4
    assert changes[4] == Onset(0.0, 10.0)
    assert changes[5] is None


def test_after_s_zero_fires_on_the_first_sample() -> None:
    c = Condition(after_s=0.0)
    assert c.feed(True, 3.0) == Onset(3.0, 3.0)
    assert c.feed(False, 4.0) == End(3.0, 4.0)


def test_poll_fires_a_lasting_condition_without_a_new_sample() -> None:
    silent = Condition(after_s=20.0)
    silent.feed(True, 50.0)
    assert silent.poll(60.0) is None
    assert silent.due == 70.0
    assert silent.poll(70.0) == Onset(50.0, 70.0)
    assert silent.poll(80.0) is None
    assert Condition(after_s=1.0).poll(5.0) is None  # nothing going on


def test_clear_ends_a_fired_condition_and_forgets_an_unfired_one() -> None:
    c = Condition(after_s=1.0)
    c.feed(True, 0.0)
    assert c.clear(0.5) is None
    assert c.since is None
    c.feed(True, 1.0)
    c.feed(True, 2.0)
    assert c.clear(3.0) == End(1.0, 3.0)
    assert c.clear(4.0) is None  # idempotent


def test_after_s_can_change_between_samples() -> None:
    c = Condition(after_s=10.0)
    c.feed(True, 0.0)
    assert c.feed(True, 3.0) is None
    c.after_s = 3.0  # the exam's rule was edited
    assert c.feed(True, 3.5) == Onset(0.0, 3.5)


def test_an_end_never_goes_before_its_start() -> None:
    c = Condition(after_s=0.0)
    c.feed(True, 10.0)
    assert c.clear(9.0) == End(10.0, 10.0)  # a late sample from a clock step back


def test_negative_after_s_is_refused() -> None:
    with pytest.raises(ValueError, match="after_s"):
        Condition(after_s=-1.0)

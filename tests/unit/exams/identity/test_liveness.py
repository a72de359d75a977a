"""The liveness judge on sequences of observations: what a live person, a held-up photo,
a replayed video of another challenge and a face swap look like to it."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from exams.identity import liveness
from exams.identity.liveness import (
    BLINK,
    CHALLENGE_STEPS,
    TURN_LEFT,
    TURN_RIGHT,
    Observation,
    judge,
    new_challenge,
)

STEP_MS = 250
OPEN = 0.30


def _frames(
    yaws: Sequence[float],
    *,
    eyes: Sequence[float] | None = None,
    faces: Sequence[int] | None = None,
    distances: Sequence[float | None] | None = None,
    pitch_wobble: float = 1.5,
) -> list[Observation]:
    """Observations every STEP_MS; a live face's pitch wobbles a little."""
    out = []
    for i, yaw in enumerate(yaws):
        count = 1 if faces is None else faces[i]
        far = None if distances is None else distances[i]
        if count == 0:
            out.append(Observation(i * STEP_MS, 0, None, None, None, None))
            continue
        eye = OPEN if eyes is None else eyes[i]
        pitch = -10.0 + (pitch_wobble if i % 2 else 0.0)
        out.append(Observation(i * STEP_MS, count, yaw, pitch, eye, far))
    return out


# a live person: frontal, turns left (yaw > 0), back, right, back
LEFT_RIGHT = [1, 2, 10, 22, 25, 12, 3, -8, -20, -24, -9, 0]
RIGHT_LEFT = [-y for y in LEFT_RIGHT]


def test_new_challenge_is_random_and_uses_both_turns() -> None:
    rng = random.Random(7)
    seen = {new_challenge(rng) for _ in range(200)}
    assert len(seen) == 6  # 2 orders of the turns x 3 places for the blink
    for steps in seen:
        assert sorted(steps) == sorted(CHALLENGE_STEPS)
    assert {new_challenge(rng, blink=False) for _ in range(50)} == {
        (TURN_LEFT, TURN_RIGHT),
        (TURN_RIGHT, TURN_LEFT),
    }


def test_a_live_person_doing_the_turns_passes() -> None:
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT)).passed
    assert judge((TURN_RIGHT, TURN_LEFT), _frames(RIGHT_LEFT)).passed


def test_the_start_need_not_be_exactly_zero() -> None:
    # the engine's angles are biased per person: the turns count from the start's yaw
    shifted = [y + 9 for y in LEFT_RIGHT]
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(shifted)).passed


def test_a_replay_of_the_other_order_fails_with_order() -> None:
    result = judge((TURN_LEFT, TURN_RIGHT), _frames(RIGHT_LEFT))
    assert (result.passed, result.reason) == (False, "order")


def test_extra_turns_fail_with_order() -> None:
    both_twice = [*LEFT_RIGHT, *LEFT_RIGHT]
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(both_twice)).reason == "order"


def test_a_missing_step_fails_with_steps_not_seen() -> None:
    only_left = [0, 2, 12, 20, 24, 10, 2, 0, 1, -2, 0, 1]
    result = judge((TURN_LEFT, TURN_RIGHT), _frames(only_left))
    assert (result.passed, result.reason) == (False, "steps_not_seen")
    # a turn that stays small is no turn
    timid = [y * 0.5 for y in LEFT_RIGHT]
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(timid)).reason == "steps_not_seen"


def test_a_turned_start_fails_with_steps_not_seen() -> None:
    # the head already turned at the first frames: no frontal start
    started_turned = [30, 30, 31, 40, 30, 10, 0, -8, -20, -24, -9, 0]
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(started_turned)).reason == "steps_not_seen"


def test_a_blink_where_asked_passes() -> None:
    yaws = [0, 1, 12, 22, 24, 10, 1, 0, 0, -2, -18, -22, -10, 0]
    eyes = [OPEN] * len(yaws)
    eyes[7] = 0.12  # frontal, between the turns
    assert judge((TURN_LEFT, BLINK, TURN_RIGHT), _frames(yaws, eyes=eyes)).passed
    # asked before the turns: the one blink came after the left turn
    assert judge((BLINK, TURN_LEFT, TURN_RIGHT), _frames(yaws, eyes=eyes)).reason == "order"


def test_eyes_that_close_and_never_open_are_no_blink() -> None:
    yaws = [0, 1, 12, 22, 24, 10, 1, 0, 0, -2, -18, -22, -10, 0, 0]
    eyes = [OPEN] * len(yaws)
    eyes[-1] = 0.1
    result = judge((TURN_LEFT, TURN_RIGHT, BLINK), _frames(yaws, eyes=eyes))
    assert result.reason == "steps_not_seen"


def test_unasked_blinks_are_allowed() -> None:
    eyes = [OPEN] * len(LEFT_RIGHT)
    eyes[1] = eyes[6] = 0.1
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, eyes=eyes)).passed


def test_eyes_are_not_judged_on_a_turned_face() -> None:
    # the openness dips only while turned (a profile's eye landmarks): no blink
    yaws = [0, 1, 12, 22, 24, 10, 1, 0, -2, -18, -22, -10, 0]
    eyes = [OPEN if abs(y) < 15 else 0.1 for y in yaws]
    result = judge((TURN_LEFT, TURN_RIGHT, BLINK), _frames(yaws, eyes=eyes))
    assert result.reason == "steps_not_seen"


def test_a_held_up_photo_is_static() -> None:
    # a photo keeps the engine's yaw, pitch and eyes (affine-invariant) whatever its motion:
    # only the landmarks' jitter remains, a few degrees (more when the card is tilted)
    jitter = [0.3, -4.0, 5.8, 0.1, -0.6, 2.2, 0.5, -5.2, 0.0, 0.4, -0.3, 0.1]
    eyes = [OPEN + j / 200 for j in jitter]
    result = judge((TURN_LEFT, TURN_RIGHT), _frames(jitter, eyes=eyes, pitch_wobble=3.0))
    assert (result.passed, result.reason) == (False, "static")


def test_a_face_that_moves_but_not_as_asked_is_not_static() -> None:
    half_turns = [0, 2, 8, 12, 8, 1, -4, -10, -12, -6, 1, 0]
    result = judge((TURN_LEFT, TURN_RIGHT), _frames(half_turns))
    assert result.reason == "steps_not_seen"
    # nor one that only blinks
    eyes = [OPEN] * 12
    eyes[5] = 0.1
    result = judge((TURN_LEFT, TURN_RIGHT), _frames([0] * 12, eyes=eyes))
    assert result.reason == "steps_not_seen"


def test_too_few_frames_or_too_short() -> None:
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT[:5])).reason == "too_few_frames"
    quick = [
        Observation(i * 50, 1, y, -10.0, OPEN, None) for i, y in enumerate(LEFT_RIGHT)
    ]  # 12 frames in 0.55 s
    assert judge((TURN_LEFT, TURN_RIGHT), quick).reason == "too_few_frames"


def test_frames_are_judged_in_time_order() -> None:
    frames = _frames(LEFT_RIGHT)
    assert judge((TURN_LEFT, TURN_RIGHT), list(reversed(frames))).passed


def test_missing_faces() -> None:
    faces = [1] * len(LEFT_RIGHT)
    faces[4] = 0  # one frame without a face (motion blur) is fine
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, faces=faces)).passed
    faces = [0] * 6 + [1] * 6
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, faces=faces)).reason == "no_face"
    assert judge((TURN_LEFT,), _frames([0] * 10, faces=[0] * 10)).reason == "no_face"


def test_several_faces() -> None:
    faces = [1] * len(LEFT_RIGHT)
    faces[3] = 2  # one false face is forgiven
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, faces=faces)).passed
    faces[8] = 2
    result = judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, faces=faces))
    assert result.reason == "several_faces"


def test_another_face_during_the_challenge_fails() -> None:
    distances: list[float | None] = [None] * len(LEFT_RIGHT)
    distances[0], distances[5], distances[-1] = 0.0, 0.2, 0.35
    assert judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, distances=distances)).passed
    distances[-1] = 0.75
    result = judge((TURN_LEFT, TURN_RIGHT), _frames(LEFT_RIGHT, distances=distances))
    assert result.reason == "face_changed"
    # the caller's threshold decides
    strict = judge(
        (TURN_LEFT, TURN_RIGHT),
        _frames(LEFT_RIGHT, distances=[0.0] * 11 + [0.45]),
        same_face_distance=0.4,
    )
    assert strict.reason == "face_changed"


def test_unknown_steps_are_refused() -> None:
    with pytest.raises(ValueError):
        judge(("smile",), _frames(LEFT_RIGHT))
    with pytest.raises(ValueError):
        judge((), _frames(LEFT_RIGHT))


def test_thresholds_are_consistent() -> None:
    assert liveness.BACK_DEG < liveness.TURN_DEG <= liveness.FRONTAL_DEG + liveness.TURN_DEG
    assert liveness.CLOSED_SHARE < liveness.REOPEN_SHARE < 1

"""Liveness: a short random challenge, and the judge of the frames that answer it.

The page asks for a few steps in a random order (turn the head left, turn it right, blink)
and sends a few seconds of camera frames; the face engine turns each frame into an
:class:`Observation` (how many faces, the head's yaw and pitch, how open the eyes are,
how far the face is from the first frame's). :func:`judge` then wants, in this order:

- enough frames over enough time (``too_few_frames``);
- one face in (nearly) every frame (``no_face``, ``several_faces``);
- the same face throughout (``face_changed``): a swap after the start fails;
- motion at all (``static``): the engine's yaw, pitch and eye openness do not change under
  an in-plane move, turn, tilt or zoom of a flat picture (its landmarks' geometry stays
  rigid: only their jitter remains, a few degrees, ~15° when the card is tilted 35° away),
  so a held-up photo waved about never starts a turn or a blink; nor does a person who
  stays still;
- each asked step seen, from a frontal start (``steps_not_seen``): a turn is the yaw going
  :data:`TURN_DEG` past the start's and back below :data:`BACK_DEG`; a blink is the eyes'
  openness, facing the camera, dropping under :data:`CLOSED_SHARE` of the open eyes' and
  coming back;
- the turns exactly as asked, in the asked order, and each blink where it was asked
  (``order``): a replayed video of another challenge has other turns, or the same in
  another order. Blinks that were not asked are allowed (people blink).

Pure: no numpy, no pictures; the clock is the frames' own ``t_ms``.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

TURN_LEFT = "turn_left"
TURN_RIGHT = "turn_right"
BLINK = "blink"
CHALLENGE_STEPS = (TURN_LEFT, TURN_RIGHT, BLINK)
TURNS = (TURN_LEFT, TURN_RIGHT)

MIN_FRAMES = 6
MIN_SPAN_MS = 1500  # the frames cover at least this much time
MAX_FACELESS_SHARE = 0.25  # frames without a face allowed (looking away, motion blur)
MAX_CROWDED_FRAMES = 1  # frames with several faces allowed (a detector's false face)
START_FRAMES = 2  # the start pose: the median of the first frames with a face
FRONTAL_DEG = 20.0  # |yaw| of the start (the engine's angles are ±10° per person)
TURN_DEG = 15.0  # a turn: the yaw this far past the start's
BACK_DEG = 8.0  # ... and a turn ends when it comes back within this of the start's
CLOSED_SHARE = 0.7  # a blink: openness under this share of the open eyes' ...
REOPEN_SHARE = 0.85  # ... then back above this share
STILL_DEG = TURN_DEG  # "static": yaw and pitch each within a range this wide, no blink
SAME_FACE_DISTANCE = 0.6  # the face engine's distance above which a frame is someone else


@dataclass(frozen=True)
class Observation:
    """What the face engine saw in one frame (``None``: no face, or not measured)."""

    t_ms: int  # since the first frame
    faces: int
    yaw_deg: float | None  # > 0: the person turned to their own left
    pitch_deg: float | None  # > 0: they look down
    eyes_open: float | None  # eye aspect ratio, ≈0.3 open
    distance_to_first: float | None  # embedding distance to the first frame's face


@dataclass(frozen=True)
class LivenessResult:
    passed: bool
    reason: str | None = None


def new_challenge(rng: random.Random, *, blink: bool = True) -> tuple[str, ...]:
    """Both turns in a random order, and (with ``blink``) a blink at a random place."""
    steps = list(TURNS)
    rng.shuffle(steps)
    if blink:
        steps.insert(rng.randrange(len(steps) + 1), BLINK)
    return tuple(steps)


def judge(
    steps: Sequence[str],
    observations: Sequence[Observation],
    *,
    same_face_distance: float = SAME_FACE_DISTANCE,
) -> LivenessResult:
    """Whether the frames show a live person doing ``steps`` (see the module's docstring)."""
    unknown = [s for s in steps if s not in CHALLENGE_STEPS]
    if not steps or unknown:
        raise ValueError(f"unknown challenge steps: {unknown or 'none'}")
    frames = sorted(observations, key=lambda o: o.t_ms)
    if len(frames) < MIN_FRAMES or frames[-1].t_ms - frames[0].t_ms < MIN_SPAN_MS:
        return _fail("too_few_frames")
    crowded = sum(1 for o in frames if o.faces > 1)
    if crowded > MAX_CROWDED_FRAMES:
        return _fail("several_faces")
    seen = [o for o in frames if o.faces == 1 and o.yaw_deg is not None]
    if len(seen) < MIN_FRAMES or len(frames) - len(seen) > MAX_FACELESS_SHARE * len(frames):
        return _fail("no_face")
    if any(
        o.distance_to_first is not None and o.distance_to_first > same_face_distance for o in seen
    ):
        return _fail("face_changed")
    if _static(seen):
        return _fail("static")
    events = _events(seen)
    if events is None or any(step not in events for step in steps):
        return _fail("steps_not_seen")
    if not _in_order(list(steps), events):
        return _fail("order")
    return LivenessResult(True)


def _fail(reason: str) -> LivenessResult:
    return LivenessResult(False, reason)


def _yaws(frames: Sequence[Observation]) -> list[float]:
    return [o.yaw_deg for o in frames if o.yaw_deg is not None]


def _static(frames: Sequence[Observation]) -> bool:
    """No motion: the pose stays as a flat picture's would, and the eyes never close."""
    yaws = _yaws(frames)
    pitches = [o.pitch_deg for o in frames if o.pitch_deg is not None]
    eyes = [o.eyes_open for o in frames if o.eyes_open is not None]
    if max(yaws) - min(yaws) > STILL_DEG:
        return False
    if pitches and max(pitches) - min(pitches) > STILL_DEG:
        return False
    return not (eyes and min(eyes) < CLOSED_SHARE * _upper_quartile(eyes))


def _events(frames: Sequence[Observation]) -> list[str] | None:
    """The steps the frames show, in order; None when the start is not frontal."""
    start = statistics.median(_yaws(frames[:START_FRAMES]))
    if abs(start) > FRONTAL_DEG:
        return None
    eyes = [o.eyes_open for o in frames if o.eyes_open is not None]
    open_eyes = _upper_quartile(eyes) if eyes else 0.0
    events: list[str] = []
    turning: str | None = None
    closed = False
    for o in frames:
        turned = 0.0 if o.yaw_deg is None else o.yaw_deg - start
        if turning is None and abs(turned) >= TURN_DEG:
            turning = TURN_LEFT if turned > 0 else TURN_RIGHT
            events.append(turning)
        elif turning is not None and abs(turned) <= BACK_DEG:
            turning = None
        # eyes only facing the camera: a turned face's eye landmarks are less sure
        if o.eyes_open is not None and open_eyes > 0 and abs(turned) < TURN_DEG:
            if not closed and o.eyes_open < CLOSED_SHARE * open_eyes:
                closed = True
                events.append(BLINK)
            elif closed and o.eyes_open > REOPEN_SHARE * open_eyes:
                closed = False
    if closed:  # eyes that never open again are no blink
        events.reverse()
        events.remove(BLINK)
        events.reverse()
    return events


def _upper_quartile(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[(3 * (len(ordered) - 1)) // 4]


def _in_order(steps: list[str], events: list[str]) -> bool:
    """The turns exactly as asked; the asked steps a subsequence (extra blinks allowed)."""
    if [e for e in events if e in TURNS] != [s for s in steps if s in TURNS]:
        return False
    at = 0
    for event in events:
        if at < len(steps) and event == steps[at]:
            at += 1
    return at == len(steps)

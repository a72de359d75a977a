"""What the machine watches for during an exam, and how long before it says so (M5).

Each kind of alert (:class:`AlertKind`) a detector can raise has a :class:`Rule`
per exam: whether the detector runs (``enabled``) and how long the condition
must last before it becomes an incident (``after_s``). The unit sets them in
the exam editor; an exam that says nothing gets :data:`DEFAULTS`.

This lives in the catalog because the rules are part of the exam (stored with
it, :meth:`exams.catalog.exam_rules.Exam.to_dict`); the proctoring room
re-exports it (:mod:`exams.proctoring.monitoring`) for the detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exams.shared.fields import Fields, Problems

MAX_AFTER_S = 3600.0  # an hour: past that, a condition is not worth an alert


class AlertKind(StrEnum):
    CAMERA_DARK = "camera_dark"  # black or covered
    PICTURE_FROZEN = "picture_frozen"
    NO_FACE = "no_face"
    MANY_FACES = "many_faces"
    SILENCE = "silence"  # no speech/sound from the audio level
    CAMERA_LOST = "camera_lost"  # no RTP for 2 s
    SECOND_CAMERA_MISSING = "second_camera_missing"  # needed by the question, absent/stopped
    PAGE_HIDDEN = "page_hidden"
    WINDOW_LEFT = "window_left"
    FULLSCREEN_LEFT = "fullscreen_left"
    PAGE_RELOADED = "page_reloaded"  # during a take
    FACE_NOT_RECOGNISED = "face_not_recognised"  # not the verified face, or a second face
    HAND_RAISED = "hand_raised"  # a candidate's help request (not a detector: no rule)


@dataclass(frozen=True)
class Rule:
    """A detector's setting: runs at all, and how long the condition lasts before it fires."""

    enabled: bool
    after_s: float


# The defaults (issue #13); a unit changes them per exam.
DEFAULTS: dict[AlertKind, Rule] = {
    AlertKind.CAMERA_DARK: Rule(True, 5.0),
    AlertKind.PICTURE_FROZEN: Rule(True, 10.0),
    AlertKind.NO_FACE: Rule(True, 10.0),
    AlertKind.MANY_FACES: Rule(True, 3.0),
    AlertKind.SILENCE: Rule(True, 20.0),
    AlertKind.CAMERA_LOST: Rule(True, 2.0),
    AlertKind.SECOND_CAMERA_MISSING: Rule(True, 10.0),
    AlertKind.PAGE_HIDDEN: Rule(True, 0.0),
    AlertKind.WINDOW_LEFT: Rule(True, 0.0),
    AlertKind.FULLSCREEN_LEFT: Rule(True, 0.0),
    AlertKind.PAGE_RELOADED: Rule(True, 0.0),
    AlertKind.FACE_NOT_RECOGNISED: Rule(True, 0.0),
}
# Durations the unit cannot change: the media decides a camera is lost after 2 s of no
# packets; a reload is a moment, not a condition that lasts; a face not recognised counts
# checks (two mismatches in a row, ``face_check_interval_s`` apart), not seconds.
FIXED_AFTER_S: dict[AlertKind, float] = {
    AlertKind.CAMERA_LOST: 2.0,
    AlertKind.PAGE_RELOADED: 0.0,
    AlertKind.FACE_NOT_RECOGNISED: 0.0,
}
ALWAYS = Rule(True, 0.0)  # kinds without a rule (a raised hand): always on, at once
DETECTED = tuple(DEFAULTS)  # the kinds an exam has rules for, in the editor's order


@dataclass(frozen=True)
class Monitoring:
    """An exam's rules, one per detected kind (a tuple of pairs: the exam stays hashable)."""

    rules: tuple[tuple[AlertKind, Rule], ...] = tuple(DEFAULTS.items())

    def rule(self, kind: AlertKind | str) -> Rule:
        """The rule for ``kind``; a kind with no rule (``hand_raised``) is always on, at once."""
        for k, r in self.rules:
            if k == kind:
                return r
        try:
            return DEFAULTS.get(AlertKind(kind), ALWAYS)
        except ValueError:
            return ALWAYS

    def to_dict(self) -> dict[str, Any]:
        return {k.value: {"enabled": r.enabled, "after_s": r.after_s} for k, r in self.rules}

    @classmethod
    def from_dict(cls, data: Any, problems: Problems, prefix: str = "monitoring.") -> Monitoring:
        """Read what a person typed (``None``: the defaults); every problem is added to
        ``problems`` under ``monitoring.<kind>.<field>``."""
        if data is None:
            return cls()
        f = Fields(data, problems, prefix)
        rules = dict(DEFAULTS)
        for kind in DETECTED:
            item = f.raw(kind.value)
            if item is None:
                continue
            g = Fields(item, problems, f"{prefix}{kind.value}.")
            enabled = g.flag("enabled", DEFAULTS[kind].enabled)
            after = g.seconds("after_s", DEFAULTS[kind].after_s, MAX_AFTER_S)
            fixed = FIXED_AFTER_S.get(kind)
            if after is not None and fixed is not None and after != fixed:
                g.add("after_s", f"is fixed at {fixed:g} seconds for this kind; leave it out")
            g.reject_unknown()
            if after is not None:
                rules[kind] = Rule(enabled, after)
        f.reject_unknown()
        return cls(tuple(rules.items()))

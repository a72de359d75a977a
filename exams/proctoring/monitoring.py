"""The per-exam thresholds the detectors follow: ``exam.monitoring.rule(kind)``.

The rules are part of the exam (the catalog stores them with it), so they are
defined in :mod:`exams.catalog.monitoring`; this module is where the
proctoring room and the detectors take them from.
"""

from __future__ import annotations

from exams.catalog.monitoring import (
    ALWAYS,
    DEFAULTS,
    DETECTED,
    FIXED_AFTER_S,
    MAX_AFTER_S,
    AlertKind,
    Monitoring,
    Rule,
)

__all__ = [
    "ALWAYS",
    "DEFAULTS",
    "DETECTED",
    "FIXED_AFTER_S",
    "MAX_AFTER_S",
    "AlertKind",
    "Monitoring",
    "Rule",
]

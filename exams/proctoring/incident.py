"""One incident: an alert on a candidate's timeline and the person's decision on it.

The record :class:`Incident` and what a decision may say; the service that raises, ends
and decides them is :mod:`exams.proctoring.incidents`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from exams.catalog.monitoring import AlertKind

Decision = Literal["confirmed", "dismissed"]
STATUSES = ("open", "confirmed", "dismissed")
DECISIONS: tuple[str, ...] = ("confirmed", "dismissed")
MAX_NOTE = 2000
LATEST = 3  # incidents per tile on the wall


@dataclass(frozen=True)
class Incident:
    """One alert on a candidate's timeline; times are the server clock (Unix seconds)."""

    id: str
    exam_id: str
    candidate_id: str
    kind: AlertKind
    camera: str | None
    raised_at: float  # when the server recorded it
    started_at: float  # when the condition began (the onset; <= raised_at)
    attempt_id: str | None = None
    question_id: str | None = None
    take_id: str | None = None
    take_offset_s: float | None = None  # the onset on the take's clock (segments' start_s)
    ended_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False)
    status: str = "open"  # open | confirmed | dismissed
    disposed_by: str | None = None
    disposed_at: float | None = None
    note: str = ""

    @property
    def active(self) -> bool:
        """The condition still holds (no ``ended_at``); decided or not."""
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        """The full incident (staff only: it holds the note)."""
        out = asdict(self)
        out["kind"] = self.kind.value
        return out

    def brief(self) -> dict[str, Any]:
        """What a wall tile shows of it: no detail, no note."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "camera": self.camera,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """Load what :meth:`to_dict` saved (trusted storage, not user input)."""
        return cls(**{**data, "kind": AlertKind(data["kind"])})


def tile_part(undecided: list[Incident]) -> dict[str, Any]:
    """A wall tile's incidents: how many await a decision, and the newest few of them."""
    newest = sorted(undecided, key=lambda i: (i.started_at, i.raised_at), reverse=True)
    return {"open": len(undecided), "latest": [i.brief() for i in newest[:LATEST]]}

"""The second camera missing or stopped, while a take of a question that needs it records.

Its state is the pairing link's (:meth:`pairing.service.PairingService.link_state`):
``ready`` or ``recording`` is there; anything else (none paired, ``lost``,
``stopped``, ``connected`` but not Ready) is missing.
"""

from __future__ import annotations

from exams.proctoring.conditions import Change, Condition

PRESENT = ("ready", "recording")


class SecondCameraWatch:
    def __init__(self, after_s: float) -> None:
        self.condition = Condition(after_s)
        self.link: str | None = None  # the last link state seen (the incident's detail)

    def sample(self, link: str | None, now: float) -> Change | None:
        if link not in PRESENT:
            self.link = link
        return self.condition.feed(link not in PRESENT, now)

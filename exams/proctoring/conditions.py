"""A condition that must last before it counts: the one state machine every detector shares.

A detector judges each sample it gets (a picture is dark, the audio is silent, the page is
hidden) and feeds the verdict to a :class:`Condition` with the time on the server clock.
The condition *fires* once it has held for ``after_s`` seconds without a break, and
*ends* at the first sample where it no longer holds::

    dark = Condition(after_s=5.0)
    dark.feed(True, at=100.0)    # -> None: began at 100
    dark.feed(True, at=102.5)    # -> None
    dark.feed(True, at=105.0)    # -> Onset(started_at=100.0, at=105.0)
    dark.feed(True, at=107.5)    # -> None: already fired
    dark.feed(False, at=110.0)   # -> End(started_at=100.0, ended_at=110.0)

The onset reported is when the condition *began* (the first sample that showed it), not
when it fired: that is the moment a reviewer wants to see in the recording. A condition
that breaks before ``after_s`` reports nothing. ``after_s`` 0 fires on the first sample.

Samples need not be regular: :meth:`poll` fires a condition that is still going with no
new sample (a timer at :attr:`Condition.due`, for a detector whose samples stop coming
while the condition lasts, e.g. no audio packets), and :meth:`clear` ends one whose subject
went away (the take stopped, the camera left, the rule was switched off).

Pure: no clock of its own, no I/O; times come in with the samples.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Onset:
    """The condition has lasted ``after_s``: it began at ``started_at`` and fired ``at``."""

    started_at: float
    at: float


@dataclass(frozen=True)
class End:
    """A condition that had fired no longer holds (since ``ended_at``)."""

    started_at: float
    ended_at: float


Change = Onset | End


class Condition:
    """One subject's one condition (a candidate's camera is dark, say)."""

    __slots__ = ("_fired", "_since", "after_s")

    def __init__(self, after_s: float) -> None:
        if after_s < 0:
            raise ValueError(f"after_s must be 0 or more, not {after_s}")
        self.after_s = after_s  # may be changed between samples (the exam's rule was edited)
        self._since: float | None = None
        self._fired = False

    @property
    def since(self) -> float | None:
        """When the ongoing condition began, or None when it does not hold."""
        return self._since

    @property
    def fired(self) -> bool:
        """The condition holds and has been reported (an :class:`Onset` went out)."""
        return self._fired

    @property
    def due(self) -> float | None:
        """When the ongoing, not yet fired condition will fire, or None."""
        if self._since is None or self._fired:
            return None
        return self._since + self.after_s

    def feed(self, holds: bool, at: float) -> Change | None:
        """One sample's verdict at ``at`` (server clock): what changed, if anything."""
        if holds:
            if self._since is None:
                self._since = at
            return self.poll(at)
        return self.clear(at)

    def poll(self, at: float) -> Onset | None:
        """Fire the ongoing condition if it has lasted ``after_s`` by ``at`` (no new sample)."""
        if self._since is None or self._fired or at - self._since < self.after_s:
            return None
        self._fired = True
        return Onset(self._since, at)

    def clear(self, at: float) -> End | None:
        """The condition stops (or its subject went away) at ``at``: an :class:`End` if it
        had fired, and the machine starts afresh either way."""
        since, fired = self._since, self._fired
        self._since, self._fired = None, False
        if since is None or not fired:
            return None
        return End(since, max(at, since))

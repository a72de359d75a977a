"""A take's events told in order: each one to the owner's pages and every listener before the
take's next one begins.

The take service told an event by awaiting the pages, then each listener in turn. A listener
that awaits something while it handles ``take_started`` (a detector reading the exam, the
pairing saving its link) let the take's end overtake the start: a later listener heard
``take_stored`` before ``take_started`` and watched a take that had ended (or the drain
counted it in flight for ever), and the listener itself heard the end in the middle of its
start. :class:`InOrder` keeps one line per take: a stop that comes while the start is still
being told waits for it; the events of different takes do not wait for each other.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exams.catalog.takes import Take

Tell = Callable[[str, "Take"], Awaitable[None]]

# The takes whose events this task (or the task that started it) is telling now.
_telling: ContextVar[frozenset[str]] = ContextVar("examcast_telling_takes", default=frozenset())


@dataclass
class _Line:
    events: deque[tuple[str, Take]]  # not yet told, oldest first
    task: asyncio.Task[None]  # the one telling them


class InOrder:
    """Tells each take's events with ``tell(event, take)`` in the order they come, one at a
    time. ``tell`` logs what fails: an exception would drop the take's events still waiting."""

    def __init__(self, tell: Tell) -> None:
        self._tell = tell
        self._lines: dict[str, _Line] = {}

    async def emit(self, event: str, take: Take) -> None:
        """Tell ``event`` after the take's earlier events; return once it (and whatever of
        the take came meanwhile) is told. A caller cancelled meanwhile stops waiting, not the
        telling. An event that the telling itself caused (a listener stopping the take it
        hears start) is told after the one in hand, and this returns at once: it would wait
        for itself."""
        line = self._lines.get(take.id)
        if line is None:
            events: deque[tuple[str, Take]] = deque()
            line = _Line(events, asyncio.ensure_future(self._run(take.id, events)))
            self._lines[take.id] = line
        line.events.append((event, take))
        if take.id not in _telling.get():
            await asyncio.shield(line.task)

    async def _run(self, take_id: str, events: deque[tuple[str, Take]]) -> None:
        _telling.set(_telling.get() | {take_id})
        try:
            while events:
                await self._tell(*events.popleft())
        finally:
            line = self._lines.get(take_id)
            if line is not None and line.events is events:
                del self._lines[take_id]

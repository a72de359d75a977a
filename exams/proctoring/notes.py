"""What passes between a proctor and a candidate: messages and raised hands, as plain data.

A :class:`Note` is one message from a proctor to a candidate (``kind`` ``message``), or
a candidate's raised hand (``hand``). It is stored with the exam, the candidate and the
answer (attempt) open when it was sent, so it is on that answer's record; ``read_at``
is the candidate's read receipt for a message, and when a proctor answered (lowered)
a hand.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from exams.shared.errors import InvalidInput, TooLarge

MESSAGE = "message"
HAND = "hand"
KINDS = (MESSAGE, HAND)
MAX_MESSAGE_CHARS = 500
MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class Note:
    id: str
    kind: str  # one of KINDS
    exam_id: str
    candidate_id: str
    sender_id: str  # the proctor (message) or the candidate (hand)
    text: str
    sent_at: float
    attempt_id: str | None = None
    question_id: str | None = None
    read_at: float | None = None  # message: read by the candidate; hand: answered

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def for_candidate(self) -> dict[str, Any]:
        """What the candidate's devices are sent: no proctor's account id."""
        body = self.to_json()
        del body["sender_id"]
        return body


class NoteStore(Protocol):
    """Implemented by ``storage.proctor_messages.SqliteNotes``."""

    async def add(self, note: Note) -> None: ...

    async def get(self, note_id: str) -> Note | None: ...

    async def mark_read(self, note_id: str, candidate_id: str, at: float) -> Note | None:
        """Set ``read_at`` of the candidate's unread message (one write, so a receipt counts
        once); the note as now, or None if it is not theirs, not a message, or read."""
        ...

    async def answer_hands(self, exam_id: str, candidate_id: str, at: float) -> int:
        """Set ``read_at`` on the candidate's open hands of the exam; how many."""
        ...

    async def of_candidate(self, exam_id: str, candidate_id: str) -> list[Note]:
        """The candidate's notes of the exam, oldest first."""
        ...


def clean_text(text: str, what: str, max_chars: int) -> str:
    """``text`` trimmed; refused if empty, too long or holding control characters."""
    text = text.strip()
    if not text:
        raise InvalidInput(f"{what} must not be empty")
    if len(text) > max_chars:
        raise TooLarge(f"{what} is {len(text)} characters long; at most {max_chars} are allowed")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise InvalidInput(f"{what} holds control characters; send plain text")
    return text

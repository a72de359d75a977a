"""Small builders for the exam domain tests: a fake clock, questions, exams, attempts."""

from __future__ import annotations

from typing import Any

from exams.catalog.attempts import Attempt, new_attempt
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import Question

OPENS = 1_700_000_000.0
CLOSES = OPENS + 4 * 3600


class FakeClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self, now: float = OPENS + 60) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def set(self, when: float) -> float:
        self.now = when
        return self.now


def online(qid: str = "q1", order: int = 1, **settings: Any) -> Question:
    """An online question: 180 s recording, no other limit unless given."""
    data: dict[str, Any] = {
        "id": qid,
        "title": f"Question {qid}",
        "prompt": "Play a piece of your choice.",
        "order": order,
        "mode": "online",
        "recording_limit_s": 180,
    }
    return Question.from_dict(data | settings)


def offline(qid: str = "q9", order: int = 9, **settings: Any) -> Question:
    """An offline question taking 1-8 video files of up to 30 MB unless told otherwise."""
    data: dict[str, Any] = {
        "id": qid,
        "title": f"Question {qid}",
        "order": order,
        "mode": "offline",
        "files": {
            "kinds": ["video"],
            "formats": ["mp4", "webm"],
            "min_count": 1,
            "max_count": 8,
            "max_bytes": 30 * 1024 * 1024,
        },
    }
    return Question.from_dict(data | settings)


def exam_of(*questions: Question, opens_at: float = OPENS, closes_at: float = CLOSES) -> Exam:
    return Exam(
        id="e1",
        unit_id="u1",
        title="Piano performance",
        opens_at=opens_at,
        closes_at=closes_at,
        questions=questions,
    )


def attempt(exam: Exam, question_id: str = "q1", attempt_id: str = "a1") -> Attempt:
    return new_attempt(attempt_id, exam, question_id, "candidate-1")

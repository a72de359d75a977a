"""An exam: a window in time, its instructions and its questions (MISSION M3.1, M4.1).

The window is half open: the exam is open from ``opens_at`` (inclusive) until
``closes_at`` (exclusive). Answers can no longer be submitted once it closes;
uploads of what was submitted may still complete for ``upload_grace_s``
(two hours, M4.1) after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exams.catalog.media_profile import MediaProfile
from exams.catalog.monitoring import Monitoring
from exams.catalog.questions import OnlineSettings, Question, QuestionMode, read_question
from exams.catalog.take_quality import RetakeRule
from exams.shared.errors import DeadlinePassed, NotFound, NotOpenYet
from exams.shared.fields import Fields, Problems

UPLOAD_GRACE_S = 7200


@dataclass(frozen=True)
class Exam:
    id: str
    unit_id: str
    title: str
    opens_at: float
    closes_at: float
    questions: tuple[Question, ...] = ()  # in their order
    instructions: str = ""  # 考试说明
    time_requirements: str = ""  # 考试时间要求, as the university words it
    upload_grace_s: int = UPLOAD_GRACE_S
    # What the detectors watch for, and how long before it counts (#13).
    monitoring: Monitoring = field(default_factory=Monitoring)
    # The sound and picture its performances need (#18): Opus for music, 720p.
    media: MediaProfile = field(default_factory=MediaProfile)
    # What counts as a formal take damaged by the system, granting an extra one (#18).
    retake: RetakeRule = field(default_factory=RetakeRule)

    @property
    def upload_deadline(self) -> float:
        """Uploads of submitted answers may complete until then (M4.1)."""
        return self.closes_at + self.upload_grace_s

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise NotFound("this exam has no such question; reload the question list")

    def is_open(self, now: float) -> bool:
        return self.opens_at <= now < self.closes_at

    def require_open(self, now: float) -> None:
        """Raise unless the exam is open at ``now``."""
        if now < self.opens_at:
            raise NotOpenYet(
                "the exam has not opened yet; come back when it opens",
                details={"opens_at": self.opens_at},
            )
        if now >= self.closes_at:
            raise DeadlinePassed(
                "the exam has ended; nothing more can be recorded or submitted",
                details={"closes_at": self.closes_at},
            )

    @classmethod
    def from_dict(cls, data: Any) -> Exam:
        """Check an exam a person typed; raises :class:`InvalidInput` listing every problem."""
        problems = Problems()
        f = Fields(data, problems)
        if not f.is_object:
            problems.raise_if_any("the exam")
        eid = f.text("id", max_len=64)
        unit_id = f.text("unit_id", max_len=64)
        title = f.text("title", max_len=200)
        instructions = f.text("instructions", required=False) or ""
        time_requirements = f.text("time_requirements", required=False, max_len=2000) or ""
        opens_at = f.timestamp("opens_at")
        closes_at = f.timestamp("closes_at")
        if opens_at is not None and closes_at is not None and closes_at <= opens_at:
            f.add("closes_at", "must be after opens_at")
        grace = f.integer("upload_grace_s", 0, 7 * 86_400, default=UPLOAD_GRACE_S)
        monitoring = Monitoring.from_dict(f.raw("monitoring"), problems)
        media = MediaProfile.from_dict(f.raw("media"), problems)
        retake = RetakeRule.from_dict(f.raw("retake"), problems)
        questions: list[Question] = []
        ids: set[str] = set()
        orders: dict[int, str] = {}
        for i, item in enumerate(f.items("questions")):
            q = read_question(Fields(item, problems, f"questions[{i}]."), problems)
            if q is None:
                continue
            if q.id in ids:
                problems.add(f"questions[{i}].id", f"{q.id!r} is used twice; give each its own id")
            elif q.order in orders:
                problems.add(
                    f"questions[{i}].order",
                    f"{q.order} is already the place of question {orders[q.order]!r}",
                )
            ids.add(q.id)
            orders.setdefault(q.order, q.id)
            questions.append(q)
        f.reject_unknown()
        problems.raise_if_any("the exam")
        assert eid and unit_id and title and opens_at is not None and closes_at is not None
        assert grace is not None
        return cls(
            id=eid,
            unit_id=unit_id,
            title=title,
            opens_at=opens_at,
            closes_at=closes_at,
            questions=tuple(sorted(questions, key=lambda q: q.order)),
            instructions=instructions,
            time_requirements=time_requirements,
            upload_grace_s=grace,
            monitoring=monitoring,
            media=media,
            retake=retake,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit_id": self.unit_id,
            "title": self.title,
            "instructions": self.instructions,
            "time_requirements": self.time_requirements,
            "opens_at": self.opens_at,
            "closes_at": self.closes_at,
            "upload_grace_s": self.upload_grace_s,
            "questions": [q.to_dict() for q in self.questions],
            "monitoring": self.monitoring.to_dict(),
            "media": self.media.to_dict(),
            "retake": self.retake.to_dict(),
        }


def needs_device_check(exam: Exam) -> bool:
    """The device check (M2.5) is skipped when the exam has only offline questions."""
    return any(q.mode is QuestionMode.ONLINE for q in exam.questions)


def needs_second_camera(exam: Exam) -> bool:
    """Whether any question asks for a second camera (需二机位), so pairing is worth offering."""
    return any(
        isinstance(q.settings, OnlineSettings) and q.settings.second_camera_required
        for q in exam.questions
    )

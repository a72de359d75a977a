"""Extra materials of an online answer (M3.2: video, audio, image, text with limits).

A material answers one of the question's :class:`~exams.catalog.questions.MaterialRule`
by its key: text is typed in and kept inline (one box per rule, at most
``max_chars``); files are stored elsewhere and referenced by id, checked here
by their declared kind, format and size (the upload issue checks the bytes).
Materials belong to the formal answer, so they can be added once it is
entered and until the submission deadline, and change no more once submitted.
"""

from __future__ import annotations

from dataclasses import replace

from exams.catalog.attempts import (
    Attempt,
    FileRef,
    Material,
    check_live,
    file_problem,
    online_settings,
)
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import MaterialRule, OnlineSettings
from exams.shared.errors import Conflict, InvalidInput, NotFound


def attach_text(a: Attempt, exam: Exam, key: str, text: str, now: float) -> Attempt:
    """Set the text of a text material, replacing what was typed before."""
    rule = _rule(a, exam, key, now)
    if not rule.is_text:
        raise InvalidInput(f"material {key!r} is a {rule.kind} file; upload it instead of typing")
    text = text.strip()
    if not text:
        raise InvalidInput("the text is empty; write your answer or remove the material")
    assert rule.max_chars is not None
    if len(text) > rule.max_chars:
        raise InvalidInput(
            f"the text has {len(text)} characters; shorten it to at most {rule.max_chars}",
            details=[{"field": "text", "message": f"at most {rule.max_chars} characters"}],
        )
    kept = tuple(m for m in a.materials if m.key != key)
    return replace(a, materials=(*kept, Material(key, text=text)))


def attach_file(a: Attempt, exam: Exam, key: str, file: FileRef, now: float) -> Attempt:
    """Add an uploaded file to a file material."""
    rule = _rule(a, exam, key, now)
    if rule.is_text:
        raise InvalidInput(f"material {key!r} is text; type it instead of uploading a file")
    assert rule.max_bytes is not None
    problem = file_problem(file, (rule.kind.value,), rule.formats, 1, rule.max_bytes)
    if problem is not None:
        raise InvalidInput(problem, details=[{"field": "file", "message": problem}])
    if any(m.file is not None and m.file.id == file.id for m in a.materials):
        raise Conflict("this file is attached already")
    if sum(1 for m in a.materials if m.key == key) >= rule.max_count:
        raise Conflict(
            f"material {key!r} takes at most {rule.max_count} file(s); remove one to add another"
        )
    return replace(a, materials=(*a.materials, Material(key, file=file)))


def detach_material(
    a: Attempt, exam: Exam, key: str, now: float, file_id: str | None = None
) -> Attempt:
    """Remove a material's text, or one of its files (``file_id``)."""
    _rule(a, exam, key, now)
    kept = tuple(
        m
        for m in a.materials
        if not (m.key == key and (file_id is None or (m.file is not None and m.file.id == file_id)))
    )
    if len(kept) == len(a.materials):
        raise NotFound("nothing to remove: this material has no such text or file")
    return replace(a, materials=kept)


def missing_materials(a: Attempt, s: OnlineSettings) -> list[MaterialRule]:
    """Required materials the answer does not have yet."""
    present = {m.key for m in a.materials}
    return [rule for rule in s.materials if rule.required and rule.key not in present]


def _rule(a: Attempt, exam: Exam, key: str, now: float) -> MaterialRule:
    s = online_settings(a, exam)
    rule = s.material(key)
    check_live(a, exam, now)
    if a.entered_at is None:
        raise Conflict("enter the formal answer (正式答题) before adding materials")
    return rule

"""Offline questions (线下录制, M3.6): prepared files uploaded, saved, submitted.

Opening the question starts its submission clock (counted from entering the
question page, "从考生进入考题详情页面开始计时"): ``min(opened + limit,
exam close)``, or the exam close without a limit. Opening again does not
restart it. Files are referenced by id; their declared kind, format and size
are checked against the question's rule here, their bytes by the upload
issue. Saving (保存) keeps a draft that may be incomplete; submitting (提交)
needs ``min_count..max_count`` files, before the deadline.
"""

from __future__ import annotations

from dataclasses import replace

from exams.catalog.attempts import Attempt, FileRef, check_live, file_problem, offline_settings
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import OfflineSettings
from exams.shared.errors import Conflict, InvalidInput, NotFound


def open_question(a: Attempt, exam: Exam, now: float) -> Attempt:
    """The candidate opens the question page; the first opening starts the clock."""
    s = offline_settings(a, exam)
    if a.opened_at is not None:
        return a
    exam.require_open(now)
    limit = s.submission_limit_s
    deadline = exam.closes_at if limit is None else min(now + limit, exam.closes_at)
    return replace(a, opened_at=now, submission_deadline=deadline)


def add_file(a: Attempt, exam: Exam, file: FileRef, now: float) -> Attempt:
    rule = _live(a, exam, now).files
    kinds = tuple(k.value for k in rule.kinds)
    problem = file_problem(file, kinds, rule.formats, rule.min_bytes, rule.max_bytes)
    if problem is not None:
        raise InvalidInput(problem, details=[{"field": "file", "message": problem}])
    if any(f.id == file.id for f in a.files):
        raise Conflict("this file is added already")
    if len(a.files) >= rule.max_count:
        raise Conflict(f"this question takes at most {rule.max_count} file(s); remove one first")
    return replace(a, files=(*a.files, file))


def remove_file(a: Attempt, exam: Exam, file_id: str, now: float) -> Attempt:
    _live(a, exam, now)
    kept = tuple(f for f in a.files if f.id != file_id)
    if len(kept) == len(a.files):
        raise NotFound("this question has no such file")
    return replace(a, files=kept)


def save_draft(a: Attempt, exam: Exam, now: float) -> Attempt:
    """Save (保存): keep the files without submitting; any number up to the maximum."""
    _live(a, exam, now)
    return replace(a, saved_at=now)


def submit_offline(a: Attempt, exam: Exam, now: float) -> Attempt:
    """Submit (提交) the files: between the minimum and maximum count, before the deadline."""
    rule = _live(a, exam, now).files
    count = len(a.files)
    if count < rule.min_count:
        raise Conflict(
            f"this question needs at least {rule.min_count} file(s) and has {count}; "
            "add the missing ones, then submit",
            details={"min_count": rule.min_count, "count": count},
        )
    if count > rule.max_count:
        raise Conflict(f"this question takes at most {rule.max_count} file(s); remove some")
    return replace(a, submitted_at=now, submitted_by="candidate")


def _live(a: Attempt, exam: Exam, now: float) -> OfflineSettings:
    s = offline_settings(a, exam)
    if a.opened_at is None:
        raise Conflict("open the question before adding or submitting files")
    check_live(a, exam, now)
    return s

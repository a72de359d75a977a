"""Pending files (resumable uploads): they count at once, may be submitted while they
upload (M3.7), complete until the submission deadline or, once submitted, until the
exam end plus the upload grace (M4.1); refused ones leave even a submitted answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from exams.answering.materials import attach_file
from exams.answering.offline import add_file, open_question, submit_offline
from exams.answering.pending_files import (
    complete_file,
    drop_file,
    find_file,
    pending_files,
    require_in_time,
    upload_expiry,
)
from exams.answering.recording import enter_formal
from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict, Gone, UploadExpired
from tests.unit.exams.builders import CLOSES, FakeClock, attempt, exam_of, offline, online

MB = 1024 * 1024


def pending(n: int) -> FileRef:
    return FileRef(f"u{n}", "video", "mp4", MB, pending=True, name=f"{n}.mp4")


def with_pending(clock: FakeClock, count: int = 1, **settings: Any) -> tuple[Exam, Attempt]:
    exam = exam_of(offline(**settings))
    a = open_question(attempt(exam, "q9"), exam, clock())
    for n in range(count):
        a = add_file(a, exam, pending(n), clock())
    return exam, a


def test_a_pending_file_counts_and_may_be_submitted(clock: FakeClock) -> None:
    exam, a = with_pending(clock)
    assert pending_files(a) == [pending(0)]
    submitted = submit_offline(a, exam, clock())
    assert submitted.submitted and submitted.files == (pending(0),)


def test_it_completes_until_the_submission_deadline_if_not_submitted(clock: FakeClock) -> None:
    exam, a = with_pending(clock, submission_limit_s=600)
    assert upload_expiry(a, exam) == clock() + 600
    done = complete_file(a, exam, "u0", clock.advance(599))
    assert done.files == (replace(pending(0), pending=False),)
    assert complete_file(done, exam, "u0", clock()) == done  # again: nothing changes
    with pytest.raises(UploadExpired):
        complete_file(a, exam, "u0", clock.advance(1))


def test_once_submitted_it_completes_until_the_exam_end_plus_the_grace(clock: FakeClock) -> None:
    exam, a = with_pending(clock, submission_limit_s=600)
    a = submit_offline(a, exam, clock())
    assert upload_expiry(a, exam) == CLOSES + 7200 == exam.upload_deadline
    clock.set(CLOSES + 7199)
    assert require_in_time(a, exam, clock()) == exam.upload_deadline
    assert not complete_file(a, exam, "u0", clock()).files[0].pending
    with pytest.raises(UploadExpired, match="two hours after"):
        complete_file(a, exam, "u0", clock.advance(1))


def test_a_closed_answers_uploads_expire_when_it_closed(clock: FakeClock) -> None:
    exam, a = with_pending(clock)
    closed = replace(a, closed_at=clock() + 5)
    assert upload_expiry(closed, exam) == clock() + 5


def test_a_refused_file_leaves_even_a_submitted_answer(clock: FakeClock) -> None:
    exam, a = with_pending(clock, count=2)
    a = submit_offline(a, exam, clock())
    dropped = drop_file(a, "u0")
    assert dropped.files == (pending(1),) and dropped.submitted
    assert drop_file(dropped, "u0") == dropped
    with pytest.raises(Gone):
        complete_file(dropped, exam, "u0", clock())


def test_the_count_includes_pending_files(clock: FakeClock) -> None:
    exam, a = with_pending(clock, count=1, files=_rule(max_count=1))
    with pytest.raises(Conflict, match="at most 1"):
        add_file(a, exam, pending(1), clock())


def test_material_files_may_be_pending_too(clock: FakeClock) -> None:
    material = {"kind": "image", "key": "score", "max_bytes": MB, "formats": ["png"]}
    exam = exam_of(online(materials=[material]))
    a = enter_formal(attempt(exam), exam, clock())
    ref = FileRef("u9", "image", "png", 1000, pending=True)
    a = attach_file(a, exam, "score", ref, clock())
    assert find_file(a, "u9") == ref and pending_files(a) == [ref]
    done = complete_file(a, exam, "u9", clock())
    assert done.materials[0].file == replace(ref, pending=False)
    assert drop_file(a, "u9").materials == ()


def _rule(**changes: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "kinds": ["video"],
        "formats": ["mp4"],
        "min_count": 1,
        "max_count": 8,
        "max_bytes": 30 * MB,
    }
    return rule | changes

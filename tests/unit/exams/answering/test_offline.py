from __future__ import annotations

from typing import Any

import pytest

from exams.answering.offline import add_file, open_question, remove_file, save_draft, submit_offline
from exams.answering.recording import enter_formal
from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict, DeadlinePassed, InvalidInput, NotFound, NotOpenYet
from tests.unit.exams.builders import CLOSES, OPENS, FakeClock, attempt, exam_of, offline, online

MB = 1024 * 1024


def opened(clock: FakeClock, **settings: Any) -> tuple[Exam, Attempt]:
    exam = exam_of(online(), offline(**settings))
    return exam, open_question(attempt(exam, "q9"), exam, clock())


def video(n: int, size: int = MB) -> FileRef:
    return FileRef(f"v{n}", "video", "mp4", size)


def test_opening_the_question_starts_its_submission_clock(clock: FakeClock) -> None:
    _exam, a = opened(clock, submission_limit_s=1800)
    assert (a.opened_at, a.submission_deadline) == (clock(), clock() + 1800)


def test_opening_again_does_not_restart_the_clock(clock: FakeClock) -> None:
    exam, a = opened(clock, submission_limit_s=1800)
    assert open_question(a, exam, clock.advance(600)) == a


def test_without_a_limit_the_deadline_is_the_exam_end(clock: FakeClock) -> None:
    _exam, a = opened(clock)
    assert a.submission_deadline == CLOSES


def test_the_deadline_never_passes_the_exam_end(clock: FakeClock) -> None:
    clock.set(CLOSES - 60)
    _exam, a = opened(clock, submission_limit_s=1800)
    assert a.submission_deadline == CLOSES


def test_cannot_open_before_the_exam_opens(clock: FakeClock) -> None:
    exam = exam_of(offline())
    with pytest.raises(NotOpenYet):
        open_question(attempt(exam, "q9"), exam, OPENS - 1)


def test_online_questions_are_not_opened_this_way(clock: FakeClock) -> None:
    exam = exam_of(online())
    with pytest.raises(InvalidInput, match="record your answer"):
        open_question(attempt(exam), exam, clock())
    with pytest.raises(InvalidInput, match="upload your prepared files"):
        enter_formal(attempt(exam_of(offline()), "q9"), exam_of(offline()), clock())


def test_files_need_the_question_opened(clock: FakeClock) -> None:
    exam = exam_of(offline())
    with pytest.raises(Conflict, match="open the question"):
        add_file(attempt(exam, "q9"), exam, video(1), clock())


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (FileRef("x", "audio", "mp4", MB), "not accepted here"),
        (FileRef("x", "video", "avi", MB), "format"),
        (FileRef("x", "video", "mp4", 30 * MB + 1), "most allowed"),
    ],
)
def test_file_kind_format_and_size_follow_the_rule(
    clock: FakeClock, file: FileRef, message: str
) -> None:
    exam, a = opened(clock)
    with pytest.raises(InvalidInput, match=message):
        add_file(a, exam, file, clock())


def test_minimum_size(clock: FakeClock) -> None:
    rule = {"kinds": ["pdf"], "formats": ["pdf"], "max_count": 1, "min_bytes": 10, "max_bytes": 100}
    exam, a = opened(clock, files=rule)
    with pytest.raises(InvalidInput, match="at least 10"):
        add_file(a, exam, FileRef("p", "pdf", "pdf", 9), clock())
    assert add_file(a, exam, FileRef("p", "pdf", "PDF", 10), clock()).files


def test_at_most_max_count_files(clock: FakeClock) -> None:
    exam, a = opened(clock)
    for n in range(8):
        a = add_file(a, exam, video(n), clock())
    with pytest.raises(Conflict, match="at most 8"):
        add_file(a, exam, video(8), clock())
    with pytest.raises(Conflict, match="added already"):
        add_file(remove_file(a, exam, "v0", clock()), exam, video(1), clock())


def test_remove_file(clock: FakeClock) -> None:
    exam, a = opened(clock)
    a = remove_file(add_file(a, exam, video(1), clock()), exam, "v1", clock())
    assert a.files == ()
    with pytest.raises(NotFound):
        remove_file(a, exam, "v1", clock())


def test_save_keeps_an_incomplete_draft_without_submitting(clock: FakeClock) -> None:
    exam, a = opened(clock, files={**offline().to_dict()["files"], "min_count": 2})
    a = save_draft(add_file(a, exam, video(1), clock()), exam, clock.advance(5))
    assert a.saved_at == clock() and not a.submitted


def test_submit_needs_the_minimum_count(clock: FakeClock) -> None:
    exam, a = opened(clock, files={**offline().to_dict()["files"], "min_count": 2})
    a = add_file(a, exam, video(1), clock())
    with pytest.raises(Conflict, match="at least 2") as err:
        submit_offline(a, exam, clock())
    assert err.value.details == {"min_count": 2, "count": 1}
    a = submit_offline(add_file(a, exam, video(2), clock()), exam, clock())
    assert a.submitted and a.submitted_by == "candidate"


def test_submit_late_is_refused(clock: FakeClock) -> None:
    exam, a = opened(clock, submission_limit_s=1800)
    a = add_file(a, exam, video(1), clock())
    with pytest.raises(DeadlinePassed):
        submit_offline(a, exam, clock.advance(1800))
    with pytest.raises(DeadlinePassed):
        save_draft(a, exam, clock())


def test_nothing_changes_after_submitting(clock: FakeClock) -> None:
    exam, a = opened(clock)
    a = submit_offline(add_file(a, exam, video(1), clock()), exam, clock())
    for step in (
        lambda: add_file(a, exam, video(2), clock()),
        lambda: remove_file(a, exam, "v1", clock()),
        lambda: save_draft(a, exam, clock()),
        lambda: submit_offline(a, exam, clock()),
    ):
        with pytest.raises(Conflict, match="submitted"):
            step()

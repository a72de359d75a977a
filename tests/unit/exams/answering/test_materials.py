from __future__ import annotations

import pytest

from exams.answering.materials import attach_file, attach_text, detach_material, missing_materials
from exams.answering.recording import enter_formal
from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.exam_rules import Exam
from exams.shared.errors import Conflict, DeadlinePassed, InvalidInput, NotFound
from tests.unit.exams.builders import FakeClock, attempt, exam_of, online

QUESTION = online(
    submission_limit_s=1200,
    materials=[
        {"key": "intro", "kind": "text", "required": True, "max_chars": 20},
        {
            "key": "score",
            "kind": "image",
            "max_count": 2,
            "max_bytes": 1000,
            "formats": ["png", "jpg"],
        },
    ],
)
PNG = FileRef("img-1", "image", "png", 500)


@pytest.fixture
def exam() -> Exam:
    return exam_of(QUESTION)


@pytest.fixture
def entered(exam: Exam, clock: FakeClock) -> Attempt:
    return enter_formal(attempt(exam), exam, clock())


def test_text_material_is_kept_inline(exam: Exam, entered: Attempt, clock: FakeClock) -> None:
    a = attach_text(entered, exam, "intro", "  Chopin étude  ", clock())
    assert [(m.key, m.text) for m in a.materials] == [("intro", "Chopin étude")]
    a = attach_text(a, exam, "intro", "Liszt", clock())
    assert [m.text for m in a.materials] == ["Liszt"]


def test_text_material_is_bounded_by_max_chars(
    exam: Exam, entered: Attempt, clock: FakeClock
) -> None:
    with pytest.raises(InvalidInput, match="at most 20"):
        attach_text(entered, exam, "intro", "x" * 21, clock())
    assert attach_text(entered, exam, "intro", "x" * 20, clock()).materials


def test_empty_text_is_refused(exam: Exam, entered: Attempt, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        attach_text(entered, exam, "intro", "   ", clock())


def test_text_and_files_go_to_their_own_kind(
    exam: Exam, entered: Attempt, clock: FakeClock
) -> None:
    with pytest.raises(InvalidInput, match="upload it"):
        attach_text(entered, exam, "score", "hello", clock())
    with pytest.raises(InvalidInput, match="type it"):
        attach_file(entered, exam, "intro", PNG, clock())


def test_unknown_material_is_refused(exam: Exam, entered: Attempt, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="no material 'video'"):
        attach_file(entered, exam, "video", PNG, clock())


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (FileRef("f", "video", "png", 10), "not accepted here"),
        (FileRef("f", "image", "gif", 10), "format"),
        (FileRef("f", "image", "png", 1001), "most allowed"),
        (FileRef("f", "image", "png", 0), "at least 1"),
    ],
)
def test_file_material_is_checked_against_its_rule(
    exam: Exam, entered: Attempt, clock: FakeClock, file: FileRef, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        attach_file(entered, exam, "score", file, clock())


def test_file_material_count_is_bounded(exam: Exam, entered: Attempt, clock: FakeClock) -> None:
    a = attach_file(entered, exam, "score", PNG, clock())
    with pytest.raises(Conflict, match="attached already"):
        attach_file(a, exam, "score", PNG, clock())
    a = attach_file(a, exam, "score", FileRef("img-2", "image", ".JPG", 10), clock())
    with pytest.raises(Conflict, match="at most 2"):
        attach_file(a, exam, "score", FileRef("img-3", "image", "png", 10), clock())


def test_detach(exam: Exam, entered: Attempt, clock: FakeClock) -> None:
    a = attach_file(entered, exam, "score", PNG, clock())
    a = attach_text(a, exam, "intro", "hello", clock())
    a = detach_material(a, exam, "score", clock(), file_id="img-1")
    assert [m.key for m in a.materials] == ["intro"]
    a = detach_material(a, exam, "intro", clock())
    assert a.materials == ()
    with pytest.raises(NotFound):
        detach_material(a, exam, "intro", clock())


def test_missing_materials_lists_required_ones(
    exam: Exam, entered: Attempt, clock: FakeClock
) -> None:
    assert [r.key for r in missing_materials(entered, QUESTION.online)] == ["intro"]
    a = attach_text(entered, exam, "intro", "hello", clock())
    assert missing_materials(a, QUESTION.online) == []


def test_materials_belong_to_the_formal_answer(exam: Exam, clock: FakeClock) -> None:
    with pytest.raises(Conflict, match="enter the formal answer"):
        attach_text(attempt(exam), exam, "intro", "early", clock())


def test_no_materials_after_the_submission_deadline(
    exam: Exam, entered: Attempt, clock: FakeClock
) -> None:
    with pytest.raises(DeadlinePassed):
        attach_text(entered, exam, "intro", "late", clock.advance(1200))

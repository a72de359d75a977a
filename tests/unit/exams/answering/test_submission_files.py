"""Submitted files named for filing, and an export's names kept distinct."""

from __future__ import annotations

from typing import Any

from exams.answering.submission_files import ExportItem, Naming, gaps_text, unique
from exams.catalog.attempts import Attempt
from exams.catalog.questions import QuestionMode
from exams.identity.accounts import Account, Role
from tests.unit.exams.builders import exam_of, online


def test_a_recording_is_named_by_unit_exam_question_candidate_and_camera() -> None:
    naming = Naming("10001", "中央音乐学院", exam_of(online("q1"), online("q2", 2)))
    who = Account(
        "acc1", "13800000000", "张三", "resident_id", "11010519491231002X", Role.CANDIDATE, 0
    )
    a = Attempt("at1", naming.exam.id, "q2", who.id, QuestionMode.ONLINE)
    one = naming.recording(a, who, "secondary", 1, 1, "webm")
    title = naming.exam.question("q2").title
    assert (
        one.text
        == f"中央音乐学院_{naming.exam.title}_第2题-{title}_张三_11010519491231002X_二机位.webm"
    )
    assert one.ascii == f"10001_{naming.exam.id}_q2_11010519491231002X_camera2.webm"
    part = naming.recording(a, who, "primary", 2, 3, "mkv")
    assert part.text.endswith("_一机位_第2段.mkv") and part.ascii.endswith("_camera1_part2.mkv")


def test_gaps_read_in_a_spreadsheet_cell() -> None:
    gaps: list[dict[str, Any]] = [
        {"start_s": 1.25, "end_s": 3.5, "reason": "media_lost"},
        {"start_s": 9, "end_s": None},
    ]
    assert gaps_text(gaps) == "1.2-3.5 media_lost; 9.0-end"


def test_clashing_names_get_numbers() -> None:
    items = [ExportItem("a/x.webm", {}), ExportItem("a/X.webm", {}), ExportItem("a/x.webm", {})]
    assert [i.archive_name for i in unique(items)] == ["a/x.webm", "a/X-2.webm", "a/x-3.webm"]

"""An incident timeline as CSV (formulas defused, BOM, local times) and as JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from exams.catalog.monitoring import AlertKind
from exams.proctoring.incident import Incident
from exams.proctoring.incident_export import COLUMNS, to_csv, to_json
from exams.shared.cells import safe_cell

AT = 1_750_000_000.0


def incident(note: str = "", **extra: object) -> Incident:
    base = Incident(
        id="i1",
        exam_id="e1",
        candidate_id="c1",
        kind=AlertKind.NO_FACE,
        camera="primary",
        raised_at=AT + 10,
        started_at=AT,
        attempt_id="a1",
        question_id="q1",
        take_id="t1",
        take_offset_s=12.5,
        ended_at=AT + 30,
        detail={"faces": 0},
        status="confirmed",
        disposed_by="p1",
        disposed_at=AT + 60,
        note=note,
    )
    return replace(base, **extra)  # type: ignore[arg-type]


def test_cells_a_spreadsheet_would_run_start_with_a_quote() -> None:
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'):
        assert safe_cell(bad) == "'" + bad
    for fine in ("离开座位", "1.5", "", "a=b", None):
        assert safe_cell(fine) == ("" if fine is None else fine)


def test_the_csv_has_a_bom_a_header_and_defused_notes() -> None:
    data = to_csv(
        [
            incident('=HYPERLINK("http://x","点我")').to_dict(),
            incident("考生离开", id="i2").to_dict(),
        ]
    )
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    assert rows[0]["note"] == '\'=HYPERLINK("http://x","点我")'
    assert rows[1]["note"] == "考生离开"
    assert rows[0]["kind"] == "no_face" and rows[0]["take_offset_s"] == "12.5"
    assert rows[0]["duration_s"] == "30.0"
    assert rows[0]["started_at"].startswith("2025-06-15") or rows[0]["started_at"][:4] == "2025"
    assert json.loads(rows[0]["detail"]) == {"faces": 0}


def test_an_ongoing_incident_has_no_end_nor_duration() -> None:
    data = to_csv([incident(ended_at=None).to_dict()])
    row = next(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert row["ended_at"] == "" and row["duration_s"] == ""


def test_the_json_keeps_raw_times() -> None:
    body = json.loads(to_json([incident("x").to_dict()], attempt_id="a1"))
    assert body["attempt_id"] == "a1"
    assert body["incidents"][0]["started_at"] == AT
    assert body["incidents"][0]["kind"] == "no_face"

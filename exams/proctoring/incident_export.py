"""An incident timeline (``Incidents.described``) as a file: JSON, or CSV for a spreadsheet.

The CSV is UTF-8 with a BOM (so Excel reads Chinese right, like the
submissions export's manifest.csv), one row per incident in timeline order,
times as local dates with their offset. A cell a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return:
a note a person typed, say) is written with a leading ``'``, so it shows as
text and runs nothing (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from exams.shared.cells import safe_cell

COLUMNS = (
    "started_at",
    "ended_at",
    "duration_s",
    "kind",
    "camera",
    "status",
    "note",
    "disposed_by_name",
    "disposed_by_role",
    "disposed_at",
    "candidate_name",
    "candidate_id",
    "question_id",
    "attempt_id",
    "take_id",
    "take_offset_s",
    "raised_at",
    "detail",
    "exam_id",
    "id",
    "disposed_by",
)
TIMES = ("started_at", "ended_at", "disposed_at", "raised_at")


def local_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(sep=" ", timespec="seconds")


def row(incident: dict[str, Any]) -> dict[str, Any]:
    """One incident (:meth:`Incident.to_dict`, or ``Incidents.described``) as a CSV row:
    every cell text, formulas defused."""
    data = dict(incident)
    ended = data.get("ended_at")
    data["duration_s"] = None if ended is None else round(ended - data["started_at"], 3)
    detail = data.get("detail")
    data["detail"] = json.dumps(detail, ensure_ascii=False) if detail else ""
    for name in TIMES:
        data[name] = local_time(data.get(name))
    return {name: safe_cell(data.get(name)) for name in COLUMNS}


def to_csv(incidents: Iterable[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for incident in incidents:
        writer.writerow(row(incident))
    return ("\ufeff" + text.getvalue()).encode()


def to_json(incidents: Iterable[dict[str, Any]], **about: Any) -> bytes:
    body = {**about, "incidents": list(incidents)}
    return json.dumps(body, ensure_ascii=False, indent=1).encode()

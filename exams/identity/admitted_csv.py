"""Reading an admitted list (准考名单) from CSV: all or nothing, every bad row reported.

The file is UTF-8, with or without a BOM, and starts with a header row naming
the three columns in any order: ``name``/``姓名``, ``id_type``/``证件类型``,
``id_number``/``证件号码``, and optionally ``phone``/``手机号`` (the candidate's mobile
number as the unit knows it: shown to staff who review an identity claim). ID
types may be written as codes (``resident_id``) or as their Chinese or English
names (居民身份证). Every row is checked (empty name, unknown ID type, bad ID
number or checksum, duplicate person, wrong number of columns, a bad phone
number) and reported with its line number; one bad row means
nothing is imported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from exams.shared import personal
from exams.shared.errors import InvalidAdmittedList, InvalidInput

COLUMNS = {
    "name": "name",
    "姓名": "name",
    "id_type": "id_type",
    "证件类型": "id_type",
    "id_number": "id_number",
    "证件号码": "id_number",
    "证件号": "id_number",
    "phone": "phone",
    "手机号": "phone",
    "手机号码": "phone",
}
MAX_ROWS = 200_000


@dataclass(frozen=True)
class AdmittedEntry:
    name: str
    id_type: str
    id_number: str
    line: int
    phone: str = ""  # optional column; normalised, or "" when the list has none

    @property
    def name_key(self) -> str:
        return personal.name_key(self.name)

    def describe(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "id_type": self.id_type,
            "id_number": self.id_number,
            **({"phone": self.phone} if self.phone else {}),
        }


def _problem(line: int, code: str, reason: str) -> dict[str, Any]:
    return {"line": line, "code": code, "reason": reason}


def _refuse(message: str, problems: list[dict[str, Any]]) -> InvalidAdmittedList:
    return InvalidAdmittedList(message, {"errors": problems, "imported": 0})


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _refuse(
            "the file is not UTF-8: save it as 'CSV UTF-8' (in Excel: Save As → CSV UTF-8)",
            [_problem(line, "encoding", "this line is not UTF-8 text")],
        ) from exc


def parse_admitted_csv(data: bytes) -> list[AdmittedEntry]:
    """The entries of a valid file, or :class:`InvalidAdmittedList` naming every bad row."""
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise _refuse("the file is empty: it needs a header row and one row per candidate", [])
    columns = [COLUMNS.get(cell.strip().lower(), COLUMNS.get(cell.strip(), "")) for cell in header]
    missing = [c for c in ("name", "id_type", "id_number") if c not in columns]
    if missing or len(set(columns)) != len(columns):
        raise _refuse(
            "the first row must name the columns name, id_type and id_number "
            "(or 姓名, 证件类型, 证件号码), each once",
            [
                _problem(
                    1, "header", f"missing or repeated columns: {', '.join(missing) or 'repeated'}"
                )
            ],
        )
    index = {name: columns.index(name) for name in ("name", "id_type", "id_number")}
    if "phone" in columns:
        index["phone"] = columns.index("phone")
    entries: list[AdmittedEntry] = []
    problems: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(_problem(reader.line_num, "csv", f"cannot read this line: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing newline in Excel's output) are not rows
        if len(entries) + len(problems) >= MAX_ROWS:
            problems.append(_problem(line, "too_many_rows", f"a list has at most {MAX_ROWS} rows"))
            break
        if len(row) != len(columns):
            problems.append(
                _problem(line, "columns", f"expected {len(columns)} columns, found {len(row)}")
            )
            continue
        entry, problem = _entry(row, index, line)
        if problem is not None:
            problems.append(problem)
            continue
        assert entry is not None
        person = (entry.id_type, entry.id_number)
        if person in seen:
            problems.append(
                _problem(line, "duplicate", f"the same ID number is already on line {seen[person]}")
            )
            continue
        seen[person] = line
        entries.append(entry)
    if problems:
        raise _refuse(
            f"{len(problems)} row{'s' if len(problems) != 1 else ''} need fixing; nothing was "
            "imported: correct them and upload the whole file again",
            problems,
        )
    if not entries:
        raise _refuse("the file has a header but no candidates", [])
    return entries


def _entry(
    row: list[str], index: dict[str, int], line: int
) -> tuple[AdmittedEntry | None, dict[str, Any] | None]:
    try:
        name = personal.normalise_name(row[index["name"]])
    except InvalidInput as exc:
        return None, _problem(line, "name", exc.message)
    raw_type = row[index["id_type"]].strip()
    try:
        kind = personal.id_type(raw_type)
    except InvalidInput:
        known = ", ".join(f"{t.code} ({t.name_zh})" for t in personal.ID_TYPES.values())
        return None, _problem(line, "id_type", f"unknown ID type {raw_type!r}: use one of {known}")
    try:
        number = personal.normalise_id_number(kind.code, row[index["id_number"]])
    except InvalidInput as exc:
        checksum = isinstance(exc.details, dict) and exc.details.get("reason") == "checksum"
        return None, _problem(line, "id_checksum" if checksum else "id_number", exc.message)
    phone = ""
    if "phone" in index and row[index["phone"]].strip():
        try:
            phone = personal.normalise_phone(row[index["phone"]])
        except InvalidInput as exc:
            return None, _problem(line, "phone", exc.message)
    return AdmittedEntry(name, kind.code, number, line, phone), None

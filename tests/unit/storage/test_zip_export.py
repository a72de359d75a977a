"""The streamed zip: written by a thread, read on the loop, stopped when the client
leaves (storage.zip_export)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import threading
import zipfile
from datetime import datetime
from pathlib import Path

from exams.answering.submission_files import ExportItem, ExportPlan, Name
from storage.zip_export import ZipExport, ZipExports


def plan(tmp_path: Path, sizes: list[int]) -> ExportPlan:
    items = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"f{i}.webm"
        path.write_bytes(bytes([i % 256]) * size)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        items.append(
            ExportItem(f"张三_110/第{i}段.webm", {"kind": "recording"}, path, None, digest)
        )
    items.append(ExportItem("张三_110/missing.png", {"kind": "answer_file"}, tmp_path / "gone"))
    return ExportPlan("e1", "u1", Name("考试.zip", "u1_e1.zip"), "单位_考试", items)


async def test_a_whole_zip_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    export = ZipExport(plan(tmp_path, [10, 300_000, 0]), chunk=64 * 1024, depth=2)
    data = b"".join([chunk async for chunk in export.chunks()])
    await export.close()
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[:3] == [f"单位_考试/张三_110/第{i}段.webm" for i in range(3)]
    assert names[3:] == ["单位_考试/manifest.csv", "单位_考试/manifest.json"]
    assert all(archive.getinfo(n).flag_bits & 0x800 for n in names)
    assert archive.read(names[1]) == bytes([1]) * 300_000
    manifest = archive.read("单位_考试/manifest.csv").decode()
    assert manifest.count("verified") == 3 and "missing" in manifest
    assert export.outcome.complete and export.outcome.files == 3
    assert export.outcome.missing == ["张三_110/missing.png"]


async def test_the_csv_gives_the_submission_time_as_a_date_a_spreadsheet_reads(
    tmp_path: Path,
) -> None:
    source = tmp_path / "f.webm"
    source.write_bytes(b"x")
    row = {"kind": "recording", "submitted_at": 1796474648.06}
    item = ExportItem("张三_110/f.webm", row, source)
    export = ZipExport(ExportPlan("e1", "u1", Name("考试.zip", "u1_e1.zip"), "考试", [item]))
    data = b"".join([chunk async for chunk in export.chunks()])
    await export.close()
    archive = zipfile.ZipFile(io.BytesIO(data))
    rows = list(csv.DictReader(io.StringIO(archive.read("考试/manifest.csv").decode("utf-8-sig"))))
    when = datetime.fromisoformat(rows[0]["submitted_at"])
    assert when.tzinfo is not None and when.timestamp() == 1796474648
    assert (
        json.loads(archive.read("考试/manifest.json"))["files"][0]["submitted_at"] == 1796474648.06
    )


async def test_the_csv_keeps_typed_text_from_running_as_a_formula(tmp_path: Path) -> None:
    source = tmp_path / "f.webm"
    source.write_bytes(b"x")
    typed = '=HYPERLINK("http://x.example","看")'
    row = {"kind": "recording", "candidate_name": typed, "question_title": "@SUM(A1)"}
    item = ExportItem("张三_110/f.webm", row, source)
    export = ZipExport(ExportPlan("e1", "u1", Name("考试.zip", "u1_e1.zip"), "考试", [item]))
    data = b"".join([chunk async for chunk in export.chunks()])
    await export.close()
    archive = zipfile.ZipFile(io.BytesIO(data))
    rows = list(csv.DictReader(io.StringIO(archive.read("考试/manifest.csv").decode("utf-8-sig"))))
    assert rows[0]["candidate_name"] == "'" + typed
    assert rows[0]["question_title"] == "'@SUM(A1)"
    assert rows[0]["kind"] == "recording"
    assert json.loads(archive.read("考试/manifest.json"))["files"][0]["candidate_name"] == typed


async def test_a_client_that_stops_reading_stops_the_writer(tmp_path: Path) -> None:
    big = plan(tmp_path, [4 * 1024 * 1024])
    export = ZipExport(big, chunk=64 * 1024, depth=2)
    chunks = export.chunks()
    first = await chunks.__anext__()
    assert first.startswith(b"PK")
    await export.close()  # the writer was blocked on a full pipe: it ends now
    assert not export.outcome.complete
    await chunks.aclose()
    for _ in range(200):  # its thread has resolved ``close``; now it returns
        if not any(t.name == "export-e1" for t in threading.enumerate()):
            break
        await asyncio.sleep(0.01)
    assert not any(t.name == "export-e1" for t in threading.enumerate())


async def test_exports_take_turns(tmp_path: Path) -> None:
    exports = ZipExports(running=1)
    order: list[str] = []

    async def run(tag: str) -> None:
        async with exports.open(plan(tmp_path / tag, [1000])) as export:
            order.append(f"{tag} start")
            async for _ in export.chunks():
                await asyncio.sleep(0)
            order.append(f"{tag} end")

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    await asyncio.gather(run("a"), run("b"))
    assert order == ["a start", "a end", "b start", "b end"]

"""The files of submitted answers as an admissions office files them: named, listed, and
gathered into one export per exam.

A name says whose work it is without opening it: unit, exam, question, candidate
name and ID number, camera (一机位 the candidate's device, 二机位 the phone) and
part. An export is one folder per exam with a folder per candidate, plus a
manifest listing every file with its candidate, question, camera, duration,
gaps and SHA-256 (the web layer streams it as a zip and hashes each file as it
goes, so the manifest says what was really sent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.exam_rules import Exam
from exams.catalog.file_names import ascii_name, download_name, safe_part
from exams.catalog.filetypes import FORMATS
from exams.catalog.take_quality import camera_text
from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account

CAMERAS = ("primary", "secondary")
CAMERA_NAMES = {"primary": "一机位", "secondary": "二机位"}
KIND_NAMES = {"video": "视频", "audio": "音频", "image": "图片", "text": "文字"}
CONTAINER_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "mp4": "video/mp4"}
# The columns of the export's manifest.csv, in order (manifest.json has the same keys).
COLUMNS = (
    "path",
    "candidate_name",
    "id_type",
    "id_number",
    "phone",
    "account_id",
    "question_no",
    "question_id",
    "question_title",
    "submitted_at",
    "kind",
    "camera",
    "part",
    "start_s",
    "duration_s",
    "recorded_s",
    "gaps",
    "quality",  # what the server received of this camera (issue #18)
    "retake",  # an extra formal take was granted for a damaged one, and why
    "original_name",
    "size",
    "sha256",
    "sha256_recorded",
    "check",
)


@dataclass(frozen=True)
class Name:
    """A download's name: UTF-8 (``filename*``) and a plain-ASCII stand-in."""

    text: str
    ascii: str


@dataclass(frozen=True)
class ExportItem:
    """One file of an export: from disk (``path``) or written from ``text``."""

    archive_name: str
    row: dict[str, Any]
    path: Path | None = None
    text: str | None = None
    sha256_recorded: str | None = None


@dataclass(frozen=True)
class ExportPlan:
    exam_id: str
    unit_id: str
    name: Name  # of the zip
    folder: str  # the one top folder inside it
    items: list[ExportItem] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Naming:
    """Names for one exam's files."""

    unit_id: str
    unit_name: str
    exam: Exam

    def question(self, question_id: str) -> tuple[int, str]:
        """(number as the console shows it, title)."""
        for n, q in enumerate(self.exam.questions, start=1):
            if q.id == question_id:
                return n, q.title
        return 0, question_id

    def _parts(self, a: Attempt, who: Account) -> list[str]:
        n, title = self.question(a.question_id)
        return [self.unit_name, self.exam.title, f"第{n}题-{title}", who.name, who.id_number]

    def _ascii(self, a: Attempt, who: Account, *rest: str) -> str:
        n, _ = self.question(a.question_id)
        parts = [self.unit_id, self.exam.id, f"q{n}", who.id_number, *rest]
        return ascii_name(download_name(parts, ""))

    def recording(
        self, a: Attempt, who: Account, camera: str, part: int, parts: int, ext: str
    ) -> Name:
        tail = [CAMERA_NAMES.get(camera, camera)] + ([f"第{part}段"] if parts > 1 else [])
        ascii_tail = [f"camera{CAMERAS.index(camera) + 1 if camera in CAMERAS else camera}"] + (
            [f"part{part}"] if parts > 1 else []
        )
        return Name(
            download_name([*self._parts(a, who), *tail], ext),
            self._ascii(a, who, *ascii_tail) + f".{ext}",
        )

    def file(self, a: Attempt, who: Account, label: str, n: int, ext: str) -> Name:
        return Name(
            download_name([*self._parts(a, who), label, str(n)], ext),
            self._ascii(a, who, "file", str(n)) + f".{ext}",
        )

    def export(self) -> Name:
        text = download_name([self.unit_name, self.exam.title, "提交作品"], "zip")
        return Name(text, ascii_name(download_name([self.unit_id, self.exam.id], "zip")))

    def candidate_folder(self, who: Account) -> str:
        return download_name([who.name, who.id_number], "", max_bytes=100)


# -- a submitted take's cameras ------------------------------------------------------------


def camera_part(manifest: dict[str, Any], camera: str) -> dict[str, Any] | None:
    """One camera's segments, gaps and recorded length; None if the take has no such
    camera."""
    if camera == "primary":
        return manifest
    part = (manifest.get("cameras") or {}).get(camera)
    return part if isinstance(part, dict) else None


def cameras_of(take: Take) -> list[str]:
    """The cameras a stored take has segments of, the primary first."""
    manifest = take.manifest or {}
    return [
        c for c in CAMERAS if (camera_part(manifest, c) or {}).get("segments") or c == "primary"
    ]


def gaps_text(gaps: list[dict[str, Any]]) -> str:
    """Gaps for a spreadsheet cell: ``12.3-15.0 connection_lost; ...`` (take seconds)."""
    out = []
    for g in gaps:
        end = "end" if g.get("end_s") is None else f"{float(g['end_s']):.1f}"
        out.append(f"{float(g.get('start_s') or 0):.1f}-{end} {g.get('reason', '')}".strip())
    return "; ".join(out)


def file_media_type(f: FileRef) -> str:
    known = FORMATS.get(f.format)
    return "application/octet-stream" if known is None else known.media_type


def answer_items(
    naming: Naming,
    a: Attempt,
    who: Account,
    take: Take | None,
    segment_path: Callable[[str, str], Path],
    file_path: Callable[[str, str, str], Path],
    material_label: Callable[[str, str], str],
) -> list[ExportItem]:
    """Every file of one submitted answer, in its candidate's folder.

    ``segment_path(take_id, name)`` and ``file_path(attempt_id, file_id, fmt)`` locate
    stored files; ``material_label(question_id, key)`` names a material."""
    folder = naming.candidate_folder(who)
    n, title = naming.question(a.question_id)
    base = {
        "candidate_name": who.name,
        "id_type": who.id_type,
        "id_number": who.id_number,
        "phone": who.phone,
        "account_id": who.id,
        "question_no": n,
        "question_id": a.question_id,
        "question_title": title,
        "submitted_at": a.submitted_at,
    }
    items: list[ExportItem] = []
    if take is not None and take.state is TakeState.STORED:
        manifest = take.manifest or {}
        for camera in cameras_of(take):
            part = camera_part(manifest, camera) or {}
            segments = list(part.get("segments") or [])
            for i, s in enumerate(segments, start=1):
                ext = str(s.get("container") or Path(s["file"]).suffix.lstrip("."))
                name = naming.recording(a, who, camera, i, len(segments), ext)
                row = {
                    **base,
                    "kind": "recording",
                    "camera": camera,
                    "part": i,
                    "start_s": s.get("start_s"),
                    "duration_s": s.get("duration_s"),
                    "recorded_s": part.get("recorded_s"),
                    "gaps": gaps_text(list(part.get("gaps") or [])),
                    "quality": camera_text(take.quality, camera),
                    "retake": "; ".join(f"{r.take_id}: {', '.join(r.reasons)}" for r in a.retakes),
                }
                items.append(
                    ExportItem(
                        f"{folder}/{name.text}",
                        row,
                        path=segment_path(take.id, s["file"]),
                        sha256_recorded=s.get("sha256"),
                    )
                )
    texts = []
    for k, m in enumerate(a.materials, start=1):
        label = material_label(a.question_id, m.key)
        if m.file is not None and not m.file.pending:
            name = naming.file(a, who, label, k, m.file.format)
            row = {**base, "kind": "material", "original_name": m.file.name}
            path = file_path(a.id, m.file.id, m.file.format)
            items.append(ExportItem(f"{folder}/{name.text}", row, path=path))
        elif m.text is not None:
            texts.append(f"{label}:\n{m.text}\n")
    if texts:
        name = naming.file(a, who, "文字材料", len(a.materials) + 1, "txt")
        row = {**base, "kind": "material_text"}
        items.append(ExportItem(f"{folder}/{name.text}", row, text="\n".join(texts)))
    for k, f in enumerate((f for f in a.files if not f.pending), start=1):
        name = naming.file(a, who, "作答文件", k, f.format)
        row = {**base, "kind": "answer_file", "original_name": f.name}
        items.append(ExportItem(f"{folder}/{name.text}", row, path=file_path(a.id, f.id, f.format)))
    return items


def unique(items: list[ExportItem]) -> list[ExportItem]:
    """Items whose archive names are distinct (a clash gets ``-2``, ``-3``... before the
    extension)."""
    seen: set[str] = set()
    out = []
    for item in items:
        name = item.archive_name
        stem, dot, ext = name.rpartition(".")
        n = 2
        while name.casefold() in seen:
            name = f"{stem}-{n}.{ext}" if dot else f"{item.archive_name}-{n}"
            n += 1
        seen.add(name.casefold())
        out.append(item if name == item.archive_name else _renamed(item, name))
    return out


def _renamed(item: ExportItem, name: str) -> ExportItem:
    return ExportItem(name, item.row, item.path, item.text, item.sha256_recorded)


def top_folder(naming: Naming) -> str:
    return safe_part(naming.export().text.removesuffix(".zip"), 120)

"""What a unit admin (and a proctor) sees of candidates' answers: progress, submissions,
and the submitted files themselves (served as attachments by the web layer).

Only the admin of the exam's unit reads its submissions; a proctor reads the
progress of an exam assigned to them. A submitted online answer is its chosen
take (its recorded segments) and its materials; an offline one its files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from exams import answer_views as views
from exams.accounts import Account
from exams.attempts import Attempt, FileRef
from exams.catalog import ExamCatalog, person
from exams.errors import NotFound
from exams.exam_ports import AttemptRepository, TakeRecords
from exams.exams import Exam
from exams.filetypes import FORMATS
from exams.takes import Clock, TakeState

CONTAINER_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "mp4": "video/mp4"}


class FilePaths(Protocol):
    def path(self, folder: str, file_id: str, fmt: str) -> Path: ...

    def segment_path(self, take_id: str, name: str) -> Path: ...


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    media_type: str


class AnswerReview:
    def __init__(
        self,
        catalog: ExamCatalog,
        attempts: AttemptRepository,
        records: TakeRecords,
        paths: FilePaths,
        clock: Clock,
    ) -> None:
        self._catalog = catalog
        self._attempts = attempts
        self._records = records
        self._paths = paths
        self._clock = clock

    async def progress(self, admin: Account, exam_id: str, client: str) -> dict[str, Any]:
        exam = await self._catalog.admin_exam(admin, exam_id, client)
        return await self._progress(exam)

    async def proctor_view(self, proctor: Account, exam_id: str, client: str) -> dict[str, Any]:
        exam = await self._catalog.proctor_exam(proctor, exam_id, client)
        return {**await self._progress(exam), "questions": _questions(exam)}

    async def _progress(self, exam: Exam) -> dict[str, Any]:
        attempts = await self._attempts.of_exam(exam.id)
        return views.progress(exam, attempts, await self._people(attempts), self._clock())

    async def submissions(self, admin: Account, exam_id: str, client: str) -> dict[str, Any]:
        exam = await self._catalog.admin_exam(admin, exam_id, client)
        attempts = [a for a in await self._attempts.of_exam(exam.id) if a.submitted]
        people = await self._people(attempts)
        rows = []
        for a in attempts:
            rows.append(
                {
                    "attempt_id": a.id,
                    "candidate": people.get(a.candidate_id, {"account_id": a.candidate_id}),
                    "question_id": a.question_id,
                    "mode": a.mode.value,
                    "submitted_at": a.submitted_at,
                    "submitted_by": a.submitted_by,
                    "take": await self._take(exam, a),
                    "materials": [
                        {"key": m.key, "text": m.text}
                        if m.file is None
                        else {"key": m.key, "file": self._file(exam, a, m.file)}
                        for m in a.materials
                    ],
                    "files": [self._file(exam, a, f) for f in a.files],
                }
            )
        return {"now": self._clock(), "exam_id": exam.id, "submissions": rows}

    async def _take(self, exam: Exam, a: Attempt) -> dict[str, Any] | None:
        if a.chosen_take_id is None:
            return None
        take = await self._records.get(a.chosen_take_id)
        if take is None:
            return {"take_id": a.chosen_take_id, "state": "missing", "segments": []}
        base = f"/api/admin/exams/{exam.id}/attempts/{a.id}/take/segments"
        return {
            "take_id": take.id,
            "state": take.state.value,
            "stop_reason": take.stop_reason,
            "segments": [
                {
                    "index": s["index"],
                    "container": s.get("container"),
                    "size": s.get("size"),
                    "duration_s": s.get("duration_s"),
                    "sha256": s.get("sha256"),
                    "url": f"{base}/{s['index']}",
                }
                for s in (take.manifest or {}).get("segments", [])
            ],
        }

    @staticmethod
    def _file(exam: Exam, a: Attempt, f: FileRef) -> dict[str, Any]:
        """A file and where to download it; a pending one (still uploading, M4.1) has no
        ``url`` yet."""
        url = None if f.pending else f"/api/admin/exams/{exam.id}/attempts/{a.id}/files/{f.id}"
        return {**views.file_view(f), "url": url}

    async def segment(
        self, admin: Account, exam_id: str, attempt_id: str, index: str, client: str
    ) -> Download:
        """One segment of a submitted answer's chosen take."""
        exam, a = await self._submitted(admin, exam_id, attempt_id, client)
        take = None if a.chosen_take_id is None else await self._records.get(a.chosen_take_id)
        if take is None or take.state is not TakeState.STORED:
            raise NotFound("this answer has no stored recording")
        segments = (take.manifest or {}).get("segments", [])
        segment = next((s for s in segments if str(s["index"]) == index), None)
        if segment is None:
            raise NotFound("no such segment in this recording")
        path = self._paths.segment_path(take.id, segment["file"])
        suffix = path.suffix.lstrip(".")
        return Download(
            path,
            f"{exam.id}-{a.question_id}-{a.candidate_id}-{index}.{suffix}",
            CONTAINER_TYPES.get(suffix, "application/octet-stream"),
        )

    async def file(
        self, admin: Account, exam_id: str, attempt_id: str, file_id: str, client: str
    ) -> Download:
        """An offline answer file or a material file of a submitted answer."""
        exam, a = await self._submitted(admin, exam_id, attempt_id, client)
        files = [*a.files, *(m.file for m in a.materials if m.file is not None)]
        f = next((f for f in files if f.id == file_id), None)
        if f is None:
            raise NotFound("this answer has no such file")
        if f.pending:
            raise NotFound("this file is still being uploaded; it can be downloaded once complete")
        known = FORMATS.get(f.format)
        return Download(
            self._paths.path(a.id, f.id, f.format),
            f"{exam.id}-{a.question_id}-{a.candidate_id}-{f.id[:8]}.{f.format}",
            "application/octet-stream" if known is None else known.media_type,
        )

    async def _submitted(
        self, admin: Account, exam_id: str, attempt_id: str, client: str
    ) -> tuple[Exam, Attempt]:
        exam = await self._catalog.admin_exam(admin, exam_id, client)
        a = await self._attempts.get(attempt_id)
        if a is None or a.exam_id != exam.id or not a.submitted:
            raise NotFound("no such submitted answer in this exam")
        return exam, a

    async def _people(self, attempts: list[Attempt]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for candidate_id in {a.candidate_id for a in attempts}:
            who = await self._catalog.accounts.get(candidate_id)
            if who is not None:
                out[candidate_id] = person(who)
        return out


def _questions(exam: Exam) -> list[dict[str, Any]]:
    return [
        {"question_id": q.id, "title": q.title, "order": q.order, "mode": q.mode.value}
        for q in exam.questions
    ]

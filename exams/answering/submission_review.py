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

from exams.admission.units import Unit
from exams.answering import presenters as views
from exams.answering import submission_files as sf
from exams.catalog import take_gaps
from exams.catalog.attempts import Attempt, FileRef
from exams.catalog.catalog import ExamCatalog, person
from exams.catalog.exam_ports import AttemptRepository, TakeRecords
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import TakeState
from exams.identity.accounts import Account, Role
from exams.shared.errors import ExamcastError, NotFound
from exams.shared.ports import AuditLog, Clock, Entry, Event


class FilePaths(Protocol):
    def path(self, folder: str, file_id: str, fmt: str) -> Path: ...

    def segment_path(self, take_id: str, name: str) -> Path: ...


class UnitSource(Protocol):
    async def get(self, unit_id: str) -> Unit: ...


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str  # UTF-8, for ``filename*``
    media_type: str
    ascii_filename: str = "download"  # for clients that read only ``filename``


class SubmissionReview:
    def __init__(
        self,
        catalog: ExamCatalog,
        attempts: AttemptRepository,
        records: TakeRecords,
        paths: FilePaths,
        units: UnitSource,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._catalog = catalog
        self._attempts = attempts
        self._records = records
        self._paths = paths
        self._units = units
        self._audit = audit
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
        people = await self._people(attempts, with_id=True)  # the unit files works by ID
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
        """The chosen take: every camera's segments (both of a 需二机位 question), each with
        its place on the take's clock, its gaps and recorded length, and links to play
        (``play_url``, inline) and download (``url``). ``segments`` repeats the primary's."""
        if a.chosen_take_id is None:
            return None
        take = await self._records.get(a.chosen_take_id)
        if take is None:
            return {"take_id": a.chosen_take_id, "state": "missing", "segments": []}
        base = f"/api/admin/exams/{exam.id}/attempts/{a.id}/take/segments"
        manifest = take.manifest or {}
        cameras: dict[str, Any] = {}
        for camera in sf.cameras_of(take):
            part = sf.camera_part(manifest, camera) or {}
            query = "" if camera == "primary" else f"?camera={camera}"
            segments = list(part.get("segments") or [])
            cameras[camera] = {
                "recorded_s": part.get("recorded_s"),
                "gaps": list(part.get("gaps") or []),
                "segments": [
                    {
                        "index": s["index"],
                        "container": s.get("container"),
                        "size": s.get("size"),
                        "start_s": s.get("start_s"),
                        "duration_s": s.get("duration_s"),
                        "sha256": s.get("sha256"),
                        # a fill: the stretch it covers, from the candidate's local copy (#14)
                        "reason": s.get("reason"),
                        "covers": s.get("covers"),
                        "url": f"{base}/{s['index']}{query}",
                        "play_url": f"{base}/{s['index']}?camera={camera}&play=1",
                    }
                    for s in segments
                ],
            }
        return {
            "take_id": take.id,
            "state": take.state.value,
            "stop_reason": take.stop_reason,
            "recorded_s": manifest.get("recorded_s"),
            "gaps": list(manifest.get("gaps") or []),
            "complete": take_gaps.is_complete(manifest),  # no gap left on any camera
            "segments": cameras["primary"]["segments"],
            "cameras": cameras,
            # what the server received (issue #18), and the extra takes damage granted
            "quality": take.quality,
            "retakes": [
                {
                    "take_id": r.take_id,
                    "granted_at": r.granted_at,
                    "reasons": r.reasons,
                    "damage": [d.to_dict() for d in r.damage],
                }
                for r in a.retakes
            ],
        }

    @staticmethod
    def _file(exam: Exam, a: Attempt, f: FileRef) -> dict[str, Any]:
        """A file and where to download it; a pending one (still uploading, M4.1) has no
        ``url`` yet."""
        url = None if f.pending else f"/api/admin/exams/{exam.id}/attempts/{a.id}/files/{f.id}"
        return {**views.file_view(f), "url": url}

    async def segment(
        self,
        admin: Account,
        exam_id: str,
        attempt_id: str,
        index: str,
        client: str,
        camera: str = "primary",
        play: bool = False,
    ) -> Download:
        """One segment of one camera of a submitted answer's chosen take: the recorded file
        (``play``: the browser-playable copy of an H.264 segment, where there is one)."""
        exam, a = await self._submitted(admin, exam_id, attempt_id, client)
        take = None if a.chosen_take_id is None else await self._records.get(a.chosen_take_id)
        if take is None or take.state is not TakeState.STORED:
            raise NotFound("this answer has no stored recording")
        part = sf.camera_part(take.manifest or {}, camera)
        if part is None:
            raise NotFound("this recording has no such camera; use primary or secondary")
        segments = list(part.get("segments") or [])
        found = [(i, s) for i, s in enumerate(segments, start=1) if str(s["index"]) == index]
        if not found:
            raise NotFound("no such segment in this recording")
        n, segment = found[0]
        name = (play and segment.get("playback_file")) or segment["file"]
        path = self._paths.segment_path(take.id, name)
        suffix = path.suffix.lstrip(".")
        naming = await self._naming(exam)
        named = sf.Naming.recording(
            naming, a, await self._candidate(a), camera, n, len(segments), suffix
        )
        media_type = sf.CONTAINER_TYPES.get(suffix, "application/octet-stream")
        return Download(path, named.text, media_type, named.ascii)

    async def file(
        self, admin: Account, exam_id: str, attempt_id: str, file_id: str, client: str
    ) -> Download:
        """An offline answer file or a material file of a submitted answer."""
        exam, a = await self._submitted(admin, exam_id, attempt_id, client)
        numbered = [("作答文件", k, f) for k, f in enumerate(a.files, start=1)]
        numbered += [
            (self._material_label(exam, a.question_id, m.key), k, m.file)
            for k, m in enumerate(a.materials, start=1)
            if m.file is not None
        ]
        match = [(label, k, f) for label, k, f in numbered if f.id == file_id]
        if not match:
            raise NotFound("this answer has no such file")
        label, k, f = match[0]
        if f.pending:
            raise NotFound("this file is still being uploaded; it can be downloaded once complete")
        named = (await self._naming(exam)).file(a, await self._candidate(a), label, k, f.format)
        return Download(
            self._paths.path(a.id, f.id, f.format), named.text, sf.file_media_type(f), named.ascii
        )

    # -- the bulk export -------------------------------------------------------------------

    async def export_plan(self, admin: Account, exam_id: str, client: str) -> sf.ExportPlan:
        """Every file of the exam's submitted answers, named and listed for one download;
        the export is audited (who, which exam, how many files)."""
        exam = await self._catalog.admin_exam(admin, exam_id, client)
        naming = await self._naming(exam)
        attempts = [a for a in await self._attempts.of_exam(exam.id) if a.submitted]
        items: list[sf.ExportItem] = []
        for a in sorted(attempts, key=lambda a: (a.candidate_id, naming.question(a.question_id))):
            who = await self._candidate(a)
            take = None if a.chosen_take_id is None else await self._records.get(a.chosen_take_id)
            items += sf.answer_items(
                naming,
                a,
                who,
                take,
                self._paths.segment_path,
                self._paths.path,
                lambda qid, key: self._material_label(exam, qid, key),
            )
        plan = sf.ExportPlan(
            exam.id, exam.unit_id, naming.export(), sf.top_folder(naming), sf.unique(items)
        )
        await self._audit.record(
            Entry(
                Event.SUBMISSIONS_EXPORTED,
                admin.id,
                client,
                {"exam_id": exam.id, "unit_id": exam.unit_id, "files": plan.files},
                self._clock(),
            )
        )
        return plan

    async def export_ended(
        self, admin: Account, plan: sf.ExportPlan, client: str, outcome: dict[str, Any]
    ) -> None:
        """Audit how an export ended: complete, or cut off, and any file whose bytes did
        not match the hash recorded when it was stored."""
        detail = {"exam_id": plan.exam_id, "unit_id": plan.unit_id, **outcome}
        await self._audit.record(
            Entry(Event.SUBMISSIONS_EXPORT_ENDED, admin.id, client, detail, self._clock())
        )

    async def _naming(self, exam: Exam) -> sf.Naming:
        try:
            unit_name = (await self._units.get(exam.unit_id)).name
        except NotFound:
            unit_name = exam.unit_id
        return sf.Naming(exam.unit_id, unit_name, exam)

    async def _candidate(self, a: Attempt) -> Account:
        who = await self._catalog.accounts.get(a.candidate_id)
        if who is None:
            gone = a.candidate_id  # an account removed since: its id stands in for it all
            return Account(gone, "", gone, "", gone, Role.CANDIDATE, 0.0)
        return who

    @staticmethod
    def _material_label(exam: Exam, question_id: str, key: str) -> str:
        try:
            q = exam.question(question_id)
            rule = next(m for m in q.online.materials if m.key == key)
        except (ExamcastError, StopIteration):
            return key
        return rule.label or sf.KIND_NAMES.get(rule.kind.value, key)

    async def _submitted(
        self, admin: Account, exam_id: str, attempt_id: str, client: str
    ) -> tuple[Exam, Attempt]:
        exam = await self._catalog.admin_exam(admin, exam_id, client)
        a = await self._attempts.get(attempt_id)
        if a is None or a.exam_id != exam.id or not a.submitted:
            raise NotFound("no such submitted answer in this exam")
        return exam, a

    async def _people(
        self, attempts: list[Attempt], with_id: bool = False
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for candidate_id in {a.candidate_id for a in attempts}:
            who = await self._catalog.accounts.get(candidate_id)
            if who is not None:
                out[candidate_id] = person(who)
                if with_id:
                    out[candidate_id] |= {"id_type": who.id_type, "id_number": who.id_number}
        return out


def _questions(exam: Exam) -> list[dict[str, Any]]:
    return [
        {"question_id": q.id, "title": q.title, "order": q.order, "mode": q.mode.value}
        for q in exam.questions
    ]

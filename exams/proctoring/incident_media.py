"""The recordings behind a timeline: each take an incident points at, to play from its moment.

An incident's ``take_id`` and ``take_offset_s`` say where it is in the recording;
:meth:`IncidentTakes.takes_of` lists those takes with every camera's segments
(``start_s`` and ``duration_s`` on the take's clock, so the two cameras play in
sync) and a ``play_url`` for each, served by :meth:`IncidentTakes.segment` to the
exam's proctors and its unit's admin: any take of the answer, submitted or not
(a rehearsal is deleted after its one playback, so it has no segments left).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from exams.answering import submission_files as sf
from exams.answering.submission_review import Download
from exams.catalog.exam_ports import TakeRecords
from exams.catalog.takes import Take, TakeState
from exams.identity.accounts import Account
from exams.proctoring.incident import Incident
from exams.proctoring.incident_ports import CandidateAttempts
from exams.proctoring.incidents import Incidents
from exams.shared.errors import NotFound


class SegmentPaths(Protocol):
    """Implemented by ``storage.answer_files.AnswerFiles``."""

    def segment_path(self, take_id: str, name: str) -> Path: ...


def play_base(attempt_id: str, take_id: str) -> str:
    return f"/api/proctor/attempts/{attempt_id}/takes/{take_id}/segments"


def take_view(attempt_id: str, take: Take) -> dict[str, Any]:
    """A take as the timeline's player needs it: state and, once stored, each camera's
    segments with their place on the take's clock and where to play them."""
    out: dict[str, Any] = {
        "take_id": take.id,
        "attempt_id": attempt_id,
        "state": take.state.value,
        "purpose": take.purpose,
        "started_at": take.started_at,
        "cameras": {},
    }
    if take.state is not TakeState.STORED:
        return out
    manifest = take.manifest or {}
    base = play_base(attempt_id, take.id)
    for camera in sf.cameras_of(take):
        part = sf.camera_part(manifest, camera) or {}
        out["cameras"][camera] = {
            "recorded_s": part.get("recorded_s"),
            "gaps": list(part.get("gaps") or []),
            "segments": [
                {
                    "index": s["index"],
                    "start_s": s.get("start_s"),
                    "duration_s": s.get("duration_s"),
                    "play_url": f"{base}/{s['index']}?camera={camera}",
                }
                for s in part.get("segments") or []
            ],
        }
    return out


class IncidentTakes:
    def __init__(
        self,
        incidents: Incidents,
        attempts: CandidateAttempts,
        records: TakeRecords,
        paths: SegmentPaths,
    ) -> None:
        self._incidents = incidents
        self._attempts = attempts
        self._records = records
        self._paths = paths

    async def takes_of(self, incidents: list[Incident]) -> dict[str, dict[str, Any]]:
        """Each take the incidents point at (the caller has checked the viewer)."""
        out: dict[str, dict[str, Any]] = {}
        for incident in incidents:
            if incident.take_id is None or incident.attempt_id is None:
                continue
            if incident.take_id in out:
                continue
            take = await self._records.get(incident.take_id)
            if take is not None:
                out[take.id] = take_view(incident.attempt_id, take)
        return out

    async def segment(
        self,
        who: Account,
        attempt_id: str,
        take_id: str,
        index: str,
        camera: str,
        client: str,
    ) -> Download:
        """One camera's segment of any take of the answer, to play inline (its browser-playable
        copy where there is one): the exam's proctors and its unit's admin only (audited)."""
        attempt = await self._attempts.get(attempt_id)
        if attempt is None:
            await self._incidents.check(who, None, client, "incident_media")
            raise NotFound("no such answer")
        await self._incidents.check(who, attempt.exam_id, client, "incident_media")
        if take_id not in {t.id for t in attempt.takes}:
            raise NotFound("this answer has no such recording")
        take = await self._records.get(take_id)
        if take is None or take.state is not TakeState.STORED:
            raise NotFound("this recording is not stored (yet, or any more)")
        part = sf.camera_part(take.manifest or {}, camera)
        if part is None:
            raise NotFound("this recording has no such camera; use primary or secondary")
        found = [s for s in part.get("segments") or [] if str(s["index"]) == index]
        if not found:
            raise NotFound("no such segment in this recording")
        name = found[0].get("playback_file") or found[0]["file"]
        path = self._paths.segment_path(take.id, name)
        suffix = path.suffix.lstrip(".")
        filename = f"{take.id}-{camera}-{index}.{suffix}"
        media_type = sf.CONTAINER_TYPES.get(suffix, "application/octet-stream")
        return Download(path, filename, media_type, filename)

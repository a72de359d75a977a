"""Fills: the page's local copy closes a take's holes (issue #14).

The page asks which stretches of a stopped take the server lacks
(:meth:`Fills.gaps`), then uploads the chunks of its MediaRecorder copy
covering each over the resumable upload endpoint (``Upload-Metadata``
``kind=fill``, see :class:`FillRequest`). When the last byte is there
(:meth:`Fills.complete`) the media is checked (container, codecs, that it
spans what it claims, that it is this take's), cut to the holes, placed on
the take's clock (the copy's time 0 is ``started_at_ms/1000 - take.started_at``)
and written into the camera's manifest as a ``fill`` segment. A refused fill
changes nothing in the take. Fills may arrive until the exam's upload grace
ends (a take outside an exam: :data:`NO_EXAM_GRACE_S` after it stopped).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from exams.catalog import take_gaps
from exams.catalog.exam_ports import AttemptRepository, ExamSource
from exams.catalog.takes import Take, TakeService, TakeState, camera_segments
from exams.shared.errors import Conflict, InvalidInput, NotFound, UploadExpired
from exams.shared.ports import Clock

FILL_KIND = "fill"
CAMERAS = ("primary", "secondary")
NO_EXAM_GRACE_S = 7200.0  # a take outside an exam (a device check) may be filled this long
SPAN_SLACK_S = 0.5  # the media may start or end this much inside the stretch it claims
START_SLACK_S = 5.0  # the copy may start this much before the take (the page's clock)
END_SLACK_S = 5.0  # ...and its media end this much after the take stopped
_REQUIRED = ("take_id", "camera", "started_at_ms", "from_ms", "to_ms", "head_size", "mime")


@dataclass(frozen=True)
class FillMediaInfo:
    """A fill's media as read back (times on the copy's own clock, seconds)."""

    path: Path  # head and tail joined: a file PyAV reads
    container: str  # "webm" or "mp4"
    video: str | None
    audio: str | None
    first_s: float
    end_s: float
    keyframes: tuple[float, ...]


@dataclass(frozen=True)
class FillPiece:
    """The file cut from a fill: it starts (0) at ``origin_s`` of the copy's clock and
    covers up to ``end_s`` (earlier than asked where the copy was damaged)."""

    origin_s: float
    end_s: float
    path: Path
    size: int
    sha256: str
    duration_s: float
    picture_s: float
    streams: list[dict[str, Any]] = field(default_factory=list)
    playback_path: Path | None = None
    playback_sha256: str | None = None


class FillMedia(Protocol):
    """The PyAV work (``media.fill.FillMaker``), off the event loop."""

    async def inspect(self, upload: Path, head_size: int, mime: str) -> FillMediaInfo: ...

    async def cut(
        self, info: FillMediaInfo, take_id: str, file: str, start_s: float, end_s: float
    ) -> FillPiece: ...

    async def hash(self, path: Path) -> str: ...

    async def remove(self, *paths: Path) -> None: ...

    def relative(self, take_id: str, path: Path) -> str: ...


@dataclass(frozen=True)
class FillRequest:
    """A fill upload's ``Upload-Metadata`` (times in server epoch milliseconds)."""

    take_id: str
    camera: str
    started_at_ms: float
    from_ms: float
    to_ms: float
    head_size: int
    mime: str

    @classmethod
    def parse(cls, meta: dict[str, str]) -> FillRequest:
        missing = [k for k in _REQUIRED if not meta.get(k)]
        if missing:
            raise InvalidInput(
                "a fill's Upload-Metadata names its take, camera, times, head size and type",
                {"fields": {k: "is required in Upload-Metadata" for k in missing}},
            )
        if meta["camera"] not in CAMERAS:
            raise InvalidInput("camera must be primary or secondary")
        try:
            numbers = {k: float(meta[k]) for k in ("started_at_ms", "from_ms", "to_ms")}
            head = int(meta["head_size"])
        except ValueError as exc:
            raise InvalidInput(
                "started_at_ms, from_ms, to_ms and head_size must be numbers"
            ) from exc
        if not numbers["from_ms"] < numbers["to_ms"] or head <= 0:
            raise InvalidInput("from_ms must come before to_ms, and head_size be above 0")
        return cls(
            meta["take_id"],
            meta["camera"],
            numbers["started_at_ms"],
            numbers["from_ms"],
            numbers["to_ms"],
            head,
            meta["mime"],
        )


def decode_metadata(raw: str) -> dict[str, str]:
    """``Upload-Metadata`` as stored (checked when the upload was created)."""
    out: dict[str, str] = {}
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        try:
            out[key] = base64.b64decode(value).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            out[key] = ""
    return out


@dataclass(frozen=True)
class FillTarget:
    """Where a new fill upload belongs: its take and until when it may complete."""

    take: Take
    expires_at: float
    exam_id: str
    question_id: str
    attempt_id: str


class Fills:
    def __init__(
        self,
        takes: TakeService,
        attempts: AttemptRepository,
        exams: ExamSource,
        media: FillMedia,
        clock: Clock,
    ) -> None:
        self._takes = takes
        self._attempts = attempts
        self._exams = exams
        self._media = media
        self._clock = clock

    async def gaps(self, take_id: str, owner: str) -> dict[str, Any]:
        """The stretches of the owner's take still lacking, per camera (take clock)."""
        take = await self._takes.get(take_id, owner)
        manifest = take.manifest or {}
        stored = take.state is TakeState.STORED
        return {
            "take_id": take.id,
            "state": take.state.value,
            "started_at": take.started_at,
            "stopped_at": take.stopped_at,
            "complete": stored and take_gaps.is_complete(manifest),
            "fill_until": await self.fill_until(take) if stored else None,
            "now": self._clock(),
            "cameras": {
                name: take_gaps.open_gaps(part) for name, part in take_gaps.cameras(manifest)
            }
            if stored
            else {},
        }

    async def fill_until(self, take: Take) -> float | None:
        if take.stopped_at is None:
            return None
        if take.attempt_id is None:
            return take.stopped_at + NO_EXAM_GRACE_S
        a = await self._attempts.get(take.attempt_id)
        exam = None if a is None else await self._exams.get(a.exam_id)
        return None if exam is None else exam.upload_deadline

    async def target(self, owner: str, request: FillRequest) -> FillTarget:
        """Check a new fill upload: the owner's stopped take, in time, a hole to fill."""
        take = await self._takes.get(request.take_id, owner)
        if take.state in (TakeState.RECORDING, TakeState.FINALIZING):
            raise Conflict("this take is still recording; fill its gaps once it has stopped")
        if take.state is not TakeState.STORED:
            raise NotFound("this take has no recording to fill")
        expires = await self.in_time(take)
        part = _part(take, request.camera)
        claim = _claim(take, request)
        if not any(_meets(claim, g) for g in take_gaps.open_gaps(part)):
            raise Conflict(
                "nothing of this stretch is missing from the take; ask for its gaps again",
                {"gaps": take_gaps.open_gaps(part)},
            )
        a = None if take.attempt_id is None else await self._attempts.get(take.attempt_id)
        return FillTarget(
            take,
            expires,
            "" if a is None else a.exam_id,
            "" if a is None else a.question_id,
            "" if a is None else a.id,
        )

    async def in_time(self, take: Take) -> float:
        until = await self.fill_until(take)
        if until is None or self._clock() >= until:
            raise UploadExpired(
                "the time to send what the recording missed is over",
                {"expired_at": until},
            )
        return until

    async def expiry(self, raw_metadata: str, owner: str) -> float:
        """Until when a fill upload may complete (raises once that has passed)."""
        request = FillRequest.parse(decode_metadata(raw_metadata))
        return await self.in_time(await self._takes.get(request.take_id, owner))

    async def complete(self, raw_metadata: str, owner: str, upload: Path) -> Take:
        """Every byte of a fill is there: check it, cut it to the holes, place it. Raises
        (and leaves the take as it was) when it does not fit."""
        request = FillRequest.parse(decode_metadata(raw_metadata))
        take = await self._takes.get(request.take_id, owner)
        await self.in_time(take)
        info = await self._media.inspect(upload, request.head_size, request.mime)
        try:
            upload_sha256 = await self._media.hash(upload)
            zero = take_gaps.fill_zero(request.started_at_ms, take.started_at)
            _check_media(take, request, info, zero)

            async def place(now: Take) -> dict[str, Any]:
                return await self._place(now, request, info, zero, upload_sha256)

            return await self._takes.change_manifest(take.id, place)
        finally:
            await self._media.remove(info.path)

    async def _place(
        self,
        take: Take,
        request: FillRequest,
        info: FillMediaInfo,
        zero: float,
        upload_sha256: str,
    ) -> dict[str, Any]:
        """The take's manifest with the fill placed (under the take's one-writer lock)."""
        manifest = dict(take.manifest or {})
        part = dict(_part(take, request.camera))
        claim = _claim(take, request)
        media = (zero + info.first_s, zero + info.end_s)
        stretch = take_gaps.overlap(claim, media)
        spans = [
            s
            for g in take_gaps.open_gaps(part)
            if stretch is not None
            and (s := take_gaps.overlap(stretch, (g["start_s"], g["end_s"]))) is not None
        ]
        if not spans:
            raise Conflict("nothing of this stretch is missing from the take any more")
        made: list[Path] = []
        try:
            for start, end in spans:
                index = 1 + max((int(s["index"]) for s in part.get("segments") or []), default=-1)
                prefix = "" if request.camera == "primary" else f"{request.camera}/"
                plain = {info.video, info.audio} <= {"vp8", "vp9", "opus", None}
                name = f"{prefix}fill-{index:03d}.{'webm' if plain else 'mkv'}"
                piece = await self._media.cut(info, take.id, name, start - zero, end - zero)
                made += [p for p in (piece.path, piece.playback_path) if p is not None]
                begins = zero + piece.origin_s
                covered = min(end, zero + piece.end_s)
                part = take_gaps.with_fill(
                    part,
                    _segment(
                        take, index, piece, begins, start, covered, upload_sha256, self._media
                    ),
                )
        except BaseException:
            await self._media.remove(*made)
            raise
        if request.camera == "primary":
            manifest.update(part)
        else:
            manifest["cameras"] = {**(manifest.get("cameras") or {}), request.camera: part}
        return manifest


def _segment(
    take: Take,
    index: int,
    piece: FillPiece,
    begins: float,
    start: float,
    end: float,
    upload_sha256: str,
    media: FillMedia,
) -> dict[str, Any]:
    return {
        "index": index,
        "file": media.relative(take.id, piece.path),
        "container": piece.path.suffix.lstrip("."),
        "reason": take_gaps.FILL,
        "source": "local_copy",
        "peer": "",
        "start_s": round(begins, 3),
        "covers": [round(start, 3), round(end, 3)],
        "upload_sha256": upload_sha256,
        "sha256": piece.sha256,
        "size": piece.size,
        "duration_s": piece.duration_s,
        "picture_s": piece.picture_s,
        "playback_file": None
        if piece.playback_path is None
        else media.relative(take.id, piece.playback_path),
        "playback_sha256": piece.playback_sha256,
        "streams": piece.streams,
        "error": None,
    }


def _part(take: Take, camera: str) -> dict[str, Any]:
    manifest = take.manifest or {}
    if camera == "primary":
        return dict(manifest)
    camera_segments(manifest, camera)  # NotFound for a camera the take did not have
    return dict((manifest.get("cameras") or {})[camera])


def _claim(take: Take, request: FillRequest) -> take_gaps.Span:
    """The stretch the fill says it covers, checked to lie within the take."""
    assert take.stopped_at is not None
    length = take.stopped_at - take.started_at
    claim = take_gaps.claimed_span(request.from_ms, request.to_ms, take.started_at)
    if claim[0] < -START_SLACK_S or claim[1] > length + END_SLACK_S:
        raise InvalidInput(
            f"from_ms and to_ms must lie within the take (0 to {length:.1f} s on its clock); "
            f"they say {claim[0]:.1f} to {claim[1]:.1f} s",
            {"take_s": round(length, 3)},
        )
    return claim


def _meets(claim: take_gaps.Span, gap: dict[str, Any]) -> bool:
    return take_gaps.overlap(claim, (gap["start_s"], gap["end_s"])) is not None


def _check_media(take: Take, request: FillRequest, info: FillMediaInfo, zero: float) -> None:
    """The media is this take's and spans the stretch it claims."""
    assert take.stopped_at is not None
    length = take.stopped_at - take.started_at
    claim = _claim(take, request)
    media = (zero + info.first_s, zero + info.end_s)
    if zero < -START_SLACK_S or media[1] > length + END_SLACK_S:
        raise InvalidInput(
            "this recording is not this take's: it started or ends outside the take "
            f"(it holds {media[0]:.1f} to {media[1]:.1f} s on the take's clock of "
            f"{length:.1f} s)"
        )
    if media[0] > claim[0] + SPAN_SLACK_S or media[1] < claim[1] - SPAN_SLACK_S:
        raise InvalidInput(
            f"the media does not span what it claims: it holds {media[0]:.1f} to "
            f"{media[1]:.1f} s of the take, the upload says {claim[0]:.1f} to {claim[1]:.1f} s",
            {"holds": [round(media[0], 3), round(media[1], 3)]},
        )

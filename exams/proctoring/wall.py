"""The exam wall: one tile per candidate of an exam, for the exam's proctors and its unit's admin.

The candidates of an exam are the people on its unit's admitted list (准考名单),
registered or not, started or not, and anyone who answered it and was removed
from the list since. A tile says where the candidate is (the journey step, the
open question and its phase, submitted, finished), the deadline running now,
and each camera's state and latest picture.

What is stored (attempts, the journey, the list) is read here; what is live
(the cameras' connections, the second camera's link, the pictures) comes from
the :class:`LiveMedia` port, which the media layer implements from memory. A
:class:`Tile` keeps the stored part, so a camera's change re-renders a tile
without reading storage again (:meth:`Tile.render`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from exams.admission.journey import Progress, Step
from exams.answering.presenters import exam_header
from exams.catalog.attempts import Attempt, phase
from exams.catalog.catalog import ExamCatalog
from exams.catalog.exam_rules import Exam
from exams.catalog.questions import OnlineSettings, QuestionMode
from exams.identity.accounts import Account, Role
from exams.identity.admitted_csv import AdmittedEntry
from exams.proctoring.incident import Incident, tile_part
from exams.shared.personal import name_key
from exams.shared.ports import Clock

CAMERAS = ("primary", "secondary")
# A viewer's right to a candidate's wall pictures, once checked, holds this long: a wall
# fetches each camera's picture every 2-3 s, and the wall's socket re-checks its watchers
# as often (signaling.wall.RECHECK_S).
PICTURE_RECHECK_S = 5.0
MAX_PICTURE_GRANTS = 4096
LIVE_PHASES = ("reading", "recording", "answering")
STATUSES = (
    "not_registered",
    "journey",
    "not_started",
    "reading",
    "recording",
    "submitting",
    "answering",
    "between_questions",
    "finished",
)
CAMERA_STATES = ("connected", "reconnecting", "lost", "no_feed")


@dataclass(frozen=True)
class CameraFacts:
    """What the media layer knows now of one camera of a candidate."""

    state: str = "no_feed"  # one of CAMERA_STATES
    picture_seq: int | None = None
    picture_at: float | None = None  # the server clock when the picture's keyframe arrived
    link: str | None = None  # the second camera's link (pairing), when one is paired


class LiveMedia(Protocol):
    """The live media facts of a candidate's cameras (from memory: no I/O, no waiting)."""

    def cameras(self, owner: str, attempt_id: str | None) -> Mapping[str, CameraFacts]:
        """Each camera of ``CAMERAS`` (a missing one has no feed); ``attempt_id``: the open
        answer, whose second camera's link counts."""
        ...


class ExamAttempts(Protocol):
    async def of_exam(self, exam_id: str) -> list[Attempt]: ...

    async def of_candidate(
        self, candidate_id: str, exam_id: str | None = None
    ) -> list[Attempt]: ...


class AdmittedList(Protocol):
    async def current(self, unit_id: str) -> list[AdmittedEntry]: ...


class People(Protocol):
    async def get(self, account_id: str) -> Account | None: ...

    async def by_document(self, id_type: str, id_number: str) -> Account | None: ...


class JourneyProgress(Protocol):
    async def progress(self, account: Account) -> Progress: ...


class UndecidedIncidents(Protocol):
    """Implemented by ``exams.proctoring.incidents.Incidents``."""

    async def undecided(self, exam_id: str) -> dict[str, list[Incident]]: ...

    async def undecided_of(self, exam_id: str, candidate_id: str) -> list[Incident]: ...


class RaisedHands(Protocol):
    """Implemented by ``exams.proctoring.actions.ProctorActions`` (from memory)."""

    def raised_at(self, exam_id: str, candidate_id: str) -> float | None: ...


class CandidateCheck(Protocol):
    """Implemented by ``exams.proctoring.watching.Watching``: may ``who`` watch the candidate
    in the exam (refusals audited)?"""

    async def check(self, who: Account, exam_id: str, candidate_id: str, client: str) -> Exam: ...


@dataclass(frozen=True)
class Person:
    """A candidate of the exam: ``account`` None for a listed person without an account."""

    tile_id: str
    name: str
    account: Account | None
    on_list: bool = True

    @property
    def candidate_id(self) -> str | None:
        return None if self.account is None else self.account.id


@dataclass(frozen=True)
class Tile:
    """A candidate's tile: the stored facts, rendered with the live ones by :meth:`render`."""

    exam_id: str
    person: Person
    place: dict[str, Any]  # status, journey_step, question, counts, deadline
    attempt_id: str | None  # the open answer (its second camera's link counts)
    second_required: bool
    attempts: tuple[Attempt, ...] = ()  # the candidate's answers of the exam it was made of
    incidents: tuple[Incident, ...] = ()  # the candidate's incidents awaiting a decision (#13)

    def render(self, media: LiveMedia, hands: RaisedHands | None = None) -> dict[str, Any]:
        owner = self.person.candidate_id
        hand = None if owner is None or hands is None else hands.raised_at(self.exam_id, owner)
        facts = {} if owner is None else media.cameras(owner, self.attempt_id)
        cameras: dict[str, Any] = {}
        for camera in CAMERAS:
            f = facts.get(camera, CameraFacts())
            shown: dict[str, Any] = {"state": f.state, "picture": self._picture(camera, f)}
            if camera == "secondary":
                ready = f.link in ("ready", "recording")
                shown |= {
                    "link": f.link,
                    "required": self.second_required,
                    "second_camera": "not_needed"
                    if not self.second_required
                    else ("ready" if ready else "missing"),
                }
            cameras[camera] = shown
        return {
            "tile_id": self.person.tile_id,
            "candidate_id": owner,
            "name": self.person.name,
            "registered": owner is not None,
            "on_list": self.person.on_list,
            **self.place,
            "cameras": cameras,
            "incidents": tile_part(list(self.incidents)),
            "hand_raised_at": hand,  # the candidate asks for help (a proctor's message answers)
        }

    def _picture(self, camera: str, f: CameraFacts) -> dict[str, Any] | None:
        if f.picture_seq is None or self.person.candidate_id is None:
            return None
        return {
            "seq": f.picture_seq,
            "taken_at": f.picture_at,
            "url": picture_url(self.exam_id, self.person.candidate_id, camera),
        }


def picture_url(exam_id: str, candidate_id: str, camera: str) -> str:
    # c=: the load balancer sends it to the node that has the candidate's cameras
    path = f"/api/proctor/exams/{exam_id}/candidates/{candidate_id}/cameras/{camera}/picture"
    return f"{path}?c={quote(candidate_id, safe='')}"


def place(exam: Exam, step: str | None, attempts: Iterable[Attempt], now: float) -> dict[str, Any]:
    """Where a candidate is in ``exam`` (``step``: their next journey step; None: no account)."""
    mine = {a.question_id: a for a in attempts if a.exam_id == exam.id}
    phases = {qid: phase(a, now) for qid, a in mine.items()}
    current = next(
        (q for q in exam.questions if q.id in mine and phases[q.id] in LIVE_PHASES), None
    )
    over = sum(1 for p in phases.values() if p in ("submitted", "closed"))
    out: dict[str, Any] = {
        "journey_step": step,
        "question": None,
        "submitted": sum(1 for p in phases.values() if p == "submitted"),
        "questions": len(exam.questions),
        "finished": bool(exam.questions) and over == len(exam.questions),
        "deadline": None,
        "deadline_kind": None,
    }
    if current is not None:
        a, p = mine[current.id], phases[current.id]
        take = a.recording_take
        kind = take.kind if take is not None else (a.reading.kind if a.reading else None)
        out["question"] = {
            "question_id": current.id,
            "title": current.title,
            "order": current.order,
            "mode": current.mode.value,
            "phase": p,
            "take_kind": None if kind is None or p == "answering" else kind.value,
            "second_camera_required": _needs_second(current.settings),
        }
        if p == "recording" and take is not None:
            out["deadline"], out["deadline_kind"] = take.deadline, "recording"
        elif p == "reading" and a.reading is not None and a.reading.deadline is not None:
            out["deadline"], out["deadline_kind"] = a.reading.deadline, "reading"
        elif a.submission_deadline is not None:
            out["deadline"], out["deadline_kind"] = a.submission_deadline, "submission"
        if p == "answering":
            out["status"] = "submitting" if current.mode is QuestionMode.ONLINE else "answering"
        else:
            out["status"] = p
    elif step is None:
        out["status"] = "not_registered"
    elif out["finished"]:
        out["status"] = "finished"
    elif mine:
        out["status"] = "between_questions"
    elif step != Step.EXAMS.value:
        out["status"] = "journey"
    else:
        out["status"] = "not_started"
    return out


def _needs_second(settings: object) -> bool:
    return isinstance(settings, OnlineSettings) and settings.second_camera_required


class Wall:
    def __init__(
        self,
        catalog: ExamCatalog,
        attempts: ExamAttempts,
        admitted: AdmittedList,
        people: People,
        journey: JourneyProgress,
        media: LiveMedia,
        watching: CandidateCheck,
        incidents: UndecidedIncidents,
        clock: Clock,
        *,
        hands: RaisedHands | None = None,
    ) -> None:
        self.hands = hands  # raised hands, a flag on the tiles
        self._catalog = catalog
        self._attempts = attempts
        self._admitted = admitted
        self._people = people
        self._journey = journey
        self.media = media
        self.clock = clock
        self._watching = watching
        self._incidents = incidents
        # (viewer, role, unit, exam, candidate) -> when check_candidate last allowed it
        self._granted: dict[tuple[str, str, str | None, str, str], float] = {}

    async def exam_for(self, viewer: Account, exam_id: str, client: str) -> Exam:
        """The exam, if ``viewer`` may watch it: a proctor assigned to it or the admin of its
        unit. Anyone else is refused (``Forbidden``) and the refusal audited."""
        if viewer.role is Role.UNIT_ADMIN:
            return await self._catalog.admin_exam(viewer, exam_id, client)
        return await self._catalog.proctor_exam(viewer, exam_id, client)

    async def check_candidate(
        self, viewer: Account, exam_id: str, candidate_id: str, client: str
    ) -> None:
        """Refuse (``Forbidden``, audited) unless ``viewer`` may see this candidate of the
        exam: the wall's pictures follow the rule of live views. An allowance is read again
        :data:`PICTURE_RECHECK_S` after it was given (refusals are never kept)."""
        key = (viewer.id, viewer.role.value, viewer.unit_id, exam_id, candidate_id)
        now = self.clock()
        granted = self._granted.get(key)
        if granted is not None and granted <= now < granted + PICTURE_RECHECK_S:
            return
        await self._watching.check(viewer, exam_id, candidate_id, client)
        if len(self._granted) >= MAX_PICTURE_GRANTS:
            self._granted = {
                k: t for k, t in self._granted.items() if t <= now < t + PICTURE_RECHECK_S
            }
            if len(self._granted) >= MAX_PICTURE_GRANTS:
                self._granted.clear()
        self._granted[key] = now

    async def view(self, viewer: Account, exam_id: str, client: str) -> tuple[Exam, list[Tile]]:
        exam = await self.exam_for(viewer, exam_id, client)
        return exam, await self.tiles(exam)

    def render(self, exam: Exam, tiles: Iterable[Tile]) -> dict[str, Any]:
        """The whole wall as sent (the ``watch_wall`` acknowledgement, the HTTP body)."""
        now = self.clock()
        return {
            "exam_id": exam.id,
            "now": now,
            "exam": exam_header(exam, now),
            "tiles": [t.render(self.media, self.hands) for t in tiles],
        }

    async def roster(self, exam: Exam) -> list[Person]:
        """The exam's candidates, in the list's order; people removed after answering last."""
        people: list[Person] = []
        seen: set[str] = set()
        for entry in await self._admitted.current(exam.unit_id):
            who = await self._people.by_document(entry.id_type, entry.id_number)
            listed = who is not None and name_key(who.name) == entry.name_key
            if who is None or not listed or who.role is not Role.CANDIDATE:
                people.append(Person(f"list:{entry.line}", entry.name, None))
            elif who.id not in seen:
                seen.add(who.id)
                people.append(Person(who.id, who.name, who))
        answered = sorted({a.candidate_id for a in await self._attempts.of_exam(exam.id)} - seen)
        for candidate_id in answered:
            who = await self._people.get(candidate_id)
            name = candidate_id if who is None else who.name
            people.append(Person(candidate_id, name, who, on_list=False))
        return people

    async def tiles(self, exam: Exam) -> list[Tile]:
        by_candidate: dict[str, list[Attempt]] = {}
        for a in await self._attempts.of_exam(exam.id):
            by_candidate.setdefault(a.candidate_id, []).append(a)
        undecided = await self._incidents.undecided(exam.id)
        return [
            await self._tile(exam, p, by_candidate.get(p.tile_id, []), undecided.get(p.tile_id, []))
            for p in await self.roster(exam)
        ]

    async def tile(self, exam: Exam, person: Person) -> Tile:
        """One candidate's tile, read again from storage."""
        if person.account is None:
            return await self._tile(exam, person, [], [])
        attempts = await self._attempts.of_candidate(person.account.id, exam.id)
        undecided = await self._incidents.undecided_of(exam.id, person.account.id)
        return await self._tile(exam, person, attempts, undecided)

    async def _tile(
        self, exam: Exam, person: Person, attempts: list[Attempt], undecided: list[Incident]
    ) -> Tile:
        step = None
        if person.account is not None:
            step = (await self._journey.progress(person.account)).next_step.value
        where = place(exam, step, attempts, self.clock())
        question = where["question"]
        attempt_id = None
        if question is not None:
            attempt_id = next(a.id for a in attempts if a.question_id == question["question_id"])
        return Tile(
            exam.id,
            person,
            where,
            attempt_id,
            bool(question and question["second_camera_required"]),
            tuple(a for a in attempts if a.exam_id == exam.id),
            tuple(undecided),
        )

"""The proctors' wall over Socket.IO: ``watch_wall``, ``unwatch_wall`` and ``wall_tiles``.

A connection that watches an exam joins the room ``wall:<exam_id>`` and gets
the whole wall in the acknowledgement; from then on the exam's changed tiles
are pushed to the room (``wall_tiles``). One :class:`_Wall` per watched exam
holds its candidates and their last tiles, shared by every connection
watching it, and one claim on the candidates' pictures.

Events only mark a candidate *dirty* (to be read again from storage, or only
re-rendered with the live media facts); one flush per wall at a time renders
the dirty tiles and sends those that changed, so a burst of events (pictures
of 40 candidates, a take starting) makes few messages. A tile whose camera
has a new picture carries that picture's JPEG along (``pictures``, base64):
the wall page shows it without an HTTP request per picture; a flush for a
picture waits :data:`PICTURE_BATCH_S` first, so several cameras' pictures
share a message. Before a flush sends, the watchers whose permission was last
checked :data:`RECHECK_S` ago are checked again: one that may no longer watch
(a proctor removed from the exam) leaves the room and is told ``wall_closed``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import socketio

from exams.admission.journey import StepRecord
from exams.catalog.attempts import Attempt
from exams.catalog.exam_rules import Exam
from exams.catalog.takes import Take
from exams.identity.accounts import Account
from exams.proctoring.incident import Incident
from exams.proctoring.wall import Person, Tile, Wall
from exams.shared.errors import Conflict, ExamcastError, Unauthenticated
from media.hub import MediaSession
from media.pictures import CAMERAS, Picture, WatchHandle

log = logging.getLogger(__name__)

MAX_WALLS_PER_CONNECTION = 4
RECHECK_S = 5.0  # a watcher's permission is checked again at most this often (while tiles change)
# A new picture's flush waits this long, so the pictures of several cameras (one every
# ~30 ms on a wall of 80) go in one message rather than one message each.
PICTURE_BATCH_S = 0.2


def wall_room(exam_id: str) -> str:
    return f"wall:{exam_id}"


class PictureClaims(Protocol):
    """Implemented by ``media.pictures.WallPictures``; in a cluster by
    ``media.wall_sharing.WallSharing`` (the claims are the other nodes' to see)."""

    def watch(self, owners: Iterable[str]) -> WatchHandle: ...

    def release(self, handle: WatchHandle) -> None: ...

    def latest(self, owner: str, camera: str) -> Picture | None: ...


class Accounts(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


@dataclass(eq=False)
class _Watcher:
    sid: str
    viewer: Account
    client: str
    checked_at: float


@dataclass(eq=False)
class _Wall:
    exam: Exam
    people: dict[str, Person]  # candidate account id -> person
    tiles: dict[str, Tile]  # tile id -> its last tile
    shown: dict[str, dict[str, Any]]  # tile id -> what was last sent (or acknowledged)
    handle: WatchHandle
    watchers: dict[str, _Watcher] = field(default_factory=dict)  # sid -> watcher
    dirty: dict[str, bool] = field(default_factory=dict)  # owner -> read storage again?
    flushing: asyncio.Task[None] | None = None


class WallRooms:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        wall: Wall,
        pictures: PictureClaims,
        accounts: Accounts,
        *,
        max_walls_per_connection: int = MAX_WALLS_PER_CONNECTION,
    ) -> None:
        self._sio = sio
        self._wall = wall
        self._pictures = pictures
        self._accounts = accounts
        self._max = max_walls_per_connection
        self._walls: dict[str, _Wall] = {}  # exam id -> its wall
        self._by_sid: dict[str, set[str]] = {}  # sid -> exam ids it watches

    # -- the connection's events ------------------------------------------------------------

    async def watch(self, sid: str, account_id: str, client: str, exam_id: str) -> dict[str, Any]:
        """The whole wall of ``exam_id`` (checked, audited when refused); the connection joins
        its room. Watching again re-syncs (and re-checks)."""
        viewer = await self._accounts.get(account_id)
        if viewer is None:
            raise Unauthenticated("this account no longer exists; log in again")
        mine = self._by_sid.setdefault(sid, set())
        again = exam_id in mine
        if not again and len(mine) >= self._max:
            raise Conflict(f"this connection watches {self._max} exams already; unwatch one first")
        mine.add(exam_id)  # its place, taken before the first await: parallel watches count
        try:
            exam, tiles = await self._wall.view(viewer, exam_id, client)
        except BaseException:
            if not again:
                self._drop(sid, exam_id)
            raise
        body = self._wall.render(exam, tiles)
        if exam_id not in self._by_sid.get(sid, ()):
            return body  # the connection closed (or unwatched) meanwhile: nothing to join
        # No await from here to the room: the wall's state and the acknowledgement agree.
        wall = self._walls.get(exam.id)
        people = {p.candidate_id: p for p in (t.person for t in tiles) if p.candidate_id}
        if wall is None:
            wall = self._walls[exam.id] = _Wall(exam, people, {}, {}, self._pictures.watch(people))
        elif set(people) != set(wall.people):
            old, wall.handle = wall.handle, self._pictures.watch(people)
            self._pictures.release(old)
        wall.exam, wall.people = exam, people
        wall.tiles = {t.person.tile_id: t for t in tiles}
        wall.shown = {t["tile_id"]: t for t in body["tiles"]}
        wall.watchers[sid] = _Watcher(sid, viewer, client, self._wall.clock())
        await self._sio.enter_room(sid, wall_room(exam.id))
        return body

    async def unwatch(self, sid: str, exam_id: str) -> dict[str, Any]:
        await self._leave(sid, exam_id)
        return {"exam_id": exam_id, "watching": False}

    async def left(self, sid: str) -> None:
        """The connection closed: it watches nothing any more."""
        for exam_id in list(self._by_sid.get(sid, ())):
            self._drop(sid, exam_id)
        self._by_sid.pop(sid, None)

    async def _leave(self, sid: str, exam_id: str) -> None:
        self._drop(sid, exam_id)
        await self._sio.leave_room(sid, wall_room(exam_id))

    def _drop(self, sid: str, exam_id: str) -> None:
        mine = self._by_sid.get(sid)
        if mine is not None:
            mine.discard(exam_id)
            if not mine:
                del self._by_sid[sid]
        wall = self._walls.get(exam_id)
        if wall is None or wall.watchers.pop(sid, None) is None:
            return
        if not wall.watchers:
            del self._walls[exam_id]
            self._pictures.release(wall.handle)
            if wall.flushing is not None:
                wall.flushing.cancel()

    async def stop(self) -> None:
        """At shutdown: no more flushes; the pictures' claims are given back."""
        walls, self._walls, self._by_sid = list(self._walls.values()), {}, {}
        flushes = [w.flushing for w in walls if w.flushing is not None]
        for wall in walls:
            self._pictures.release(wall.handle)
        for task in flushes:
            task.cancel()
        await asyncio.gather(*flushes, return_exceptions=True)

    def watching(self, exam_id: str) -> int:
        """How many connections watch the exam (for tests and the bench)."""
        wall = self._walls.get(exam_id)
        return 0 if wall is None else len(wall.watchers)

    # -- listeners (registered in web.bootstrap) --------------------------------------------

    async def attempt_changed(self, attempt: Attempt) -> None:
        """The runner's ``after_run``: it fires on every run, reads included, so a wall reads
        the candidate's tile again only when ``attempt`` is not one its tile was made of."""
        for wall in self._walls.values():
            person = wall.people.get(attempt.candidate_id)
            if person is None or attempt.exam_id != wall.exam.id:
                continue
            tile = wall.tiles.get(person.tile_id)
            if tile is not None and attempt in tile.attempts:
                continue  # unchanged since the tile was made (a read)
            self._mark_wall(wall, attempt.candidate_id, stored=True)

    async def take_event(self, event: str, take: Take) -> None:
        self._mark(take.owner, stored=True)

    async def journey_step(self, record: StepRecord) -> None:
        self._mark(record.account_id, stored=True)

    async def session_state(self, session: MediaSession, state: str) -> None:
        self._mark(session.owner, stored=False)

    async def session_closed(self, session: MediaSession, reason: str) -> None:
        self._mark(session.owner, stored=False)

    async def link_changed(self, owner: str, attempt_id: str) -> None:
        self._mark(owner, stored=False)

    async def incident_changed(self, event: str, incident: Incident) -> None:
        """An incident was raised, ended or decided: its candidate's tile is read again."""
        self._mark(incident.candidate_id, stored=True)

    def picture_taken(self, owner: str, camera: str, picture: Picture) -> None:
        self._mark(owner, stored=False, wait=PICTURE_BATCH_S)

    def remote_changed(self, owner: str) -> None:
        """Another node shared new facts or a new picture of a candidate's cameras."""
        self._mark(owner, stored=False, wait=PICTURE_BATCH_S)

    async def hand_changed(self, exam_id: str, owner: str, raised: bool, at: float) -> None:
        self._mark(owner, stored=False)

    def _mark(self, owner: str, *, stored: bool, wait: float = 0.0) -> None:
        for wall in self._walls.values():
            if owner in wall.people:
                self._mark_wall(wall, owner, stored=stored, wait=wait)

    def _mark_wall(self, wall: _Wall, owner: str, *, stored: bool, wait: float = 0.0) -> None:
        wall.dirty[owner] = wall.dirty.get(owner, False) or stored
        if wall.flushing is None or wall.flushing.done():
            wall.flushing = asyncio.ensure_future(self._flush(wall, wait))

    # -- sending ------------------------------------------------------------------------------

    async def _flush(self, wall: _Wall, wait: float = 0.0) -> None:
        try:
            if wait > 0:
                await asyncio.sleep(wait)  # what else changes meanwhile goes along
            while wall.dirty and self._walls.get(wall.exam.id) is wall:
                dirty, wall.dirty = wall.dirty, {}
                await self._recheck(wall)
                if not wall.watchers:
                    return
                changed: list[dict[str, Any]] = []
                pictures: list[dict[str, Any]] = []
                for owner, stored in dirty.items():
                    person = wall.people.get(owner)
                    if person is None:
                        continue
                    tile = wall.tiles.get(person.tile_id)
                    if stored or tile is None:
                        tile = wall.tiles[person.tile_id] = await self._wall.tile(wall.exam, person)
                    shown = tile.render(self._wall.media, self._wall.hands)
                    before = wall.shown.get(person.tile_id)
                    if before != shown:
                        wall.shown[person.tile_id] = shown
                        changed.append(shown)
                        pictures += self._new_pictures(owner, before, shown)
                if changed and self._walls.get(wall.exam.id) is wall:
                    message = {"exam_id": wall.exam.id, "now": self._wall.clock(), "tiles": changed}
                    if pictures:
                        message["pictures"] = pictures
                    await self._sio.emit("wall_tiles", message, room=wall_room(wall.exam.id))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("wall of exam %s: could not send its tiles", wall.exam.id)

    def _new_pictures(
        self, owner: str, before: dict[str, Any] | None, shown: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The JPEGs of the tile's cameras whose picture is not the one shown before."""
        found = []
        for camera in CAMERAS:
            now = shown["cameras"][camera]["picture"]
            if now is None:
                continue
            was = None if before is None else before["cameras"][camera]["picture"]
            if was is not None and was["seq"] == now["seq"]:
                continue
            picture = self._pictures.latest(owner, camera)
            if picture is None or picture.seq != now["seq"]:
                continue  # a newer one is on its way (its own flush)
            found.append(
                {
                    "tile_id": shown["tile_id"],
                    "camera": camera,
                    "seq": picture.seq,
                    "jpeg": base64.b64encode(picture.jpeg).decode("ascii"),
                }
            )
        return found

    async def _recheck(self, wall: _Wall) -> None:
        now = self._wall.clock()
        for watcher in list(wall.watchers.values()):
            if not watcher.checked_at <= now < watcher.checked_at + RECHECK_S:
                try:
                    await self._wall.exam_for(watcher.viewer, wall.exam.id, watcher.client)
                    watcher.checked_at = now
                except ExamcastError as exc:
                    await self._close(watcher.sid, wall.exam.id, exc)

    async def _close(self, sid: str, exam_id: str, error: ExamcastError) -> None:
        await self._leave(sid, exam_id)
        body = {"exam_id": exam_id, "now": self._wall.clock(), **error.to_json()}
        await self._sio.emit("wall_closed", body, to=sid)

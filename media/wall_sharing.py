"""The proctors' wall across nodes (docs/decisions/0028; only with ``redis_url``).

A candidate's cameras live on one node (docs/decisions/0026); a proctor's wall socket on
any. This joins them through a board in Redis (``storage.redis_wall``):

- **Claims**: the walls of this node say which owners they watch (:meth:`watch` /
  :meth:`release`, the ``signaling.wall.PictureClaims`` port, counted per owner over the
  walls here), written to the board at once when new and renewed every third of the
  claim's life; released owners are taken back.
- **Serving**: the owners this node hosts (a camera session in its hub) that a wall on
  *another* node claims are watched here as if a local wall did (``WallPictures.watch``:
  keyframes asked, decoded, pictured); nobody claiming: released, no PLI, no decode.
  Their camera facts (``LiveCameras.states``) and each new picture are published to the
  board, with a notice; the facts are renewed every third of their life, so a node that
  dies lets them expire.
- **Fetching**: for the owners this node's walls watch and it does not host, the facts
  and pictures are read into :class:`media.remote_cameras.RemoteCameras` when a notice
  names them, and all of them every poll (the notices are at most once); an owner whose
  facts are gone shows its live cameras lost. Listeners hear of each owner that changed
  (the wall re-renders the tile).

One task does the board's work in order, woken by events and every :data:`POLL_S`;
another listens to the notices. What is pending is bounded by the owners watched and
hosted: one entry per owner, the newest picture per camera.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

from media.hub import MediaSession
from media.pictures import CAMERAS, Picture, WallPictures, WatchHandle
from media.remote_cameras import RemoteCameras, picture_of

log = logging.getLogger(__name__)

POLL_S = 1.0  # hosted owners' claims, and the watched remote owners' facts, read this often
MAX_ERROR_PAUSE_S = 5.0


class WallBoard(Protocol):
    """Implemented by ``storage.redis_wall.RedisWallBoard``."""

    node: str
    claim_ttl_s: float
    facts_ttl_s: float

    async def claim(self, owners: Iterable[str], *, new: bool = False) -> None: ...

    async def unclaim(self, owners: Iterable[str]) -> None: ...

    async def claimed_elsewhere(self, owners: Iterable[str]) -> set[str]: ...

    async def publish(
        self,
        owner: str,
        facts: dict[str, Any],
        pictures: Iterable[tuple[str, dict[str, Any], bytes]] = (),
    ) -> None: ...

    async def drop_facts(self, owners: Iterable[str]) -> None: ...

    async def facts(self, owners: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    async def picture(self, owner: str, camera: str) -> tuple[dict[str, Any], bytes] | None: ...

    def notices(self) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


class Sessions(Protocol):
    def sessions_of(self, owner: str) -> list[MediaSession]: ...


class CameraStates(Protocol):
    """Implemented by ``media.live_cameras.LiveCameras``: this node's own view."""

    def states(self, owner: str) -> dict[str, str]: ...


RemoteListener = Callable[[str], "Awaitable[Any] | None"]  # an owner's shared facts changed


class WallSharing:
    def __init__(
        self,
        board: WallBoard,
        remote: RemoteCameras,
        hub: Sessions,
        pictures: WallPictures,
        states: CameraStates,
        *,
        poll_s: float = POLL_S,
    ) -> None:
        self._board = board
        self._remote = remote
        self._hub = hub
        self._pictures = pictures
        self._states = states
        self._poll_s = poll_s
        self._listeners: list[RemoteListener] = []
        # the walls of this node
        self._claims: Counter[str] = Counter()  # owner -> walls here that watch it
        self._claims_new: set[str] = set()  # not on the board yet
        self._unclaimed: set[str] = set()  # to take back from the board
        self._claimed_at = float("-inf")  # (monotonic) the claims' last renewal
        self._fetch: set[str] = set()  # remote owners to read now (a notice, a new claim)
        # the cameras of this node
        self._hosted: set[str] = set()  # owners with a camera session here (hub events)
        self._serving: dict[str, WatchHandle] = {}  # hosted owners another node's wall watches
        self._facts_dirty: set[str] = set()
        self._outbox: dict[tuple[str, str], Picture] = {}  # the newest picture to share
        self._shared_at: dict[str, float] = {}  # owner -> (monotonic) its facts' last write
        self._serve_now = False  # a node claimed new owners
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener_tasks: set[asyncio.Future[Any]] = set()
        self._stopped = False

    # -- the walls' claims (signaling.wall.PictureClaims) ----------------------------------

    def watch(self, owners: Iterable[str]) -> WatchHandle:
        handle = self._pictures.watch(owners)
        for owner in handle.owners:
            self._claims[owner] += 1
            if self._claims[owner] == 1:
                self._claims_new.add(owner)
                self._unclaimed.discard(owner)
                self._fetch.add(owner)
        self._wake.set()
        return handle

    def release(self, handle: WatchHandle) -> None:
        if handle.released:
            return
        self._pictures.release(handle)
        for owner in handle.owners:
            self._claims[owner] -= 1
            if self._claims[owner] <= 0:
                del self._claims[owner]
                self._claims_new.discard(owner)
                self._unclaimed.add(owner)
                self._fetch.discard(owner)
                self._remote.forget(owner)
        self._wake.set()

    def latest(self, owner: str, camera: str) -> Picture | None:
        return self._pictures.latest(owner, camera)

    def add_listener(self, listener: RemoteListener) -> None:
        self._listeners.append(listener)

    def serving(self, owner: str) -> bool:
        """A wall on another node watches this hosted owner (for tests)."""
        return owner in self._serving

    # -- this node's cameras (hub and picture listeners) -----------------------------------

    async def session_state(self, session: MediaSession, state: str) -> None:
        if session.role not in CAMERAS:
            return
        self._hosted.add(session.owner)
        if session.owner in self._serving:
            self._facts_dirty.add(session.owner)
            self._wake.set()

    async def session_closed(self, session: MediaSession, reason: str) -> None:
        if session.owner in self._serving:
            self._facts_dirty.add(session.owner)
            self._wake.set()

    def picture_taken(self, owner: str, camera: str, picture: Picture) -> None:
        if owner in self._serving and not self._stopped:
            self._outbox[(owner, camera)] = picture
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._run()),
            asyncio.ensure_future(self._listen()),
        ]

    async def stop(self) -> None:
        """Stop sharing: this node's claims are taken back and its facts removed (its
        cameras go with it), best effort."""
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for listener_task in list(self._listener_tasks):
            listener_task.cancel()
        for handle in self._serving.values():
            self._pictures.release(handle)
        serving, self._serving = list(self._serving), {}
        try:
            await self._board.unclaim([*self._claims, *self._unclaimed])
            await self._board.drop_facts(serving)
        except Exception as exc:  # Redis gone: the keys expire by themselves
            log.warning("wall sharing: could not take back claims and facts: %s", exc)
        await self._board.close()

    # -- the board's work -------------------------------------------------------------------

    async def _run(self) -> None:
        next_poll = 0.0
        pause = self._poll_s
        while not self._stopped:
            self._wake.clear()
            now = time.monotonic()
            full = now >= next_poll
            if full:
                next_poll = now + self._poll_s
            try:
                await self._step(now, full)
                pause = self._poll_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("wall sharing: %s; trying again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(MAX_ERROR_PAUSE_S, pause * 2)
                continue
            if self._wake.is_set():
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_poll - time.monotonic()))
            except TimeoutError:
                pass

    async def _step(self, now: float, full: bool) -> None:
        await self._write_claims(now, full)
        if full or self._serve_now:
            self._serve_now = False
            await self._serve(now)
        await self._publish(now)
        await self._read_remote(full)

    async def _write_claims(self, now: float, full: bool) -> None:
        if self._unclaimed:
            gone, self._unclaimed = self._unclaimed, set()
            await self._board.unclaim(o for o in gone if o not in self._claims)
        renew = full and now - self._claimed_at >= self._board.claim_ttl_s / 3
        if self._claims_new or renew:
            new, self._claims_new = bool(self._claims_new), set()
            await self._board.claim(list(self._claims), new=new)
            self._claimed_at = now

    async def _serve(self, now: float) -> None:
        """Watch the hosted owners another node's wall claims; let go of the others."""
        hosted = {o for o in self._hosted if self._hub.sessions_of(o)}
        self._hosted = hosted
        claimed = await self._board.claimed_elsewhere(hosted)
        for owner in claimed - set(self._serving):
            self._serving[owner] = self._pictures.watch([owner])
            self._facts_dirty.add(owner)
        for owner in set(self._serving) - claimed:
            if owner not in hosted:  # its cameras left: their last facts, for their walls
                await self._share(owner, now)
            self._pictures.release(self._serving.pop(owner))
            self._facts_dirty.discard(owner)
            self._shared_at.pop(owner, None)
            for camera in CAMERAS:
                self._outbox.pop((owner, camera), None)

    async def _publish(self, now: float) -> None:
        renew_s = self._board.facts_ttl_s / 3
        due = {o for o, at in self._shared_at.items() if now - at >= renew_s}
        owners = self._facts_dirty | due | {o for o, _ in self._outbox}
        self._facts_dirty = set()
        for owner in owners:
            if owner in self._serving:
                await self._share(owner, now)

    async def _share(self, owner: str, now: float) -> None:
        pictures: dict[str, list[float]] = {}
        sent: list[tuple[str, dict[str, Any], bytes]] = []
        for camera in CAMERAS:
            picture = self._pictures.latest(owner, camera)
            if picture is None:
                continue
            pictures[camera] = [picture.seq, picture.taken_at]
            if self._outbox.pop((owner, camera), None) is not None:
                header = {
                    "seq": picture.seq,
                    "taken_at": picture.taken_at,
                    "width": picture.width,
                    "height": picture.height,
                }
                sent.append((camera, header, picture.jpeg))
        facts = {"states": self._states.states(owner), "pictures": pictures}
        await self._board.publish(owner, facts, sent)
        self._shared_at[owner] = now

    async def _read_remote(self, full: bool) -> None:
        """The facts (and new pictures) of the remote owners this node's walls watch: those
        a notice named, or all of them every poll."""
        wanted = set(self._claims) if full else self._fetch & set(self._claims)
        self._fetch = set()
        owners = [o for o in wanted if not self._hub.sessions_of(o)]
        for owner in wanted.difference(owners):
            self._remote.forget(owner)  # hosted here: this node's own facts count
        if not owners:
            return
        facts = await self._board.facts(owners)
        for owner in owners:
            if owner not in self._claims:
                continue  # released meanwhile
            if await self._take(owner, facts.get(owner)):
                self._changed(owner)

    async def _take(self, owner: str, facts: dict[str, Any] | None) -> bool:
        node = None if facts is None else facts.get("node")
        states = None if facts is None else facts.get("states")
        if not isinstance(node, str) or node == self._board.node or not isinstance(states, dict):
            return self._remote.gone(owner)
        changed = self._remote.put(owner, node, states)
        shown = facts.get("pictures") if facts is not None else None
        shown = shown if isinstance(shown, dict) else {}
        for camera in CAMERAS:
            mark = shown.get(camera)
            if not isinstance(mark, list) or len(mark) != 2:
                changed = self._remote.drop_picture(owner, camera) or changed
                continue
            have = self._remote.latest(owner, camera)
            if have is not None and [have.seq, have.taken_at] == mark:
                continue
            found = await self._board.picture(owner, camera)
            picture = None if found is None else picture_of(owner, camera, *found)
            if picture is not None and owner in self._claims:
                changed = self._remote.put_picture(picture) or changed
        return changed

    def _changed(self, owner: str) -> None:
        for listener in self._listeners:
            try:
                result = listener(owner)
            except Exception:
                log.exception("a wall sharing listener failed")
                continue
            if isinstance(result, Awaitable):
                task = asyncio.ensure_future(result)
                self._listener_tasks.add(task)
                task.add_done_callback(self._listener_tasks.discard)

    async def _listen(self) -> None:
        async for notice in self._board.notices():
            if notice == "c":
                self._serve_now = True
                self._wake.set()
            elif notice.startswith("f "):
                owner = notice[2:]
                if owner in self._claims:
                    self._fetch.add(owner)
                    self._wake.set()

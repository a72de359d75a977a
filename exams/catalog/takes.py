"""Takes: one recording, started and stopped by the server.

A take records the owner's primary camera session and, for a question with a
second camera, the phone's session too (``cameras``: the media layer records
them on one clock; the manifest keeps the primary's segments under
``segments`` and the others' under ``cameras``).

A take is ``recording`` from the moment the server starts it, ``finalizing``
while its files are closed and hashed, then ``stored`` (or ``failed`` when no
media ever arrived). A stopped take can never be continued: recording again
makes a new take. The ports this module needs are declared here and
implemented in ``media`` and ``storage``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from exams.catalog import take_gaps
from exams.catalog.take_events import InOrder
from exams.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from exams.shared.locks import MemoryLocks
from exams.shared.nodes import SingleNode
from exams.shared.ports import Clock, Locks, NodeLiveness, Scheduler
from exams.shared.telemetry import NO_TELEMETRY, Count, Telemetry

log = logging.getLogger(__name__)


class TakeState(StrEnum):
    RECORDING = "recording"
    FINALIZING = "finalizing"
    STORED = "stored"
    FAILED = "failed"
    DISCARDED = "discarded"  # a rehearsal after its one playback: files deleted


PURPOSES = ("device_check", "rehearsal", "formal")
DEVICE_CHECK = "device_check"
# A take event for the listeners alone: another node continues the take (this one was taken
# for dead); it ends the take here as "take_stored" would, and the pages are not told.
MOVED = "take_moved"


@dataclass(frozen=True)
class Take:
    id: str
    owner: str
    session_id: str
    purpose: str
    state: TakeState
    started_at: float
    stopped_at: float | None = None
    stop_reason: str | None = None
    limit_s: float | None = None
    manifest: dict[str, Any] | None = field(default=None, compare=False)
    attempt_id: str | None = None
    node: str | None = None  # the node recording it (None: written before nodes were kept)
    # What the server received, computed at stop (media/quality.py; docs/recording.md
    # "Quality report"): None while recording and for takes stored before reports existed.
    quality: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def deadline(self) -> float | None:
        return None if self.limit_s is None else self.started_at + self.limit_s

    def summary(self) -> dict[str, Any]:
        """What a client is shown of a take."""
        out: dict[str, Any] = {
            "take_id": self.id,
            "session_id": self.session_id,
            "purpose": self.purpose,
            "state": self.state.value,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "stop_reason": self.stop_reason,
            "deadline": self.deadline,
            "attempt_id": self.attempt_id,
            "quality": self.quality,
        }
        if self.manifest is not None:
            out["manifest"] = self.manifest
            # Seconds of recorded media (the picture; holes not counted) and the holes.
            out["recorded_s"] = self.manifest.get("recorded_s")
            out["gaps"] = list(self.manifest.get("gaps") or [])
            # No stretch lacking on any camera (holes closed by fills from the page's copy).
            out["complete"] = take_gaps.is_complete(self.manifest)
        return out


# -- ports ---------------------------------------------------------------------------------


class TakeRepository(Protocol):
    async def save(self, take: Take) -> None: ...

    async def get(self, take_id: str) -> Take | None: ...

    async def unfinished(self, node: str | None = None) -> list[Take]:
        """Takes recording or finalising; with ``node``, only that node's (and those of no
        node: written before nodes were kept)."""
        ...

    async def recording_of(self, owner: str) -> list[Take]:
        """The owner's takes recording now, on whichever node."""
        ...

    async def claim(
        self,
        take_id: str,
        from_node: str | None,
        to_node: str,
        *,
        state: TakeState = TakeState.RECORDING,
    ) -> bool:
        """Move a take from ``from_node`` to ``to_node`` in one atomic step: True when the
        caller now owns it (it was still in ``state``, still ``from_node``'s)."""
        ...


class Recorder(Protocol):
    def session_owner(self, session_id: str) -> str | None: ...

    def primary_session(self, owner: str) -> str: ...

    def start(self, take_id: str, cameras: Mapping[str, str], limit_s: float | None = None) -> None:
        """Record every camera (name -> session id; ``primary`` always) on one clock; with
        ``limit_s``, nothing captured after that long (however late the stop comes)."""
        ...

    def add_camera(self, take_id: str, camera: str, session_id: str) -> None:
        """A camera joins the recording take, or continues from a new session."""
        ...

    async def stop(self, take_id: str) -> dict[str, Any]: ...

    async def recover(self, take_id: str) -> dict[str, Any]: ...

    async def resume(
        self,
        take_id: str,
        cameras: Mapping[str, str],
        started_at: float,
        limit_s: float | None = None,
    ) -> None:
        """Continue here a take another node recorded: its part brought here first, then
        ``cameras`` recorded on the take's clock (``started_at``) in new segments after it
        (up to ``limit_s``, as :meth:`start`)."""
        ...

    async def discard(self, take_id: str) -> None: ...


class Viewer(Protocol):
    """Who asks to play a take (an ``exams.identity.accounts.Account``)."""

    @property
    def owner(self) -> str: ...

    @property
    def role(self) -> str: ...


CANDIDATE = "candidate"  # exams.identity.accounts.Role.CANDIDATE (that module imports this one)


class Notifier(Protocol):
    async def take_event(self, event: str, take: Take) -> None: ...


class RemoteStop(Protocol):
    """Stops a take on the node recording it (``exams.catalog.take_calls.RemoteStops``)."""

    async def stop(self, take: Take, reason: str) -> Take: ...


TakeListener = Callable[[str, Take], Awaitable[None]]
PlaybackPolicy = Callable[[Take, str], Awaitable[None]]
CameraLookup = Callable[[Take], Mapping[str, str]]  # a starting take's other cameras
PRIMARY = "primary"


# -- the service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayableSegment:
    """A segment to play: its file (relative to the take's folder) and the name to show."""

    take_id: str
    file: str
    label: str  # the index, or ``<camera>-<index>`` for a camera other than the primary


def camera_segments(manifest: Mapping[str, Any], camera: str) -> list[dict[str, Any]]:
    """The segments of one camera of a take: ``primary`` or one under ``cameras``."""
    if camera == "primary":
        return list(manifest.get("segments", []))
    cameras = manifest.get("cameras") or {}
    if camera not in cameras:
        raise NotFound("this take has no such camera; use camera=primary or camera=secondary")
    return list(cameras[camera].get("segments", []))


class TakeService:
    def __init__(
        self,
        repo: TakeRepository,
        recorder: Recorder,
        notifier: Notifier,
        clock: Clock,
        scheduler: Scheduler,
        *,
        limits: dict[str, float],
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
        locks: Locks | None = None,
        nodes: NodeLiveness | None = None,
        orphan_grace_s: float = 0.0,
        clustered: bool = False,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._repo = repo
        self._recorder = recorder
        self._notifier = notifier
        self._clock = clock
        self._scheduler = scheduler
        self._limits = limits
        self._new_id = new_id
        self._active: dict[str, str] = {}  # session id -> recording take id
        self._device_checks: dict[str, str] = {}  # owner -> their recording device check
        self._timers: dict[str, Callable[[], None]] = {}
        self._stopping: dict[str, asyncio.Future[Take]] = {}  # take -> its stop under way
        self._listeners: list[TakeListener] = []
        self._events = InOrder(self._tell)  # a take's events, in order (see _emit)
        self._playback_policies: list[PlaybackPolicy] = []
        self._camera_sources: list[CameraLookup] = []
        self._locks = locks if locks is not None else MemoryLocks()  # one manifest writer
        # this node, and which others are alive: a take is recorded by one node (Take.node)
        self._nodes: NodeLiveness = nodes if nodes is not None else SingleNode("local")
        self._orphan_grace_s = orphan_grace_s  # a dead node's take waits this long for its owner
        # several nodes share the records (Redis): a start-up leaves other nodes' takes alone
        self._clustered = clustered
        self._seen_dead: dict[str, float] = {}  # take id -> when this node first saw it orphaned
        self._telemetry = telemetry
        self._elsewhere: RemoteStop | None = None  # a take another node records

    def stop_elsewhere_with(self, remote: RemoteStop) -> None:
        """How a stop asked here reaches the node recording the take (several nodes)."""
        self._elsewhere = remote

    def add_listener(self, listener: TakeListener) -> None:
        """``listener(event, take)`` for every take event, whoever caused it; a take's events
        in order, the next once the listener has returned from the last (see :meth:`_emit`)."""
        self._listeners.append(listener)

    def add_playback_policy(self, policy: PlaybackPolicy) -> None:
        """``policy(take, viewer)`` raises when that viewer may not play that take (each asked)."""
        self._playback_policies.append(policy)

    def add_camera_source(self, lookup: CameraLookup) -> None:
        """``lookup(take)``: the other cameras (name -> session id) a starting take records."""
        self._camera_sources.append(lookup)

    async def start(
        self,
        owner: str,
        session_id: str | None,
        purpose: str,
        *,
        limit_s: float | None = None,
        attempt_id: str | None = None,
        started_at: float | None = None,
    ) -> Take:
        """Start recording ``owner``'s camera; the server stops it after ``limit_s``.

        Without ``session_id`` the owner's primary camera session is used (kept
        for a page that connects later: the take records from when media arrives).
        ``started_at``: the caller's clock reading the take starts at (an attempt's, so
        that both say the same start and deadline); now by default.
        """
        if purpose not in PURPOSES:
            raise InvalidInput(f"purpose must be one of {', '.join(PURPOSES)}")
        if session_id is None:
            session_id = self._recorder.primary_session(owner)
        if self._recorder.session_owner(session_id) != owner:
            raise NotFound("no such media session; open one and send your offer first")
        if session_id in self._active:
            raise Conflict("this device is already recording; stop that take first")
        if purpose == DEVICE_CHECK and owner in self._device_checks:
            raise Conflict(
                "your device check is already recording (one at a time): stop it first, "
                "or wait for its time limit"
            )
        take = Take(
            id=self._new_id(),
            owner=owner,
            session_id=session_id,
            purpose=purpose,
            state=TakeState.RECORDING,
            started_at=self._clock() if started_at is None else started_at,
            limit_s=self._limits.get(purpose) if limit_s is None else limit_s,
            attempt_id=attempt_id,
            node=self._nodes.node,
        )
        # Claimed before the first await, so two starts at once cannot both pass the checks.
        self._active[session_id] = take.id
        if purpose == DEVICE_CHECK:
            self._device_checks[owner] = take.id
        try:
            await self._repo.save(take)
            cameras = {PRIMARY: session_id}
            for lookup in self._camera_sources:
                cameras |= {k: v for k, v in lookup(take).items() if k != PRIMARY}
            self._recorder.start(take.id, cameras, take.limit_s)
        except BaseException:
            self._release(take)
            raise
        if take.deadline is not None:
            self._timers[take.id] = self._scheduler.call_at(
                take.deadline, lambda: self._stop_later(take.id, "time_limit")
            )
        await self._emit("take_started", take)
        return take

    async def stop(self, take_id: str, reason: str = "stopped", owner: str | None = None) -> Take:
        """Stop a recording take and store it; ``owner`` given means a client asked. A stop
        that comes while another of the same take is under way here (the page's and a
        deadline's, or one another node asked for) gets that one's answer: the stored take."""
        take = await self._get(take_id, owner)
        under_way = self._stopping.get(take.id)
        if under_way is not None:
            return await asyncio.shield(under_way)
        if take.node not in (None, self._nodes.node) and take.id in self._active.values():
            return await self._let_go(take)
        if (
            self._elsewhere is not None
            and take.state is TakeState.RECORDING
            and take.node not in (None, self._nodes.node)
        ):
            return await self._elsewhere.stop(take, reason)  # its node stops it
        if take.state is not TakeState.RECORDING or self._active.get(take.session_id) != take.id:
            raise Conflict(
                "this take has already stopped and cannot be continued; record a new take"
            )
        self._release(take)
        cancel = self._timers.pop(take.id, None)
        if cancel is not None:
            cancel()
        done: asyncio.Future[Take] = asyncio.get_running_loop().create_future()
        self._stopping[take.id] = done
        try:
            stored = await self._finish(take, reason)
        except asyncio.CancelledError:
            done.cancel()
            raise
        except Exception as exc:
            done.set_exception(exc)
            done.exception()  # (only the stops that joined it need to see it)
            raise
        finally:
            del self._stopping[take.id]
        done.set_result(stored)
        return stored

    async def _finish(self, take: Take, reason: str) -> Take:
        now = self._clock()
        # A take ends at its time limit however late its timer ran (the recorder keeps
        # nothing captured after it either: Recorder.start).
        stopped_at = now if take.deadline is None else min(now, take.deadline)
        take = replace(take, state=TakeState.FINALIZING, stopped_at=stopped_at, stop_reason=reason)
        await self._repo.save(take)
        await self._emit("take_stopped", take)
        try:
            manifest = await self._recorder.stop(take.id)
        except Exception as exc:
            log.exception("take %s could not be finalised", take.id)
            manifest = {"segments": [], "error": f"{type(exc).__name__}: {exc}"}
        return await self._store(take, manifest)

    async def add_camera(self, take_id: str, camera: str, session_id: str) -> None:
        """Another camera of the owner joins a recording take (or rejoins: a new segment)."""
        take = await self._get(take_id, None)
        if take.state is not TakeState.RECORDING or self._active.get(take.session_id) != take.id:
            raise Conflict("this take has stopped; the camera will join the next one")
        if camera == PRIMARY or self._recorder.session_owner(session_id) != take.owner:
            raise NotFound("no such media session; open one and send your offer first")
        self._recorder.add_camera(take.id, camera, session_id)

    async def resume(self, take: Take, session_id: str) -> Take:
        """Continue on this node, from the owner's primary ``session_id`` here, a take another
        node recorded until it died (the caller claimed it for this node: ``take.node``).
        Its time limit holds (already past: it stops at once); ``take_started`` tells the
        pages and listeners that it records here now. Without a free camera session here,
        or when its part cannot be brought here, it is finished as :meth:`reconcile` does."""
        take = replace(take, session_id=session_id, node=self._nodes.node)
        if self._recorder.session_owner(session_id) != take.owner or session_id in self._active:
            log.warning("take %s: no free camera here to continue it; finishing it", take.id)
            return await self._finish_lost(take)
        self._active[session_id] = take.id
        if take.purpose == DEVICE_CHECK:
            self._device_checks.setdefault(take.owner, take.id)
        try:
            await self._repo.save(take)
            cameras = {PRIMARY: session_id}
            for lookup in self._camera_sources:
                cameras |= {k: v for k, v in lookup(take).items() if k != PRIMARY}
            await self._recorder.resume(take.id, cameras, take.started_at, take.limit_s)
        except Exception:
            self._release(take)
            log.exception("take %s could not be continued here; finishing it as it is", take.id)
            return await self._finish_lost(take)
        except BaseException:
            self._release(take)
            raise
        if self._active.get(session_id) != take.id:
            return take  # stopped while its part was being brought here
        if take.deadline is not None:
            self._timers[take.id] = self._scheduler.call_at(
                take.deadline, lambda: self._stop_later(take.id, "time_limit")
            )
        log.warning("take %s: continued on this node (%s)", take.id, ", ".join(cameras))
        self._telemetry.count(Count.TAKES_ADOPTED, "continued")
        await self._emit("take_started", take)
        return take

    async def _let_go(self, take: Take) -> Take:
        """This node records a take another node claimed (this one was taken for dead: its
        lease ran out): that node stores it; this one stops recording it and writes nothing."""
        log.error("take %s: continued by node %s; stopped here, not stored", take.id, take.node)
        for session_id in [s for s, t in self._active.items() if t == take.id]:
            del self._active[session_id]
        if self._device_checks.get(take.owner) == take.id:
            del self._device_checks[take.owner]
        cancel = self._timers.pop(take.id, None)
        if cancel is not None:
            cancel()
        try:
            await self._recorder.stop(take.id)  # its files stay on this node's disk
        except Exception:
            log.exception("take %s: could not stop its recording here", take.id)
        await self._emit(MOVED, take)  # this node's detectors and drain let it go too
        return take

    def recording_in(self, session_id: str) -> str | None:
        """The take ``session_id`` records on this node, if any."""
        return self._active.get(session_id)

    async def stop_session(self, session_id: str, reason: str) -> Take | None:
        """The session is gone for good: stop whatever it was recording."""
        take_id = self._active.get(session_id)
        if take_id is None:
            return None
        return await self.stop(take_id, reason)

    async def get(self, take_id: str, owner: str) -> Take:
        return await self._get(take_id, owner)

    @property
    def node(self) -> str:
        """This node's id (what :meth:`start` records in ``Take.node``)."""
        return self._nodes.node

    async def reconcile(self) -> list[Take]:
        """At start-up: finish the takes a previous process left recording or finalising.

        One machine (not ``clustered``): every one (whatever name the machine had then). A
        cluster: only this node's and those of no node (written before nodes were kept:
        claimed first, so two nodes starting at once finish each only once); other nodes'
        are theirs: alive, they are recording them; gone, :meth:`adopt_orphans` finishes
        them (or the candidate's new node continues them)."""
        me = self._nodes.node
        done = []
        for take in await self._repo.unfinished(me if self._clustered else None):
            if take.node is None and self._clustered:
                if not await self._repo.claim(take.id, None, me, state=take.state):
                    continue
                take = replace(take, node=me)
            log.warning(
                "take %s was %s when the server stopped; recovering its files",
                take.id,
                take.state.value,
            )
            done.append(await self._finish_lost(take))
        return done

    async def adopt_orphans(self) -> list[Take]:
        """Survivors, every few seconds: finish the takes of nodes that are gone.

        A take recording (or finalising) on a node that is not alive is remembered from
        when this node first saw it so; once ``orphan_grace_s`` has passed (the candidate
        did not come back to continue it anywhere), this node claims it (one node wins)
        and finishes it as :meth:`reconcile` does: its files brought here (from the object
        store), stored with ``server_restart`` and a trailing gap for the page's copy."""
        me = self._nodes.node
        now = self._clock()
        orphaned: set[str] = set()
        due: list[Take] = []
        alive: dict[str, bool] = {}
        for take in await self._orphan_candidates():
            if take.node is None or take.node == me:
                continue  # this node's own (or left to a start-up's reconcile)
            if take.node not in alive:
                alive[take.node] = await self._nodes.alive(take.node)
            if alive[take.node]:
                continue
            orphaned.add(take.id)
            seen = self._seen_dead.setdefault(take.id, now)
            if now - seen >= self._orphan_grace_s:
                due.append(take)
        for take_id in list(self._seen_dead):
            if take_id not in orphaned:
                del self._seen_dead[take_id]  # finished, continued or back: forget it
        done = []
        for take in due:
            if not await self._repo.claim(take.id, take.node, me, state=take.state):
                continue  # another survivor (or the candidate's new node) took it
            self._seen_dead.pop(take.id, None)
            log.warning(
                "take %s was %s on node %s, which is gone; finishing it here",
                take.id,
                take.state.value,
                take.node,
            )
            self._telemetry.count(Count.TAKES_ADOPTED, "finished")
            done.append(await self._finish_lost(replace(take, node=me)))
        return done

    async def _orphan_candidates(self) -> list[Take]:
        """Unfinished takes of the nodes that are gone; of every node when that is unknown."""
        gone = await self._nodes.gone()
        if gone is None:
            return await self._repo.unfinished()
        return [t for node in gone for t in await self._repo.unfinished(node) if t.node == node]

    async def _finish_lost(self, take: Take) -> Take:
        """Finish a take whose recording process is gone: its files recovered (the hub's
        ``before_recover`` hooks bring a dead node's from the object store), stored with
        ``server_restart`` and its trailing gap."""
        try:
            manifest = await self._recorder.recover(take.id)
        except Exception as exc:
            log.exception("take %s could not be recovered", take.id)
            manifest = {"segments": [], "error": f"{type(exc).__name__}: {exc}"}
        stopped = replace(
            take,
            stopped_at=take.stopped_at or self._clock(),
            stop_reason=take.stop_reason or "server_restart",
        )
        manifest = self._recovered_gaps(stopped, manifest)
        return await self._store(stopped, manifest)

    def _recovered_gaps(self, take: Take, manifest: dict[str, Any]) -> dict[str, Any]:
        """A take the server lost: its holes, and a last one from its last media until it
        would have stopped (its limit; see :func:`take_gaps.recovery_end_s`), for the
        page's copy to fill."""
        assert take.stopped_at is not None
        ends = [
            float(s["start_s"]) + float(s.get("duration_s") or 0.0)
            for _, part in take_gaps.cameras(manifest)
            for s in part.get("segments") or []
            if s.get("start_s") is not None
        ]
        if not ends:
            return manifest
        end_s = take_gaps.recovery_end_s(take.started_at, take.stopped_at, take.limit_s, max(ends))
        out = dict(manifest)
        out["gaps"] = take_gaps.trailing_gaps(manifest.get("segments") or [], end_s)
        out["cameras"] = {
            name: {**part, "gaps": take_gaps.trailing_gaps(part.get("segments") or [], end_s)}
            for name, part in (manifest.get("cameras") or {}).items()
        }
        return out

    async def change_manifest(
        self, take_id: str, change: Callable[[Take], Awaitable[dict[str, Any]]]
    ) -> Take:
        """Rewrite a stored take's manifest: ``change(take)`` (the take as it is now) returns
        the new one. One change per take at a time: a second waits, then sees the first's."""
        async with self._locks.hold(f"manifest:{take_id}"):
            take = await self._get(take_id, None)
            if take.state is not TakeState.STORED:
                raise Conflict("this take is not stored (still recording, or gone)")
            take = replace(take, manifest=await change(take))
            await self._repo.save(take)
        await self._notifier.take_event("take_filled", take)  # the owner's pages only
        return take

    async def _store(self, take: Take, manifest: dict[str, Any]) -> Take:
        state = TakeState.STORED if manifest.get("segments") else TakeState.FAILED
        quality = manifest.get("quality")  # the recorder's report (stored beside the manifest)
        take = replace(
            take,
            state=state,
            manifest=manifest,
            quality=quality if isinstance(quality, dict) else take.quality,
        )
        await self._repo.save(take)
        await self._emit("take_stored" if state is TakeState.STORED else "take_failed", take)
        return take

    async def discard(self, take_id: str) -> Take:
        """Delete a stopped take's media (a rehearsal after its one playback)."""
        take = await self._get(take_id, None)
        if take.state in (TakeState.RECORDING, TakeState.FINALIZING):
            raise Conflict("a take is discarded only once it has been stored")
        if take.state is not TakeState.DISCARDED:
            await self._recorder.discard(take.id)
            take = replace(take, state=TakeState.DISCARDED)
            await self._repo.save(take)
        return take

    async def authorize_playback(self, take: Take, viewer: Viewer) -> None:
        """Raise unless ``viewer`` may play ``take`` now (the exam rules decide for exam takes;
        a device check plays back only to the candidate who recorded it)."""
        if take.owner != viewer.owner or take.state is not TakeState.STORED:
            raise NotFound("no such take")
        if take.purpose == DEVICE_CHECK and viewer.role != CANDIDATE:
            raise Forbidden("the device check is for candidates; your account has another role")
        for policy in self._playback_policies:
            await policy(take, viewer.owner)

    async def segment_to_play(
        self, take_id: str, viewer: Viewer, camera: str, index: str
    ) -> PlayableSegment:
        """The file of one segment of ``viewer``'s take that they may play now; ``camera`` is
        ``primary`` or one of the take's other cameras (``secondary``)."""
        take = await self._get(take_id, viewer.owner)
        await self.authorize_playback(take, viewer)
        segments = camera_segments(take.manifest or {}, camera)
        segment = next((s for s in segments if str(s["index"]) == index), None)
        if segment is None:
            raise NotFound("no such segment in this take")
        return PlayableSegment(
            take.id,
            segment.get("playback_file") or segment["file"],
            index if camera == "primary" else f"{camera}-{index}",
        )

    async def _emit(self, event: str, take: Take) -> None:
        """Tell the owner's pages and every listener. A take's events reach each of them in
        the order they happen, never two at once: an end that comes while a listener still
        handles the take's start waits for it (:mod:`.take_events`); other takes go on."""
        await self._events.emit(event, take)

    async def _tell(self, event: str, take: Take) -> None:
        try:
            if event != MOVED:  # the pages hear of the take from the node that goes on
                await self._notifier.take_event(event, take)
        except Exception:  # the listeners are told all the same
            log.exception("the pages could not be told of %s for take %s", event, take.id)
        for listener in self._listeners:
            try:
                await listener(event, take)
            except Exception:
                log.exception("a listener failed on %s for take %s", event, take.id)

    def _release(self, take: Take) -> None:
        """The take no longer holds its device (nor the owner's one device check)."""
        if self._active.get(take.session_id) == take.id:
            del self._active[take.session_id]
        if self._device_checks.get(take.owner) == take.id:
            del self._device_checks[take.owner]

    def _stop_later(self, take_id: str, reason: str) -> Any:
        self._timers.pop(take_id, None)
        return self.stop(take_id, reason)

    async def _get(self, take_id: str, owner: str | None) -> Take:
        take = await self._repo.get(take_id)
        if take is None or (owner is not None and take.owner != owner):
            raise NotFound("no such take")
        return take

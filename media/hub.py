"""Media sessions: one device's camera and microphone, across reconnects.

A session belongs to one owner and one device role: ``primary`` (the
candidate's main device) or ``secondary`` (a phone as the second camera,
bound to one attempt). A proctor's ``viewer`` session is not kept here: it
watches a candidate's sessions (:mod:`media.viewers`, told of new sources by
``on_sources``). Each SDP offer makes a new
peer connection for it; aiortc cannot restart ICE (aiortc#211), so a client
that lost its network sends a fresh offer and a take being recorded continues
in a new segment. A session whose client has gone for longer than the grace
period is closed, and whatever it was recording is stopped by the caller.

A take records one or more *cameras* (``primary``, ``secondary``), each a
:class:`TakeRecorder` with its own segments, all with the take's one origin,
so their segments' ``start_s`` are on the same clock. A camera can move to
another session during the take (the phone rejoined with a new scan): it
continues there in a new segment.

The hub implements the ``exams.catalog.takes.Recorder`` port.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection

from exams.catalog.media_profile import DEFAULT, MediaProfile
from exams.shared.errors import Conflict, Draining, InvalidInput, NotFound
from exams.shared.ports import Clock, Scheduler
from exams.shared.telemetry import NO_TELEMETRY, Count, Telemetry, about_take
from media import continuation, preview, quality, recovery
from media.load import CameraAdmission, CameraRefused
from media.peers import PeerFactory, close_quietly
from media.quality import QualityMeter
from media.recorder import TakeRecorder, take_end_s
from media.sources import TrackSource
from media.writer import MuxPool

log = logging.getLogger(__name__)

ROLES = ("primary", "secondary")  # a proctor's "viewer" session: media.viewers
PRIMARY = "primary"
MEDIA_SILENCE_S = 2.0  # no media for this long: the device is lost (the page is told at once)
MEDIA_CHECK_S = 0.5  # how often the composition root runs :meth:`MediaHub.check_media`
# ``on_state`` states of the media itself (besides the peer connection's own states)
MEDIA_SILENT, MEDIA_BACK = "media_silent", "media_back"

SessionLost = Callable[["MediaSession", str], Awaitable[None]]
StateListener = Callable[["MediaSession", str], Awaitable[None]]
SourcesListener = Callable[["MediaSession"], None]


@dataclass
class MediaSession:
    id: str
    owner: str
    role: str
    peer: RTCPeerConnection | None = None
    peer_count: int = 0
    sources: list[TrackSource] = field(default_factory=list)
    # the camera's small copy for the wall (media.preview): not among ``sources``, which
    # are what is recorded and relayed
    preview: TrackSource | None = None
    recorder: TakeRecorder | None = None
    take_id: str | None = None
    attached: bool = True  # a signaling connection is holding it
    detached_at: float = 0.0
    state: str = "new"
    attempt_id: str | None = None  # a second camera's attempt
    # Its media stopped for MEDIA_SILENCE_S (server clock of the last frame, None: flowing):
    # the reconnect grace runs from then, whether or not its socket is still open.
    silent_since: float | None = None
    last_silence: tuple[float, float] | None = None  # the last one over: (from, to), server clock

    def describe(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "role": self.role,
            "state": self.state,
            "take_id": self.take_id,
            "attempt_id": self.attempt_id,
            "media": "flowing" if self.silent_since is None else "silent",
            "media_stage": self.media_stage(),
            "silent_since": self.silent_since,
            "last_silence": None
            if self.last_silence is None
            else {"from": self.last_silence[0], "to": self.last_silence[1]},
        }

    def media_stage(self) -> str:
        """How far its media gets (the heartbeat says it; a take that records nothing is
        told by it): ``no_peer`` (no offer yet), ``connecting`` (its peer connection is not
        connected), ``no_packets`` (connected, no RTP packet reached its tracks),
        ``no_frames`` (packets, no whole frame yet), ``flowing`` (frames, no take), and
        while it records a take: ``before_take`` (frames arrive, but their tracks' clocks
        place them all before the take started: none is recorded), ``waiting`` (frames of
        the take arrive, nothing is written yet: its first keyframe, or the clocks
        settling) or ``recording``."""
        if self.peer is None:
            return "no_peer"
        if self.peer.connectionState != "connected":
            return "connecting"
        if not any(s.frames_received for s in self.sources):
            return "no_frames" if any(s.packets_seen for s in self.sources) else "no_packets"
        recorder = self.recorder
        if recorder is None:
            return "flowing"
        if recorder.written_s() > (0.0 if recorder.prior is None else recorder.prior.recorded_s):
            return "recording"
        newest = [s.last_frame_time for s in self.sources if s.last_frame_time is not None]
        return "before_take" if newest and max(newest) < recorder.origin else "waiting"

    def last_frame_at(self) -> float | None:
        """When its newest frame arrived (media clock): its picture if it sends one."""
        video = [s for s in self.sources if s.kind == "video"]
        times = [s.last_frame_at for s in video or self.sources if s.last_frame_at is not None]
        return max(times, default=None)


class MediaHub:
    def __init__(
        self,
        peers: PeerFactory,
        pool: MuxPool,
        recordings_dir: Path,
        *,
        queue_limit: int,
        keyframe_interval: float,
        reconnect_grace: float,
        clock: Clock,
        scheduler: Scheduler,
        max_sessions_per_owner: int = 4,
        telemetry: Telemetry = NO_TELEMETRY,
        admission: CameraAdmission | None = None,
    ) -> None:
        self._peers = peers
        self._telemetry = telemetry
        # Cameras new to the node past its cap, or while its loop is overloaded: refused.
        self.admission = admission if admission is not None else CameraAdmission(refuse_lag_s=0)
        # Draining (the node is about to stop): no new owner's session is opened here.
        self.draining = False
        self._pool = pool
        self._dir = recordings_dir
        self._queue_limit = queue_limit
        self._keyframe_interval = keyframe_interval
        self._grace = reconnect_grace  # on ``clock``: a test moves it rather than waits
        self._clock = clock
        self._scheduler = scheduler
        self._max_per_owner = max_sessions_per_owner
        self._sessions: dict[str, MediaSession] = {}
        self._takes: dict[str, dict[str, TakeRecorder]] = {}  # take id -> camera -> recorder
        # take id -> its media clock's origin: monotonic, as the packets' arrival times are
        self._origins: dict[str, float] = {}
        self._limits: dict[str, float | None] = {}  # each take's time limit (its clock)
        # a take continued here after its node died: each camera's part from there, and the
        # take while that part is being brought here (a stop waits for it)
        self._priors: dict[str, dict[str, continuation.Prior]] = {}
        self._preparing: dict[str, asyncio.Task[None]] = {}
        self.on_lost: list[SessionLost] = []
        self.on_state: list[StateListener] = []
        self.on_sources: list[SourcesListener] = []  # a session's peer has new tracks
        # object storage (media.shipping): a discarded take's objects go too; a take to
        # recover whose folder is not here (another node recorded it) is fetched first
        self.on_discarded: list[Callable[[str], Awaitable[None]]] = []
        self.before_recover: list[Callable[[str], Awaitable[None]]] = []
        self._grace_ends: dict[str, Callable[[], None]] = {}  # session id -> cancel its timer
        self._closing: set[asyncio.Future[None]] = set()

    # -- sessions ----------------------------------------------------------------------------

    def open(
        self, owner: str, role: str, resume: str | None = None, *, attempt_id: str | None = None
    ) -> MediaSession:
        """A new session (``attempt_id``: the attempt a secondary camera is bound to)."""
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        if resume is not None:
            session = self._owned(resume, owner)
            if session.role != role:
                raise InvalidInput(f"session {resume} is a {session.role} session, not {role}")
            session.attached = True
            return session
        waiting = self._waiting_primary(owner) if role == "primary" else None
        if waiting is not None:  # a take the server started is waiting for this camera
            waiting.attached = True
            return waiting
        if not self.sessions_of(owner):
            # An owner already here (a take recording, a page reconnecting, a second camera)
            # carries on; a new one is refused by a draining, full or overloaded node.
            if self.draining:
                self._telemetry.count(Count.MEDIA_SESSIONS_REFUSED, "draining")
                raise Draining("this server is about to stop; connect again to reach another one")
            try:
                self.admission.admit(len(self._sessions))
            except CameraRefused as refused:
                self._telemetry.count(Count.MEDIA_SESSIONS_REFUSED, refused.reason)
                raise
        self._make_room(owner)
        session = MediaSession(
            id=secrets.token_hex(8), owner=owner, role=role, attempt_id=attempt_id
        )
        self._sessions[session.id] = session
        return session

    def _make_room(self, owner: str) -> None:
        """Keep the owner's sessions, connected or waiting out their grace period, under the cap.

        A session left by a reloaded page that records nothing makes room (the
        oldest first); one that records, or a full set of connected ones, does not.
        Synchronous from the count to the insert: parallel opens cannot both pass.
        """
        owned = self.sessions_of(owner)
        if len(owned) < self._max_per_owner:
            return
        left = [s for s in owned if not s.attached and s.recorder is None]
        if not left:
            raise Conflict(
                f"{self._max_per_owner} media sessions are open already; "
                "close a page of this exam first"
            )
        oldest = min(left, key=lambda s: s.detached_at)
        del self._sessions[oldest.id]
        log.info("media session %s: replaced by a new one of its owner", oldest.id)
        closing = asyncio.ensure_future(self._closed_quietly(oldest, "replaced"))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _closed_quietly(self, session: MediaSession, reason: str) -> None:
        try:
            await self._closed(session, reason)
        except Exception:
            log.exception("media session %s: could not close it", session.id)

    def primary_session(self, owner: str) -> str:
        """The owner's primary camera session: the connected one, else one kept waiting.

        A take the server starts on its own clock (the reading time ran out)
        records into this session; a page that opens a primary session later
        is given the same one, so its media joins the take.
        """
        primaries = [s for s in self._sessions.values() if s.owner == owner and s.role == "primary"]
        connected = [s for s in primaries if s.attached and s.peer is not None]
        if connected:
            return connected[-1].id
        if primaries:
            return primaries[-1].id
        session = MediaSession(
            id=secrets.token_hex(8),
            owner=owner,
            role="primary",
            attached=False,
        )
        self._sessions[session.id] = session
        self._wait_for_client(session)
        return session.id

    def _waiting_primary(self, owner: str) -> MediaSession | None:
        return next(
            (
                s
                for s in reversed(list(self._sessions.values()))
                if s.owner == owner
                and s.role == "primary"
                and not s.attached
                and s.recorder is not None
            ),
            None,
        )

    def detach(self, session_id: str) -> None:
        """Its signaling connection went away; keep it for the grace period."""
        session = self._sessions.get(session_id)
        if session is not None and session.attached:
            session.attached = False
            if session.silent_since is not None and session.id in self._grace_ends:
                return  # its media stopped before: the grace runs from then already
            self._wait_for_client(session)

    async def check_media(self, media_now: float | None = None) -> None:
        """Media silence (no frame for :data:`MEDIA_SILENCE_S`) is a lost device: its grace
        starts then, without waiting for its socket's ping timeout; media that
        flows again (a new peer connection, or the old one back) ends the grace. Listeners of
        ``on_state`` hear :data:`MEDIA_SILENT` / :data:`MEDIA_BACK`. Run every
        :data:`MEDIA_CHECK_S` by the composition root."""
        media_now = time.monotonic() if media_now is None else media_now
        now = self._clock()
        for session in list(self._sessions.values()):
            last = session.last_frame_at()
            if last is None or session.peer is None:
                continue  # no media yet: nothing was lost
            silent_s = media_now - last
            if silent_s >= MEDIA_SILENCE_S and session.silent_since is None:
                session.silent_since = now - silent_s
                log.info("media session %s: no media for %.1fs", session.id, silent_s)
                if session.id not in self._grace_ends or session.attached:
                    self._wait_for_client(session)  # unless its socket's grace runs already
                await self._tell_state(session, MEDIA_SILENT)
            elif silent_s < MEDIA_SILENCE_S and session.silent_since is not None:
                # From the last frame before to the newest now (within MEDIA_CHECK_S of the
                # first one after).
                first_back = now - silent_s
                session.last_silence = (session.silent_since, max(session.silent_since, first_back))
                session.silent_since = None
                log.info("media session %s: media flows again", session.id)
                if session.attached:
                    cancel = self._grace_ends.pop(session.id, None)
                    if cancel is not None:
                        cancel()
                await self._tell_state(session, MEDIA_BACK)

    async def _tell_state(self, session: MediaSession, state: str) -> None:
        for listener in self.on_state:
            try:
                await listener(session, state)
            except Exception:
                log.exception("media session %s: a state listener failed", session.id)

    def _wait_for_client(self, session: MediaSession) -> None:
        """Close ``session`` when the grace period is over, unless its client (and its
        media) is back by then."""
        cancel = self._grace_ends.pop(session.id, None)
        if cancel is not None:
            cancel()
        detached_at = session.detached_at = self._clock()
        self._grace_ends[session.id] = self._scheduler.call_at(
            detached_at + self._grace, lambda: self._grace_over(session, detached_at)
        )

    def preview_asked(self, preview_mid: str | None) -> dict[str, Any] | None:
        """What an offer's preview (``preview_mid``: its section) should send, for the page
        (the answer's ``media.preview``); None: send none."""
        spec = self._peers.preview
        return None if spec is None or preview_mid is None else spec.to_dict()

    async def offer(
        self,
        session_id: str,
        owner: str,
        sdp: str,
        profile: MediaProfile = DEFAULT,
        preview_mid: str | None = None,
    ) -> str:
        """The answer to a new peer connection of the session (``profile``: the exam's
        sound and picture, :mod:`exams.admission.media_needs`; ``preview_mid``: the offer's
        section of the camera's preview, :mod:`media.preview`)."""
        session = self._owned(session_id, owner)
        peer_id = f"{session.id}-{session.peer_count}"
        pc, answer = await self._peers.answer(
            sdp, peer_id, lambda sources: self._on_sources(session, sources), profile, preview_mid
        )
        session.peer_count += 1
        old, session.peer = session.peer, pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if session.peer is pc:
                session.state = pc.connectionState
                for listener in self.on_state:
                    await listener(session, pc.connectionState)

        if old is not None:
            closing = asyncio.ensure_future(close_quietly(old))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return answer

    async def close(
        self, session_id: str, owner: str | None = None, reason: str = "session_closed"
    ) -> MediaSession | None:
        """Close a session; ``on_lost`` stops what it was recording (``reason``) first."""
        session = self._sessions.get(session_id)
        if session is None or (owner is not None and session.owner != owner):
            return None
        del self._sessions[session_id]
        cancel = self._grace_ends.pop(session_id, None)
        if cancel is not None:
            cancel()
        await self._closed(session, reason)
        return session

    async def _closed(self, session: MediaSession, reason: str) -> None:
        for listener in self.on_lost:
            await listener(session, reason)
        if session.recorder is not None and session.role != PRIMARY:
            # Another camera leaves the take: what it recorded is kept; it may rejoin.
            gap = {"session_closed": "camera_stopped", "replaced": "reconnect"}
            session.recorder.detach(gap.get(reason, "connection_lost"))
            session.recorder = None
            session.take_id = None
        if session.peer is not None:
            await close_quietly(session.peer)

    def get(self, session_id: str) -> MediaSession | None:
        return self._sessions.get(session_id)

    def quality_meter(self, session_id: str) -> QualityMeter | None:
        """What the session's camera sends, as the take it records receives it (its
        :class:`media.quality.QualityMeter`: ``snapshot()``, ``await measure_bandwidth()``);
        None while it records no take."""
        session = self._sessions.get(session_id)
        return None if session is None or session.recorder is None else session.recorder.quality

    def written_s(self, take_id: str) -> dict[str, float]:
        """Seconds of media each camera of a recording take has written so far."""
        return {name: r.written_s() for name, r in self._takes.get(take_id, {}).items()}

    def counts(self) -> dict[str, int]:
        """Media sessions open by role, the streams (a take's cameras) recording, and the
        cameras sending their wall preview (``previews``: those a wall or a detector
        pictures, media.preview)."""
        out = dict.fromkeys(ROLES, 0)
        now = time.monotonic()
        previews = 0
        for session in self._sessions.values():
            out[session.role] = out.get(session.role, 0) + 1
            previews += preview.sending(session.preview, now)
        out["recording"] = sum(len(cameras) for cameras in self._takes.values())
        out["previews"] = previews
        return out

    def sessions_of(self, owner: str) -> list[MediaSession]:
        """The owner's sessions, connected or waiting for their client to come back."""
        return [s for s in self._sessions.values() if s.owner == owner]

    def healthy(self, session_id: str) -> bool:
        """The session's peer is connected and its media arrived in the last moments."""
        session = self._sessions.get(session_id)
        if session is None or session.peer is None or session.state != "connected":
            return False
        last = session.last_frame_at() or 0.0
        # Media time, not the injected clock: frames arrive in real time, so a test's jump
        # over a deadline must not make a live camera look silent.
        return time.monotonic() - last < MEDIA_SILENCE_S

    def _owned(self, session_id: str, owner: str) -> MediaSession:
        session = self._sessions.get(session_id)
        if session is None or session.owner != owner:
            raise NotFound("no such media session; open a new one")
        return session

    def _on_sources(self, session: MediaSession, sources: list[TrackSource]) -> None:
        # (one the server asked none of, media.preview, is not pictured either)
        small = next((s for s in sources if s.preview and self._peers.preview), None)
        sources = [s for s in sources if not s.preview]
        if small is not None:
            small.preview_of = next((s for s in sources if s.kind == "video"), None)
        session.sources, session.preview = sources, small
        if session.recorder is not None:
            session.recorder.attach(sources, reason="reconnect")
        for listener in self.on_sources:  # live viewers follow the new sources
            listener(session)

    async def _grace_over(self, session: MediaSession, detached_at: float) -> None:
        if session.detached_at != detached_at:
            return  # it came back and left again: a later timer decides
        self._grace_ends.pop(session.id, None)
        back = session.attached and session.silent_since is None
        if self._sessions.get(session.id) is not session or back:
            return  # closed already, or its client (and its media) came back
        log.info("media session %s: client gone for %.0fs, closing", session.id, self._grace)
        await self.close(session.id, reason="connection_lost")

    # -- exams.catalog.takes.Recorder --------------------------------------------------------

    def session_owner(self, session_id: str) -> str | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.owner

    def start(self, take_id: str, cameras: Mapping[str, str], limit_s: float | None = None) -> None:
        """Record ``cameras`` (camera name -> session id; ``primary`` always) on one clock,
        nothing captured after ``limit_s`` (the take's time limit) from now."""
        about_take(take_id)  # this task's log lines from here on name the take
        if cameras.get(PRIMARY) not in self._sessions:
            raise NotFound("no such media session; open a new one")
        log.info("take %s: recording (%s)", take_id, ", ".join(cameras))
        self._takes[take_id] = {}
        self._origins[take_id] = time.monotonic()
        self._limits[take_id] = limit_s
        for camera, session_id in cameras.items():
            session = self._sessions.get(session_id)
            if session is not None:  # another camera closed a moment ago: it may rejoin
                self._record(take_id, camera, session, "start")

    def add_camera(self, take_id: str, camera: str, session_id: str) -> None:
        """A camera joins a recording take, or moves to a new session (a new segment)."""
        if take_id not in self._takes:
            raise Conflict("this take has stopped; a camera can join only while it records")
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound("no such media session; open a new one")
        self._record(take_id, camera, session, "reconnect")

    def _record(self, take_id: str, camera: str, session: MediaSession, reason: str) -> None:
        cameras = self._takes[take_id]
        recorder = cameras.get(camera)
        if recorder is None:
            prior = self._priors.get(take_id, {}).get(camera)
            recorder = cameras[camera] = TakeRecorder(
                take_id,
                self._dir / take_id,
                self._pool,
                queue_limit=self._queue_limit,
                keyframe_interval=self._keyframe_interval,
                origin=self._origins[take_id],
                prefix="" if camera == PRIMARY else f"{camera}/",
                prior=prior,
                limit_s=self._limits.get(take_id),
            )
            reason = "start" if prior is None else continuation.NODE_LOST
        for other in self._sessions.values():
            if other.recorder is recorder and other is not session:
                other.recorder, other.take_id = None, None
        session.recorder = recorder
        session.take_id = take_id
        for source in session.sources:
            if not source.listened:  # not recorded now: anchored afresh for this take
                source.renew_clock()
        recorder.attach(session.sources, reason=reason)

    async def stop(self, take_id: str) -> dict[str, Any]:
        """Stop every camera of the take at once; the primary's manifest, with the others'
        under ``cameras``."""
        about_take(take_id)
        stopping = time.monotonic()  # the take's end (the cameras may wait for late frames)
        preparing = self._preparing.get(take_id)
        if preparing is not None:  # continued here a moment ago: its part is on its way
            await asyncio.wait([preparing])
        cameras = self._takes.pop(take_id)
        origin = self._origins.pop(take_id, stopping)
        limit_s = self._limits.pop(take_id, None)
        end_s = take_end_s(stopping, origin, limit_s)
        priors = self._priors.pop(take_id, {})
        recorders = set(cameras.values())
        stages: dict[TakeRecorder, str] = {}  # how far each camera's media got
        for session in self._sessions.values():
            if session.recorder is not None and session.recorder in recorders:
                stages[session.recorder] = session.media_stage()
                session.recorder = None
                session.take_id = None
        names = list(cameras)
        results = await asyncio.gather(*(cameras[name].stop() for name in names))
        stopped = dict(zip(names, results, strict=True))
        for name, result in stopped.items():
            if not result["segments"]:
                log.warning(
                    "take %s: the %s camera recorded nothing (its media: %s)",
                    take_id,
                    name,
                    stages.get(cameras[name], "no session"),
                )
        report = quality.take_report(
            end_s,
            {name: m.pop("quality") for name, m in stopped.items() if "quality" in m},
        )
        manifest = stopped.pop(PRIMARY)
        manifest["quality"] = report  # also Take.quality (exams.catalog.takes)
        manifest["cameras"] = {
            name: {k: m[k] for k in ("segments", "gaps", "recorded_s", "stats")}
            for name, m in stopped.items()
        }
        for name, prior in priors.items():  # a camera that did not come here: its prior part
            if name not in cameras and prior.segments:
                manifest["cameras"][name] = continuation.left_behind(prior, end_s)
        return manifest

    async def discard(self, take_id: str) -> None:
        await asyncio.get_running_loop().run_in_executor(
            None, recovery.delete_take_files, self._dir / take_id
        )
        for hook in self.on_discarded:
            await hook(take_id)

    async def recover(self, take_id: str) -> dict[str, Any]:
        for hook in self.before_recover:
            await hook(take_id)
        return await asyncio.get_running_loop().run_in_executor(
            None, recovery.recover_take, self._dir / take_id
        )

    async def resume(
        self,
        take_id: str,
        cameras: Mapping[str, str],
        started_at: float,
        limit_s: float | None = None,
    ) -> None:
        """Continue here a take another node recorded until it died: its files brought here
        (the ``before_recover`` hooks: from the object store) and recovered, then ``cameras``
        recorded on the take's clock (``started_at``, the clock's epoch), numbered and placed
        after that part (:mod:`media.continuation`)."""
        about_take(take_id)
        if take_id in self._takes or take_id in self._preparing:
            raise Conflict("this take records here already")
        task = asyncio.ensure_future(self._continue(take_id, cameras, started_at, limit_s))
        self._preparing[take_id] = task
        task.add_done_callback(lambda _: self._preparing.pop(take_id, None))
        await task

    async def _continue(
        self, take_id: str, cameras: Mapping[str, str], started_at: float, limit_s: float | None
    ) -> None:
        folder = self._dir / take_id
        for hook in self.before_recover:  # a failure stops it: new files must not replace those
            await hook(take_id)
        recovered = await asyncio.get_running_loop().run_in_executor(
            None, recovery.recover_take, folder
        )
        self._priors[take_id] = priors = continuation.priors(recovered, folder)
        log.info(
            "take %s: continued after %s",
            take_id,
            ", ".join(
                f"{n}: {len(p.segments)} segment(s) to {p.end_s}s" for n, p in priors.items()
            ),
        )
        self._takes[take_id] = {}
        self._origins[take_id] = time.monotonic() - (self._clock() - started_at)
        self._limits[take_id] = limit_s
        for camera, session_id in cameras.items():
            session = self._sessions.get(session_id)
            if session is None and camera == PRIMARY:
                self._takes.pop(take_id)
                self._priors.pop(take_id)
                self._limits.pop(take_id)
                raise NotFound("no such media session; open a new one")
            if session is not None:
                self._record(take_id, camera, session, continuation.NODE_LOST)

    async def shutdown(self) -> None:
        for cancel in self._grace_ends.values():
            cancel()
        self._grace_ends.clear()
        for session in list(self._sessions.values()):
            await self.close(session.id, reason="server_shutdown")

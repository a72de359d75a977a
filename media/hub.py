"""Media sessions: one device's camera and microphone, across reconnects.

A session belongs to one owner and one device role (``primary`` now;
``secondary`` and ``viewer`` later). Each SDP offer makes a new peer
connection for it; aiortc cannot restart ICE (aiortc#211), so a client that
lost its network sends a fresh offer and a take being recorded continues in
a new segment. A session whose client has gone for longer than the grace
period is closed, and whatever it was recording is stopped by the caller.

The hub implements the ``exams.takes.Recorder`` port.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection

from exams.errors import Conflict, InvalidInput, NotFound
from media import recovery
from media.peers import PeerFactory, close_quietly
from media.recorder import TakeRecorder
from media.sources import TrackSource
from media.writer import MuxPool

log = logging.getLogger(__name__)

ROLES = ("primary",)  # "secondary" (second camera) and "viewer" (proctor) come later

SessionLost = Callable[["MediaSession", str], Awaitable[None]]
StateListener = Callable[["MediaSession", str], Awaitable[None]]


@dataclass
class MediaSession:
    id: str
    owner: str
    role: str
    peer: RTCPeerConnection | None = None
    peer_count: int = 0
    sources: list[TrackSource] = field(default_factory=list)
    recorder: TakeRecorder | None = None
    take_id: str | None = None
    attached: bool = True  # a signaling connection is holding it
    detached_at: float = 0.0
    state: str = "new"

    def describe(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "role": self.role,
            "state": self.state,
            "take_id": self.take_id,
        }


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
        max_sessions_per_owner: int = 4,
    ) -> None:
        self._peers = peers
        self._pool = pool
        self._dir = recordings_dir
        self._queue_limit = queue_limit
        self._keyframe_interval = keyframe_interval
        self._grace = reconnect_grace
        self._max_per_owner = max_sessions_per_owner
        self._sessions: dict[str, MediaSession] = {}
        self._recorders: dict[str, TakeRecorder] = {}
        self.on_lost: SessionLost | None = None
        self.on_state: StateListener | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Future[None]] = set()

    # -- sessions ----------------------------------------------------------------------------

    def open(self, owner: str, role: str, resume: str | None = None) -> MediaSession:
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        if resume is not None:
            session = self._owned(resume, owner)
            session.attached = True
            return session
        waiting = self._waiting_primary(owner) if role == "primary" else None
        if waiting is not None:  # a take the server started is waiting for this camera
            waiting.attached = True
            return waiting
        # Sessions left by reloaded pages wait out their grace period uncounted.
        open_now = [s for s in self._sessions.values() if s.owner == owner and s.attached]
        if len(open_now) >= self._max_per_owner:
            raise Conflict("too many open media sessions; close a page of this exam first")
        session = MediaSession(id=secrets.token_hex(8), owner=owner, role=role)
        self._sessions[session.id] = session
        return session

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
            detached_at=time.monotonic(),
        )
        self._sessions[session.id] = session
        self._start_reaper()
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
            session.detached_at = time.monotonic()
            self._start_reaper()

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap())

    async def offer(self, session_id: str, owner: str, sdp: str) -> str:
        session = self._owned(session_id, owner)
        peer_id = f"{session.id}-{session.peer_count}"
        pc, answer = await self._peers.answer(
            sdp, peer_id, lambda sources: self._on_sources(session, sources)
        )
        session.peer_count += 1
        old, session.peer = session.peer, pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if session.peer is pc:
                session.state = pc.connectionState
                if self.on_state is not None:
                    await self.on_state(session, pc.connectionState)

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
        if self.on_lost is not None:
            await self.on_lost(session, reason)
        if session.peer is not None:
            await close_quietly(session.peer)
        return session

    def get(self, session_id: str) -> MediaSession | None:
        return self._sessions.get(session_id)

    def _owned(self, session_id: str, owner: str) -> MediaSession:
        session = self._sessions.get(session_id)
        if session is None or session.owner != owner:
            raise NotFound("no such media session; open a new one")
        return session

    def _on_sources(self, session: MediaSession, sources: list[TrackSource]) -> None:
        session.sources = sources
        if session.recorder is not None:
            session.recorder.attach(sources, reason="reconnect")

    async def _reap(self) -> None:
        while any(not s.attached for s in self._sessions.values()):
            await asyncio.sleep(min(1.0, self._grace / 4))
            now = time.monotonic()
            for session in list(self._sessions.values()):
                if not session.attached and now - session.detached_at >= self._grace:
                    log.info(
                        "media session %s: client gone for %.0fs, closing", session.id, self._grace
                    )
                    await self.close(session.id, reason="connection_lost")

    # -- exams.takes.Recorder ----------------------------------------------------------------

    def session_owner(self, session_id: str) -> str | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.owner

    def start(self, take_id: str, session_id: str) -> None:
        session = self._sessions[session_id]
        recorder = TakeRecorder(
            take_id,
            self._dir / take_id,
            self._pool,
            queue_limit=self._queue_limit,
            keyframe_interval=self._keyframe_interval,
        )
        session.recorder = recorder
        session.take_id = take_id
        self._recorders[take_id] = recorder
        recorder.attach(session.sources, reason="start")

    async def stop(self, take_id: str) -> dict[str, Any]:
        recorder = self._recorders.pop(take_id)
        for session in self._sessions.values():
            if session.recorder is recorder:
                session.recorder = None
                session.take_id = None
        return await recorder.stop()

    async def discard(self, take_id: str) -> None:
        await asyncio.get_running_loop().run_in_executor(
            None, recovery.delete_take_files, self._dir / take_id
        )

    async def recover(self, take_id: str) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(
            None, recovery.recover_take, self._dir / take_id
        )

    async def shutdown(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for session in list(self._sessions.values()):
            await self.close(session.id, reason="server_shutdown")

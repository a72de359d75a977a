"""The live facts of candidates' cameras for the proctors' wall, from memory.

Implements ``exams.proctoring.wall.LiveMedia``: each camera's connection state
(from the hub's sessions and their peer connections, plus how the last
session of that camera ended), the second camera's link (asked of pairing
through a callable, so the media layer does not import it) and the latest
wall picture (:class:`media.pictures.WallPictures`).

A camera is ``connected`` while its peer connection is; ``lost`` once that
connection failed or closed, or its session was given up after the grace
period (``connection_lost``); ``reconnecting`` while a camera that was
connected sets up a new connection, waits for its page to come back, or its
media stopped (no frame for 2 s: :meth:`media.hub.MediaHub.check_media`); and
``no_feed`` with no session, one that never connected, or one its page
closed.

In a cluster (docs/decisions/0028) a candidate whose cameras are on another node has no
session here: their states are the ones that node shares (``remote``), while it does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from exams.proctoring.wall import CAMERAS, CameraFacts
from media.hub import MediaSession
from media.pictures import Picture

LinkState = Callable[[str], str | None]  # attempt id -> its second camera's link state


class Sessions(Protocol):
    """Implemented by :class:`media.hub.MediaHub`."""

    def sessions_of(self, owner: str) -> list[MediaSession]: ...


class Pictures(Protocol):
    """Implemented by :class:`media.pictures.WallPictures`."""

    def latest(self, owner: str, camera: str) -> Picture | None: ...


class RemoteStates(Protocol):
    """Implemented by :class:`media.remote_cameras.RemoteCameras`."""

    def state(self, owner: str, camera: str) -> str | None: ...


BROKEN = ("failed", "closed")


class LiveCameras:
    """Listens on the hub (``on_state``, ``on_lost``); answers :meth:`cameras`."""

    def __init__(
        self,
        hub: Sessions,
        pictures: Pictures,
        link_state: LinkState,
        remote: RemoteStates | None = None,
    ) -> None:
        self._hub = hub
        self._remote = remote
        self._pictures = pictures
        self._link_state = link_state
        self._was_connected: set[tuple[str, str]] = set()  # (owner, camera) since its last end
        self._ended: dict[tuple[str, str], str] = {}  # (owner, camera) -> why its session ended

    async def session_state(self, session: MediaSession, state: str) -> None:
        key = (session.owner, session.role)
        if state == "connected":
            self._was_connected.add(key)
            self._ended.pop(key, None)

    async def session_closed(self, session: MediaSession, reason: str) -> None:
        key = (session.owner, session.role)
        if reason == "replaced":
            return  # a new session of the same camera takes over
        if any(s.role == session.role for s in self._hub.sessions_of(session.owner)):
            return  # another session of this camera goes on
        self._was_connected.discard(key)
        if reason == "connection_lost" or session.state in BROKEN:
            self._ended[key] = "lost"
        else:
            self._ended.pop(key, None)

    def cameras(self, owner: str, attempt_id: str | None) -> Mapping[str, CameraFacts]:
        out: dict[str, CameraFacts] = {}
        for camera in CAMERAS:
            picture = self._pictures.latest(owner, camera)
            link = None
            if camera == "secondary" and attempt_id is not None:
                link = self._link_state(attempt_id)
            out[camera] = CameraFacts(
                self._state(owner, camera),
                None if picture is None else picture.seq,
                None if picture is None else picture.taken_at,
                link,
            )
        return out

    def states(self, owner: str) -> dict[str, str]:
        """Each camera's state from this node's own sessions (what it shares)."""
        return {camera: self._local_state(owner, camera) for camera in CAMERAS}

    def _state(self, owner: str, camera: str) -> str:
        if self._remote is not None and not self._hub.sessions_of(owner):
            shared = self._remote.state(owner, camera)
            if shared is not None:
                return shared
        return self._local_state(owner, camera)

    def _local_state(self, owner: str, camera: str) -> str:
        sessions = [s for s in self._hub.sessions_of(owner) if s.role == camera]
        if any(
            s.peer is not None and s.state == "connected" and s.silent_since is None
            for s in sessions
        ):
            return "connected"
        key = (owner, camera)
        if not sessions:
            return self._ended.get(key, "no_feed")
        latest = sessions[-1]
        if latest.peer is not None and latest.state in BROKEN:
            return "lost"
        if key in self._was_connected:
            return "reconnecting"
        return self._ended.get(key, "no_feed")

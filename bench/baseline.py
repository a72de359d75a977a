"""The bench's baseline: aiortc's own ``MediaRecorder`` behind the same signaling.

Run as ``python -m bench.baseline --port PORT --dir DIR``. It speaks
the subset of docs/signaling.md the load generator uses (``open_session``,
``offer``, ``start_take``, ``stop_take``; no cookie), answers each offer
with a plain aiortc peer connection, and records each take with
``MediaRecorder`` to a WebM file: every frame decoded by aiortc and encoded
again with libvpx/libopus, the way the design notes measured it. The
take's video and audio frames are counted in the file with PyAV.

``max_lag_ms`` here is how late a frame reached the encoder, against the
media clock anchored at the take's first frame: the recorder's backlog.

With ``--relay`` it records nothing and relays instead, as a plain aiortc
server would with ``aiortc.contrib.media.MediaRelay``: each candidate's tracks
are decoded once by aiortc's receiver (a sink subscription keeps them read;
a take's manifest counts the frames it saw), and each viewer session
(``open_session`` with role ``viewer`` and the candidate's ``session_id`` as
``candidate_id``, then a receive-only ``offer``) gets its own subscription,
encoded again by its own ``RTCRtpSender``. ``watch_wall`` makes a picture of
each candidate's latest decoded frame every :data:`WALL_INTERVAL_S` (scaled to
320x240, a JPEG, in a thread), pushes ``wall_tiles`` and serves it at
``/pictures/<session_id>``: the shape of docs/signaling.md's wall, reduced to
what the bench reads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import socketio
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRecorder, MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.ice import offer_host_addresses
from media.picture_codec import MAX_SIZE, encode_jpeg, fit

log = logging.getLogger(__name__)

WALL_INTERVAL_S = 2.5


class LagTrack(MediaStreamTrack):
    """Passes a remote track's frames on, noting how late each one is."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._anchor: tuple[float, float] | None = None  # (monotonic, media seconds)
        self.max_lag_s = 0.0

    async def recv(self) -> Any:
        frame = await self._source.recv()
        if frame.pts is not None and frame.time_base is not None:
            media = float(frame.pts * frame.time_base)
            now = time.monotonic()
            if self._anchor is None:
                self._anchor = (now, media)
            lag = (now - self._anchor[0]) - (media - self._anchor[1])
            self.max_lag_s = max(self.max_lag_s, lag)
        return frame


@dataclass
class Session:
    id: str
    pc: RTCPeerConnection | None = None
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    recorder: MediaRecorder | None = None
    lag_tracks: list[LagTrack] = field(default_factory=list)
    take_id: str = ""
    path: Path | None = None
    # --relay
    relay: MediaRelay | None = None
    sinks: list[asyncio.Task[None]] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    counted: dict[str, int] = field(default_factory=dict)  # frames at start_take
    latest: tuple[Any, float] | None = None  # the last decoded picture, time.time()
    watches: str = ""  # a viewer session: the candidate's session id


class BaselineNamespace(socketio.AsyncNamespace):
    def __init__(self, directory: Path, relay: bool = False) -> None:
        super().__init__("/")
        self._dir = directory
        self._relay = relay
        self._sessions: dict[str, Session] = {}
        self._pictures: dict[str, tuple[bytes, int, float]] = {}  # session -> jpeg, seq, at
        self._walls: set[str] = set()  # sids watching
        self._wall_task: asyncio.Task[None] | None = None

    async def on_open_session(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = Session(secrets.token_hex(8))
        if data.get("role") == "viewer":
            if not self._relay or data.get("candidate_id") not in self._sessions:
                return _error("not_found", "no such candidate (viewers need --relay)")
            session.watches = data["candidate_id"]
        self._sessions[session.id] = session
        return {"session_id": session.id, "role": "primary", "state": "new", "take_id": None}

    async def on_close_session(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = self._sessions.pop(data.get("session_id", ""), None)
        if session is not None and session.pc is not None:
            await session.pc.close()
        return {"session_id": data.get("session_id"), "closed": session is not None}

    async def on_offer(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = self._sessions.get(data.get("session_id", ""))
        if session is None:
            return _error("not_found", "no such media session")
        if session.watches:
            return await self._viewer_offer(session, data["sdp"])
        # No ICE servers: aiortc's default would contact a public STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session.pc = pc
        session.tracks = []

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            session.tracks.append(track)
            if self._relay:
                if session.relay is None:
                    session.relay = MediaRelay()
                sink = session.relay.subscribe(track, buffered=False)
                session.sinks.append(asyncio.ensure_future(_sink(session, sink)))

        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"type": "answer", "sdp": pc.localDescription.sdp}

    async def _viewer_offer(self, session: Session, sdp: str) -> dict[str, Any]:
        source = self._sessions.get(session.watches)
        if source is None or source.relay is None:
            return _error("not_found", "the candidate has no tracks")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session.pc = pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for track in source.tracks:  # fills the offer's receive-only sections of each kind
            pc.addTrack(source.relay.subscribe(track, buffered=False))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"type": "answer", "sdp": pc.localDescription.sdp}

    async def on_watch_wall(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        self._walls.add(sid)
        await self.enter_room(sid, "wall")
        if self._wall_task is None:
            self._wall_task = asyncio.ensure_future(self._make_pictures())
        return {"exam_id": data.get("exam_id"), "tiles": self._tiles(self._pictures)}

    async def on_unwatch_wall(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await self._leave_wall(sid)
        return {"exam_id": data.get("exam_id"), "watching": False}

    async def on_disconnect(self, sid: str) -> None:
        await self._leave_wall(sid)

    async def _leave_wall(self, sid: str) -> None:
        self._walls.discard(sid)
        if not self._walls and self._wall_task is not None:
            self._wall_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._wall_task
            self._wall_task = None

    async def _make_pictures(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            changed = {}
            for session in list(self._sessions.values()):
                if session.latest is None:
                    continue
                frame, at = session.latest
                jpeg = await loop.run_in_executor(None, _small_jpeg, frame)
                seq = self._pictures.get(session.id, (b"", 0, 0.0))[1] + 1
                self._pictures[session.id] = changed[session.id] = (jpeg, seq, at)
            if changed:
                await self.emit("wall_tiles", {"tiles": self._tiles(changed)}, room="wall")
            await asyncio.sleep(WALL_INTERVAL_S)

    @staticmethod
    def _tiles(pictures: dict[str, tuple[bytes, int, float]]) -> list[dict[str, Any]]:
        return [
            {
                "candidate_id": session_id,
                "cameras": {
                    "primary": {
                        "picture": {"seq": seq, "taken_at": at, "url": f"/pictures/{session_id}"}
                    }
                },
            }
            for session_id, (_jpeg, seq, at) in pictures.items()
        ]

    def picture(self, session_id: str) -> bytes | None:
        found = self._pictures.get(session_id)
        return None if found is None else found[0]

    async def on_start_take(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = self._sessions.get(data.get("session_id", ""))
        if session is None or not session.tracks:
            return _error("not_found", "no such media session with tracks")
        if self._relay:
            session.take_id = secrets.token_hex(8)
            session.counted = dict(session.frames)
            return {"take_id": session.take_id, "session_id": session.id, "state": "recording"}
        if session.recorder is not None:
            return _error("conflict", "this session is already recording")
        session.take_id = secrets.token_hex(8)
        session.path = self._dir / f"{session.take_id}.webm"
        session.recorder = MediaRecorder(str(session.path))
        session.lag_tracks = [LagTrack(t) for t in session.tracks]
        for track in session.lag_tracks:
            session.recorder.addTrack(track)
        await session.recorder.start()
        return {"take_id": session.take_id, "session_id": session.id, "state": "recording"}

    async def on_stop_take(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = next(
            (s for s in self._sessions.values() if s.take_id and s.take_id == data.get("take_id")),
            None,
        )
        if session is not None and self._relay:
            seen = {k: n - session.counted.get(k, 0) for k, n in session.frames.items()}
            streams = [{"kind": kind, "frames": n} for kind, n in seen.items()]
            return {
                "take_id": session.take_id,
                "session_id": session.id,
                "state": "stored",
                "manifest": {"segments": [{"index": 0, "streams": streams}], "gaps": []},
            }
        if session is None or session.recorder is None or session.path is None:
            return _error("not_found", "no such take")
        await session.recorder.stop()
        session.recorder = None
        counts = await asyncio.get_running_loop().run_in_executor(None, count_frames, session.path)
        lag = max((t.max_lag_s for t in session.lag_tracks), default=0.0)
        manifest = {
            "segments": [
                {
                    "index": 0,
                    "file": session.path.name,
                    "container": "webm",
                    "size": session.path.stat().st_size,
                    "streams": [{"kind": kind, "frames": n} for kind, n in counts.items()],
                }
            ],
            "gaps": [],
            "stats": {"max_lag_ms": round(lag * 1000, 1)},
        }
        return {
            "take_id": session.take_id,
            "session_id": session.id,
            "state": "stored",
            "manifest": manifest,
        }

    async def close_all(self) -> None:
        for session in self._sessions.values():
            if session.recorder is not None:
                await session.recorder.stop()
            if session.pc is not None:
                await session.pc.close()
            for task in session.sinks:
                task.cancel()


async def _sink(session: Session, track: MediaStreamTrack) -> None:
    """Keep a relayed track read (aiortc decodes every frame it receives either way)."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        session.frames[track.kind] += 1
        if track.kind == "video":
            session.latest = (frame, time.time())


def _small_jpeg(frame: Any) -> bytes:
    width, height = fit(frame.width, frame.height, MAX_SIZE)
    return encode_jpeg(frame.reformat(width=width, height=height, format="yuv420p"))


def count_frames(path: Path) -> dict[str, int]:
    """Video and audio packets in a media file (one packet per frame in WebM)."""
    counts = {"video": 0, "audio": 0}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.dts is not None and packet.stream.type in counts:
                counts[packet.stream.type] += 1
    return counts


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(directory: Path, relay: bool = False) -> web.Application:
    offer_host_addresses(("127.0.0.1",), only=True)
    directory.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app.router.add_get("/api/health", _health)
    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
    sio.attach(app, socketio_path="socket.io")
    namespace = BaselineNamespace(directory, relay)
    sio.register_namespace(namespace)

    async def picture(request: web.Request) -> web.Response:
        jpeg = namespace.picture(request.match_info["session_id"])
        if jpeg is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )

    app.router.add_get("/pictures/{session_id}", picture)

    async def shutdown(app: web.Application) -> None:
        await namespace.close_all()

    app.on_shutdown.append(shutdown)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where the recordings go")
    parser.add_argument("--event-loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--relay", action="store_true", help="relay to viewers with MediaRelay; record nothing"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    loop: asyncio.AbstractEventLoop
    if args.event_loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(
        create_app(args.dir, args.relay),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()

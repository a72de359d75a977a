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
"""

from __future__ import annotations

import argparse
import asyncio
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
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamTrack

from media.ice import offer_host_addresses

log = logging.getLogger(__name__)


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


class BaselineNamespace(socketio.AsyncNamespace):
    def __init__(self, directory: Path) -> None:
        super().__init__("/")
        self._dir = directory
        self._sessions: dict[str, Session] = {}

    async def on_open_session(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = Session(secrets.token_hex(8))
        self._sessions[session.id] = session
        return {"session_id": session.id, "role": "primary", "state": "new", "take_id": None}

    async def on_offer(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = self._sessions.get(data.get("session_id", ""))
        if session is None:
            return _error("not_found", "no such media session")
        # No ICE servers: aiortc's default would contact a public STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session.pc = pc
        session.tracks = []

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            session.tracks.append(track)

        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"type": "answer", "sdp": pc.localDescription.sdp}

    async def on_start_take(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = self._sessions.get(data.get("session_id", ""))
        if session is None or not session.tracks:
            return _error("not_found", "no such media session with tracks")
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


def create_app(directory: Path) -> web.Application:
    offer_host_addresses(("127.0.0.1",))
    directory.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app.router.add_get("/api/health", _health)
    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
    sio.attach(app, socketio_path="socket.io")
    namespace = BaselineNamespace(directory)
    sio.register_namespace(namespace)

    async def shutdown(app: web.Application) -> None:
        await namespace.close_all()

    app.on_shutdown.append(shutdown)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where the recordings go")
    parser.add_argument("--event-loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    loop: asyncio.AbstractEventLoop
    if args.event_loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(
        create_app(args.dir),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()

"""The Socket.IO signaling server, on the same aiohttp app and port as HTTP.

A connection is authenticated by the same session cookie as HTTP requests:
only a logged-in account connects, and everything it records is owned by it.
Each handler parses its message (``signaling.messages``), calls one domain
or media function, and acknowledges with the result or with the error body
HTTP uses. Events for a person's devices go to the room ``owner:<id>``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web

from exams.errors import (
    Conflict,
    ExamcastError,
    InvalidInput,
    TooManyRequests,
    Unauthenticated,
    error_body,
)
from exams.takes import Take, TakeService
from media.hub import MediaHub, MediaSession
from pairing.service import PairingService
from signaling import messages
from signaling.ratelimit import TokenBucket

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
OwnerLookup = Callable[[str | None], Awaitable[str | None]]  # Cookie header -> owner id

# Per connection: a page sends a handful of messages per take; a flood is refused.
MESSAGES_PER_SECOND = 10
MESSAGE_BURST = 30


def owner_room(owner: str) -> str:
    return f"owner:{owner}"


class MediaNamespace(socketio.AsyncNamespace):
    def __init__(
        self, hub: MediaHub, takes: TakeService, max_sdp_bytes: int, owner_of: OwnerLookup
    ) -> None:
        super().__init__("/")
        self._owner_of = owner_of
        self._hub = hub
        self._takes = takes
        self._max_sdp = max_sdp_bytes
        self.pairing: PairingService | None = None  # set once the exam services exist

    # -- connection ------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        owner = await self._owner_of(environ.get("HTTP_COOKIE"))
        if owner is None:
            error = Unauthenticated("log in first, then reload the page")
            # The client receives {"message": ..., "data": {"code": ..., "message": ...}}.
            raise socketio.exceptions.ConnectionRefusedError(
                error.message, error.to_json()["error"]
            )
        bucket = TokenBucket(MESSAGES_PER_SECOND, MESSAGE_BURST)
        await self.save_session(sid, {"owner": owner, "sessions": set(), "bucket": bucket})
        await self.enter_room(sid, owner_room(owner))

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        state = await self.get_session(sid)
        for session_id in state["sessions"]:
            self._hub.detach(session_id)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route client events through :func:`messages.parse` and the one error shape."""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid = args[0]
        handler: Handler | None = getattr(self, f"handle_{event}", None)
        try:
            if not (await self.get_session(sid))["bucket"].take():
                raise TooManyRequests("too many messages; wait a moment and try again")
            if handler is None or event not in messages.CLIENT_EVENTS:
                raise InvalidInput(f"unknown event {event!r}")
            data = args[1] if len(args) > 1 else None
            return await handler(sid, messages.parse(event, data, max_sdp_bytes=self._max_sdp))
        except ExamcastError as exc:
            return exc.to_json()
        except Exception:
            log.exception("signaling event %s failed", event)
            return error_body("internal", "something went wrong on the server; try again")

    async def _owner(self, sid: str) -> tuple[str, set[str]]:
        state = await self.get_session(sid)
        return state["owner"], state["sessions"]

    # -- events ----------------------------------------------------------------------------

    async def handle_open_session(self, sid: str, msg: dict[str, Any]) -> dict[str, Any]:
        owner, sessions = await self._owner(sid)
        pairing_id = msg.get("pairing_id")
        if msg["role"] == "secondary" and msg.get("resume") is None:
            if pairing_id is None or self.pairing is None:
                raise InvalidInput(
                    "open_session: a second camera needs its pairing_id: scan the QR code first"
                )
            link = self.pairing.check_open(owner, pairing_id)
            session = self._hub.open(owner, "secondary", attempt_id=link.attempt_id)
            await self.pairing.session_opened(pairing_id, session.id)
        else:
            if pairing_id is not None and msg.get("resume") is None:
                raise InvalidInput("open_session: pairing_id is for the secondary role only")
            session = self._hub.open(owner, msg["role"], msg.get("resume"))
        sessions.add(session.id)
        return session.describe()

    async def handle_secondary_ready(self, sid: str, msg: dict[str, Any]) -> dict[str, Any]:
        owner, _ = await self._owner(sid)
        if self.pairing is None:
            raise Conflict("second cameras are not available on this server")
        return await self.pairing.ready(owner, msg["session_id"])

    async def handle_offer(self, sid: str, msg: dict[str, Any]) -> dict[str, Any]:
        owner, _ = await self._owner(sid)
        answer = await self._hub.offer(msg["session_id"], owner, msg["sdp"])
        return {"type": "answer", "sdp": answer}

    async def handle_start_take(self, sid: str, msg: dict[str, Any]) -> dict[str, Any]:
        owner, _ = await self._owner(sid)
        session = self._hub.get(msg["session_id"])
        if session is not None and session.role != "primary":
            raise Conflict("the second camera records with the first one; start on that device")
        take = await self._takes.start(owner, msg["session_id"], msg["purpose"])
        return take.summary()

    async def handle_stop_take(self, sid: str, msg: dict[str, Any]) -> dict[str, Any]:
        owner, _ = await self._owner(sid)
        take = await self._takes.stop(msg["take_id"], owner=owner)
        return take.summary()

    async def handle_close_session(self, sid: str, msg: dict[str, Any]) -> dict[str, Any]:
        owner, sessions = await self._owner(sid)
        sessions.discard(msg["session_id"])
        session = await self._hub.close(msg["session_id"], owner)
        return {"session_id": msg["session_id"], "closed": session is not None}


class SocketNotifier:
    """Implements ``exams.takes.Notifier`` and relays session states."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def take_event(self, event: str, take: Take) -> None:
        await self._sio.emit(event, take.summary(), room=owner_room(take.owner))

    async def session_state(self, session: MediaSession, state: str) -> None:
        await self._sio.emit("session_state", session.describe(), room=owner_room(session.owner))

    async def secondary_state(self, owner: str, event: dict[str, Any]) -> None:
        """Implements ``pairing.service.LinkNotifier``: to every device of the candidate."""
        await self._sio.emit("secondary_state", event, room=owner_room(owner))


def create_server(max_message_bytes: int) -> socketio.AsyncServer:
    # The transport's cap is well above max_sdp_bytes, so an oversized SDP
    # still gets a proper error acknowledgement rather than a dropped connection.
    return socketio.AsyncServer(
        async_mode="aiohttp",
        max_http_buffer_size=max_message_bytes,
        logger=False,
        engineio_logger=False,
    )


def attach(sio: socketio.AsyncServer, app: web.Application) -> None:
    sio.attach(app, socketio_path="socket.io")

"""The Socket.IO signaling server, on the same aiohttp app and port as HTTP.

A connection is authenticated by the same session cookie as HTTP requests:
only a logged-in account whose role has socket events (:mod:`signaling.access`)
connects, and everything it records is owned by it. A connection acts for the
log-in session it was opened with, while that session lives and the role is
unchanged: a session ended in this process (log-out, expiry, role change,
"log out everywhere") closes its connections at once, and every connection's
session is re-checked at most every few seconds (the ones ended by another
process, such as ``examcast grant``). Caps and message budgets hold per
account (:mod:`signaling.connections`).

``connect`` and ``disconnect`` are the server's own: a client event with one
of those names is refused like an unknown event. Each handler parses its
message (``signaling.messages``), calls one domain or media function, and
acknowledges with the result or with the error body HTTP uses. Events for a
person's devices go to the room ``owner:<id>``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol

import socketio
from aiohttp import web

from exams.catalog.media_profile import DEFAULT, MediaProfile, shortfalls
from exams.catalog.takes import Take, TakeService
from exams.identity.accounts import Account
from exams.identity.sessions import Ended
from exams.proctoring.page_events import PageEvents
from exams.shared.errors import (
    Conflict,
    ExamcastError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    error_body,
)
from exams.shared.ports import AuditLog, Clock, Entry, Event
from media.hub import PRIMARY, MediaHub, MediaSession
from pairing.service import PairingService, check_may_start_take
from signaling import access, messages, packets
from signaling.actions import ActionSignals
from signaling.connections import Connection, Connections, is_due
from signaling.deadline_moves import DeadlineFollower
from signaling.routing import RouteCheck, route_of
from signaling.take_moves import TakeFollower
from signaling.viewers import VIEWER, ViewerSignals, check_role
from signaling.wall import WallRooms

log = logging.getLogger(__name__)

Handler = Callable[[Connection, dict[str, Any]], Awaitable[dict[str, Any]]]
RESERVED_EVENTS = ("connect", "disconnect")
# (owner, exam_id named by the page, a second camera's attempt) -> that exam's media profile
MediaProfiles = Callable[[str, str | None, str | None], Awaitable[MediaProfile]]
HEARTBEATS = ("time",)  # the pages' heartbeat: no activity on the log-in session
SWEEP_EVERY_S = 1.0  # on the clock; each connection is looked up only when due (RECHECK_S)
# Engine.IO's ping: a connection silent for PING_INTERVAL_S + PING_TIMEOUT_S is closed (and its
# media sessions' grace starts) -- python-socketio's defaults (25 + 20 s) kept a dead page for
# ~45 s. The pages notice sooner by their own heartbeat (``time``), the media by its silence.
PING_INTERVAL_S, PING_TIMEOUT_S = 5, 5


class SocketAuth(Protocol):
    """Implemented by ``web.auth.Authenticator``."""

    async def account_for_token(
        self, token: str | None, *, touch: bool = True
    ) -> Account | None: ...

    def socket_client(self, environ: dict[str, Any]) -> str:
        """The client's address of a connect's WSGI environ (for the audit)."""
        ...


async def default_profile(owner: str, exam_id: str | None, attempt_id: str | None) -> MediaProfile:
    return DEFAULT


def owner_room(owner: str) -> str:
    return f"owner:{owner}"


def _refuse(error: ExamcastError) -> NoReturn:
    # The client receives {"message": ..., "data": {"code": ..., "message": ...}}.
    raise socketio.exceptions.ConnectionRefusedError(error.message, error.to_json()["error"])


class MediaNamespace(socketio.AsyncNamespace):
    def __init__(
        self,
        hub: MediaHub,
        takes: TakeService,
        max_sdp_bytes: int,
        auth: SocketAuth,
        token_of: Callable[[dict[str, Any]], str | None],
        clock: Clock,
        pairing: PairingService,
        *,
        max_connections_per_account: int,
        viewers: ViewerSignals,
        wall: WallRooms,
        audit: AuditLog,
        page_events: PageEvents,
        actions: ActionSignals,
        ice_servers: Callable[[str], list[dict[str, Any]]] = lambda account_id: [],
        pictured: Callable[[str], bool] = lambda owner: False,
        routes: RouteCheck | None = None,
        follower: TakeFollower | None = None,
        deadlines: DeadlineFollower | None = None,
        media_profile: MediaProfiles = default_profile,
    ) -> None:
        super().__init__("/")
        # the exam's sound and picture a camera's answer asks for (issue #18)
        self._media_profile = media_profile
        # a take whose node died continues here when its candidate's camera opens here
        self.follower = follower
        # an attempt's deadlines follow its candidate's camera here (decision 0026)
        self.deadlines = deadlines
        self._ice_servers = ice_servers  # the pages' TURN servers and credentials, per account
        # whether the node pictures an owner's cameras now (a wall or a detector watches):
        # their pages send the preview (media.preview) only then
        self._pictured = pictured
        # c= of the connections that carry a candidate's media (signaling.routing)
        self.routes = routes if routes is not None else RouteCheck("", clustered=False)
        self._actions = actions  # proctors' messages, extra time, ending; raised hands
        self._page_events = page_events  # what candidates' question pages report of themselves
        self._wall = wall  # proctors watching an exam's wall of tiles
        self._audit = audit  # refused events are written to it
        self._viewers = viewers  # proctors watching candidates live
        self._auth = auth
        self._token_of = token_of  # the connect's WSGI environ -> session token
        self._clock = clock
        self._hub = hub
        self._takes = takes
        self._max_sdp = max_sdp_bytes
        self.connections = Connections(clock, max_per_account=max_connections_per_account)
        self._ended_seen = 0  # sessions ended so far (a connect that raced one looks again)
        self._closing: set[asyncio.Task[None]] = set()
        self._pairing = pairing

    # -- connection ------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = self._token_of(environ)
        ended_before = self._ended_seen
        account = await self._auth.account_for_token(token)
        if account is None or token is None:
            _refuse(Unauthenticated("log in first, then reload the page"))
        if not access.may_connect(account.role):
            _refuse(access.refusal(account.role))
        try:
            conn = self.connections.add(sid, account, token)  # the per-account cap
        except Conflict as exc:
            _refuse(exc)
        conn.client = self._auth.socket_client(environ)
        conn.route = route_of(environ)
        try:
            if self._ended_seen != ended_before and not await self._live(conn, touch=False):
                conn.closing = True
            if conn.closing:  # its session ended while the connection was being set up
                _refuse(Unauthenticated("log in first, then reload the page"))
            await self.enter_room(sid, owner_room(account.owner))
        except BaseException:
            self.connections.remove(sid)
            raise

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.remove(sid)
        self._viewers.disconnected(sid)
        await self._wall.left(sid)
        if conn is not None:
            conn.closing = True
            for session_id in conn.sessions:
                self._hub.detach(session_id)

    def _is_own_event(self, event: str, sid: str) -> bool:
        """The server's real connect/disconnect, not a client event of that name.

        A real ``connect`` runs while the connection is pending (the server is
        created without ``always_connect``) and a real ``disconnect`` once it is
        going away. Client events are dispatched only on a fully connected
        connection; one that is handled late, as its connection goes away, may
        pass for a ``disconnect`` (which then happens anyway), never for a ``connect``.
        """
        manager = self.server.manager
        if event == "connect":
            return bool(manager.is_pre_connected(sid, self.namespace))
        return not manager.is_connected(sid, self.namespace) and not manager.is_pre_connected(
            sid, self.namespace
        )

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route client events through :func:`messages.parse` and the one error shape."""
        sid = args[0]
        if event in RESERVED_EVENTS and self._is_own_event(event, sid):
            return await super().trigger_event(event, *args)
        conn = self.connections.get(sid)
        if conn is None:
            return Unauthenticated("this connection has ended; reload the page").to_json()
        conn.in_flight += 1
        try:
            return await self._dispatch(conn, event, args[1] if len(args) > 1 else None)
        except ExamcastError as exc:
            return exc.to_json()
        except Exception:
            log.exception("signaling event %s failed", event)
            return error_body("internal", "something went wrong on the server; try again")
        finally:
            conn.in_flight -= 1
            if self.connections.get(sid) is not conn:  # it closed meanwhile: let go of it all
                for session_id in conn.sessions:
                    self._hub.detach(session_id)
            if conn.in_flight == 0:
                conn.settled.set()  # a close waiting for this acknowledgement may go on

    async def _dispatch(self, conn: Connection, event: str, data: Any) -> dict[str, Any]:
        if not self.connections.spend(conn):
            raise TooManyRequests("too many messages; wait a moment and try again")
        if event == packets.REFUSED:  # JSON the server would not read (signaling.packets)
            raise InvalidInput(str(data))
        if event in RESERVED_EVENTS:
            raise InvalidInput(f"{event!r} is the connection's own event; a client cannot send it")
        handler: Handler | None = getattr(self, f"handle_{event}", None)
        if handler is None or event not in messages.CLIENT_EVENTS:
            raise InvalidInput(f"unknown event {event!r}")
        # The heartbeat is no activity of the person: an abandoned page's log-in still ends
        # after session_idle_s (the sweep re-checks its session all the same).
        touching = event not in HEARTBEATS
        if conn.closing or (
            touching
            and is_due(conn.touched_at, self._clock())
            and not await self._live(conn, touch=True)
        ):
            self._close_soon(conn)
            raise Unauthenticated(
                "your log-in has ended (logged out, expired or your role changed); "
                "log in again, then reload the page"
            )
        try:
            access.require(conn.role, event)
        except Forbidden:
            await self._refused(conn, event)
            raise
        return await handler(conn, messages.parse(event, data, max_sdp_bytes=self._max_sdp))

    async def _refused(self, conn: Connection, event: str) -> None:
        detail = {"what": "socket_event", "event": event, "role": conn.role.value}
        await self._audit.record(
            Entry(Event.ACCESS_DENIED, conn.account_id, conn.client, detail, self._clock())
        )

    # -- live sessions ---------------------------------------------------------------------

    async def _live(self, conn: Connection, *, touch: bool) -> bool:
        """Look the connection's session up again: it lives, for the same account and role.

        ``touch``: a message on it counts as activity on the log-in session (as an
        HTTP request does); the sweep's look-ups do not, so an abandoned page still
        lets its session end after ``session_idle_s``.
        """
        now = self._clock()
        account = await self._auth.account_for_token(conn.token, touch=touch)
        if account is None or account.id != conn.account_id or account.role != conn.role:
            return False
        conn.checked_at = now
        if touch:
            conn.touched_at = now
        return True

    async def session_ended(self, ended: Ended) -> None:
        """Listens on ``Sessions.on_ended``: close the connections of the ended sessions."""
        self._ended_seen += 1
        for conn in self.connections.covered(ended):
            self._close_soon(conn)

    def _close_soon(self, conn: Connection) -> None:
        """Stop the connection acting now; close it once its acknowledgements are out."""
        if conn.closing:
            return
        conn.closing = True
        task = asyncio.ensure_future(self._close_when_settled(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_when_settled(self, conn: Connection) -> None:
        # An event being handled is acknowledged first: the acknowledgement is queued in
        # the same step trigger_event returns in, before this task runs again.
        while conn.in_flight:
            conn.settled.clear()
            await conn.settled.wait()
        if self.connections.get(conn.sid) is not conn:
            return  # closed already, or refused while it was connecting
        try:
            await self.disconnect(conn.sid)
        except Exception:
            log.exception("could not close the connection of an ended session")

    async def sweep(self) -> None:
        """Re-check connections whose check is due, then the live views whose check is due
        (the composition root runs this every :data:`SWEEP_EVERY_S` while the server runs)."""
        results: dict[str, bool] = {}  # token -> live (a device's connections share one)
        for conn in self.connections.due():
            if conn.closing:
                continue
            if conn.token not in results:
                results[conn.token] = await self._live(conn, touch=False)
            elif results[conn.token]:
                conn.checked_at = self._clock()
            if not results[conn.token]:
                self._close_soon(conn)
        self.connections.prune()
        try:
            await self._viewers.sweep()  # open live views whose permission check is due
        except Exception:
            log.exception("could not re-check the open live views")

    async def stop(self) -> None:
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._viewers.stop()
        await self._wall.stop()
        if self.follower is not None:
            await self.follower.stop()
        if self.deadlines is not None:
            await self.deadlines.stop()

    # -- events ----------------------------------------------------------------------------

    async def handle_open_session(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        check_role(conn, msg["role"])
        if msg["role"] == VIEWER:
            viewed = await self._viewers.open(conn, msg)
            self.routes.check(conn.route, msg["candidate_id"], "a live view")
            return {**viewed, "ice_servers": self._ice_servers(conn.account_id)}
        if "exam_id" in msg or "candidate_id" in msg:
            raise InvalidInput("open_session: exam_id and candidate_id are for viewer sessions")
        owner, role, resume = conn.owner, msg["role"], msg.get("resume")

        def open_media(attempt_id: str | None) -> MediaSession:
            if attempt_id is not None:
                session = self._hub.open(owner, role, attempt_id=attempt_id)
            else:
                session = self._hub.open(owner, role, resume)
            conn.sessions.add(session.id)
            return session

        session = await self._pairing.open_session(
            owner, role, msg.get("pairing_id"), resume, open_media
        )
        self.routes.check(conn.route, owner, f"a {role} camera")
        if resume is None and self.follower is not None:
            self.follower.opened(owner)  # its take, if its node died, continues here
        if role == PRIMARY and self.deadlines is not None:  # the attempts' timers come here
            moving = None if self.follower is None else self.follower.following(owner)
            self.deadlines.opened(owner, moving)
        return {**session.describe(), "ice_servers": self._ice_servers(conn.account_id)}

    async def handle_secondary_ready(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._pairing.ready(conn.owner, msg["session_id"])

    async def handle_offer(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        if self._viewers.owns(conn, msg["session_id"]):
            return await self._viewers.offer(conn, msg)
        session = self._hub.get(msg["session_id"])
        attempt_id = None if session is None or session.owner != conn.owner else session.attempt_id
        profile = await self._media_profile(conn.owner, msg.get("exam_id"), attempt_id)
        preview = msg.get("preview")
        answer = await self._hub.offer(msg["session_id"], conn.owner, msg["sdp"], profile, preview)
        # "media": what the page's senders set (bitrates, priority; the preview's size and
        # rate, media.preview), the answer's own
        media = {**profile.sending(), "preview": self._hub.preview_asked(preview)}
        return {"type": "answer", "sdp": answer, "media": media}

    async def handle_media_received(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        """What the server receives of the session's camera while it records a take (the
        live quality meter), the exam's needs, and where it falls short of them."""
        session = self._hub.get(msg["session_id"])
        if session is None or session.owner != conn.owner:
            raise NotFound("no such media session; open one and send your offer first")
        profile = await self._media_profile(conn.owner, msg.get("exam_id"), session.attempt_id)
        meter = self._hub.quality_meter(session.id)
        if meter is None:  # it records no take: nothing is measured
            return {"received": None, "needs": profile.sending(), "short": []}
        await meter.measure_bandwidth()
        received = meter.snapshot()
        return {
            "received": received,
            "needs": profile.sending(),
            "short": shortfalls(profile, received),
        }

    async def handle_start_take(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        session = self._hub.get(msg["session_id"])
        check_may_start_take(None if session is None else session.role)
        take = await self._takes.start(conn.owner, msg["session_id"], msg["purpose"])
        return take.summary()

    async def handle_stop_take(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        take = await self._takes.stop(msg["take_id"], owner=conn.owner)
        return take.summary()

    async def handle_page_event(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._page_events.report(conn.owner, msg["kind"])

    async def handle_watch_wall(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._wall.watch(conn.sid, conn.account_id, conn.client, msg["exam_id"])

    async def handle_unwatch_wall(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._wall.unwatch(conn.sid, msg["exam_id"])

    async def handle_send_message(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.send_message(conn, msg)

    async def handle_extend_time(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.extend_time(conn, msg)

    async def handle_end_attempt(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.end_attempt(conn, msg)

    async def handle_message_read(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.message_read(conn, msg)

    async def handle_raise_hand(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.raise_hand(conn, msg)

    async def handle_time(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        """The page's heartbeat: the server's clock (the page syncs its own to it) and, for
        each media session of this connection, whether its media flows and how much of the
        take it records the server holds (the recording counter shows that, not a guess),
        and whether to send its preview now."""
        sessions = []
        for session_id in sorted(conn.sessions):
            session = self._hub.get(session_id)
            if session is None or session.owner != conn.owner:
                continue
            state = session.describe()
            state["preview"] = self._pictured(session.owner)
            if session.take_id is not None:
                written = self._hub.written_s(session.take_id).get(session.role)
                state["recorded_s"] = None if written is None else round(written, 3)
            sessions.append(state)
        return {"now": self._clock(), "sessions": sessions}

    async def handle_close_session(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        if self._viewers.owns(conn, msg["session_id"]):
            return await self._viewers.close(conn, msg["session_id"])
        conn.sessions.discard(msg["session_id"])
        session = await self._hub.close(msg["session_id"], conn.owner)
        return {"session_id": msg["session_id"], "closed": session is not None}


class SocketNotifier:
    """Implements ``exams.catalog.takes.Notifier`` and relays session states."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def take_event(self, event: str, take: Take) -> None:
        await self._sio.emit(event, take.summary(), room=owner_room(take.owner))

    async def session_state(self, session: MediaSession, state: str) -> None:
        # ``state``: the peer connection's, or media_silent / media_back (media.hub)
        body = {**session.describe(), "state": state}
        await self._sio.emit("session_state", body, room=owner_room(session.owner))

    async def retake_granted(self, owner: str, body: dict[str, Any]) -> None:
        """A damaged formal take granted one more (issue #18): to every page of the candidate."""
        await self._sio.emit("retake_granted", body, room=owner_room(owner))

    async def secondary_state(self, owner: str, event: dict[str, Any]) -> None:
        """Implements ``pairing.service.LinkNotifier``: to every device of the candidate."""
        await self._sio.emit("secondary_state", event, room=owner_room(owner))

    async def viewer_state(self, sid: str, state: dict[str, Any]) -> None:
        """A watched candidate's cameras changed: to the viewer's connection."""
        await self._sio.emit("viewer_state", state, to=sid)

    async def viewer_closed(self, sid: str, body: dict[str, Any]) -> None:
        """The server closed a live view (its account may no longer watch): to its connection."""
        await self._sio.emit("viewer_closed", body, to=sid)


def create_server(
    max_message_bytes: int,
    same_origin: Callable[[str, dict[str, Any]], bool],
    client_manager: socketio.AsyncManager | None = None,
) -> socketio.AsyncServer:
    """``same_origin(origin, environ)``: whether a connection's ``Origin`` is this server's
    (Engine.IO's own check would believe any X-Forwarded-Host). ``client_manager``: e.g.
    ``socketio.AsyncRedisManager`` to reach clients connected to other nodes."""
    # The transport's cap is well above max_sdp_bytes, so an oversized SDP
    # still gets a proper error acknowledgement rather than a dropped connection.
    # always_connect stays off: MediaNamespace tells its real connect (a pending
    # connection) from a client event named "connect" by it.
    return socketio.AsyncServer(
        client_manager=client_manager,
        async_mode="aiohttp",
        always_connect=False,
        serializer=packets.BoundedPacket,
        cors_allowed_origins=same_origin,
        max_http_buffer_size=max_message_bytes,
        ping_interval=PING_INTERVAL_S,
        ping_timeout=PING_TIMEOUT_S,
        logger=False,
        engineio_logger=False,
    )


def attach(sio: socketio.AsyncServer, app: web.Application) -> None:
    sio.attach(app, socketio_path="socket.io")

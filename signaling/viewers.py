"""The socket side of viewer sessions: a proctor watching one candidate live.

Thin: :class:`exams.proctoring.watching.Watching` decides who may watch whom
(and audits it), :class:`media.viewers.ViewerHub` relays the cameras. A viewer
session lives on the connection that opened it: it closes with
``close_session`` or at once when that connection goes away.

Permission is checked when a view opens and again while it is open: the
socket sweep (:meth:`ViewerSignals.sweep`) re-checks each view whose last
check is :data:`RECHECK_S` old on the server's clock, so a proctor removed
from the exam (or an admin whose unit or role changed) stops watching within
about that long. Such a view is closed (audited ``viewer_closed`` with reason
``access_withdrawn``; the refusal itself is audited by the check) and its
connection is told ``viewer_closed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from exams.identity.accounts import Account, Role
from exams.proctoring.watching import Watch, Watching
from exams.shared.errors import ExamcastError, Forbidden, InvalidInput, Unauthenticated
from exams.shared.ports import Clock
from media.viewers import ViewerHub, ViewerSession

log = logging.getLogger(__name__)

VIEWER = "viewer"
RECHECK_S = 5.0  # an open view's permission is checked again this often (server clock)
WITHDRAWN = "access_withdrawn"  # the audited reason of a view closed by a re-check
StateSender = Callable[[str, dict[str, Any]], Awaitable[None]]  # (sid, viewer_state)
ClosedSender = Callable[[str, dict[str, Any]], Awaitable[None]]  # (sid, viewer_closed)


class AccountLookup(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


class ViewerConnection(Protocol):
    """What of a ``signaling.connections.Connection`` a viewer session needs."""

    sid: str
    account_id: str
    role: Role
    client: str  # the client's address, for the audit
    closing: bool


@dataclass(eq=False)
class _View:
    sid: str  # the connection it lives on
    checked_at: float  # when its permission was last checked


class ViewerSignals:
    def __init__(
        self,
        watching: Watching,
        viewers: ViewerHub,
        accounts: AccountLookup,
        send_state: StateSender,
        *,
        send_closed: ClosedSender,
        clock: Clock,
    ) -> None:
        self._watching = watching
        self._viewers = viewers
        self._accounts = accounts
        self._send_state = send_state
        self._send_closed = send_closed
        self._clock = clock
        self._by_sid: dict[str, set[str]] = {}  # sid -> its viewer sessions
        self._views: dict[str, _View] = {}  # session id -> its connection and last check
        self._closing: set[asyncio.Task[bool]] = set()

    def owns(self, conn: ViewerConnection, session_id: str) -> bool:
        return self._viewers.get(session_id, conn.account_id) is not None

    async def open(self, conn: ViewerConnection, msg: dict[str, Any]) -> dict[str, Any]:
        exam_id, candidate_id = msg.get("exam_id"), msg.get("candidate_id")
        if exam_id is None or candidate_id is None:
            raise InvalidInput("open_session: a viewer session needs exam_id and candidate_id")
        account = await self._accounts.get(conn.account_id)
        if account is None or account.role is not conn.role:
            raise Unauthenticated("your log-in has ended; log in again, then reload the page")
        self._viewers.admit()  # busy: the recording comes first (media.load)
        watch = await self._watching.open(account, exam_id, candidate_id, conn.client)
        session = self._viewers.open(
            account.id, candidate_id, exam_id, self._state_to(conn.sid), session_id=watch.id
        )
        if conn.closing:  # the connection went away while this was decided
            await self._close(session.id, "disconnected")
            raise Unauthenticated("this connection has ended; reload the page")
        self._by_sid.setdefault(conn.sid, set()).add(session.id)
        self._views[session.id] = _View(conn.sid, self._clock())
        return session.describe(self._viewers.cameras(candidate_id))

    async def offer(self, conn: ViewerConnection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._viewers.offer(msg["session_id"], conn.account_id, msg["sdp"])

    async def close(self, conn: ViewerConnection, session_id: str) -> dict[str, Any]:
        closed = False
        if self._viewers.get(session_id, conn.account_id) is not None:
            self._by_sid.get(conn.sid, set()).discard(session_id)
            self._views.pop(session_id, None)
            closed = await self._close(session_id, "closed")
        return {"session_id": session_id, "closed": closed}

    def disconnected(self, sid: str, reason: str = "disconnected") -> None:
        """The connection went away: its viewer sessions end now (no grace period)."""
        for session_id in self._by_sid.pop(sid, set()):
            self._views.pop(session_id, None)
            task = asyncio.ensure_future(self._close(session_id, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def stop(self) -> None:
        """At shutdown: every viewer session ends (audited as ``server_shutdown``)."""
        for sid in list(self._by_sid):
            self.disconnected(sid, "server_shutdown")
        await asyncio.gather(*list(self._closing), return_exceptions=True)

    async def sweep(self) -> None:
        """Re-check the open views whose last check is :data:`RECHECK_S` old; close those
        no longer allowed and tell their connections (``viewer_closed``).

        Views of the same watcher, exam and candidate share one check per sweep, so
        the storage reads are at most a few per view every :data:`RECHECK_S`."""
        now = self._clock()
        due = [
            (session_id, view)
            for session_id, view in self._views.items()
            if not view.checked_at <= now < view.checked_at + RECHECK_S
        ]
        outcomes: dict[tuple[str, str, str], ExamcastError | None] = {}
        for session_id, view in due:
            watch = self._watching.get(session_id)
            if watch is None or self._views.get(session_id) is not view:
                continue  # closed meanwhile
            key = (watch.watcher_id, watch.exam_id, watch.candidate_id)
            if key not in outcomes:
                outcomes[key] = await self._refusal(watch)
            refusal = outcomes[key]
            if refusal is None:
                view.checked_at = now
            elif self._views.get(session_id) is view:
                await self._withdraw(session_id, view, watch, refusal)

    async def _refusal(self, watch: Watch) -> ExamcastError | None:
        """Why ``watch``'s account may no longer watch (the refusal audited), or None."""
        try:
            account = await self._accounts.get(watch.watcher_id)
            if account is None:
                raise Unauthenticated("this account no longer exists; log in again")
            await self._watching.check(account, watch.exam_id, watch.candidate_id, watch.client)
        except ExamcastError as exc:
            return exc
        return None

    async def _withdraw(
        self, session_id: str, view: _View, watch: Watch, error: ExamcastError
    ) -> None:
        del self._views[session_id]
        self._by_sid.get(view.sid, set()).discard(session_id)
        if not await self._close(session_id, WITHDRAWN):
            return  # closed meanwhile by its page or its connection
        body = {
            "session_id": session_id,
            "exam_id": watch.exam_id,
            "candidate_id": watch.candidate_id,
            **error.to_json(),
        }
        try:
            await self._send_closed(view.sid, body)
        except Exception:
            log.exception("could not tell a viewer its live view was closed")

    async def _close(self, session_id: str, reason: str) -> bool:
        session = await self._viewers.close(session_id)
        watch = await self._watching.close(session_id, reason)
        return session is not None or watch is not None

    def _state_to(self, sid: str) -> Callable[[ViewerSession, dict[str, Any]], Awaitable[None]]:
        async def send(_session: ViewerSession, state: dict[str, Any]) -> None:
            await self._send_state(sid, state)

        return send


def check_role(conn: ViewerConnection, role: str) -> None:
    """Candidates open camera sessions, proctors and unit admins viewer sessions only."""
    if role == VIEWER and conn.role is Role.CANDIDATE:
        return  # refused by Watching.open, which audits it
    if role != VIEWER and conn.role is not Role.CANDIDATE:
        raise Forbidden(f"a {conn.role.value} opens viewer sessions only (role: viewer)")

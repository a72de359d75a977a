"""Proctor actions over Socket.IO: thin handlers over ``exams.proctoring.actions``.

Proctors (and the exam's unit admin) send ``send_message``, ``extend_time`` and
``end_attempt``; candidates send ``message_read`` and ``raise_hand``
(:mod:`signaling.access` says who may send which, :mod:`signaling.messages` checks
the fields). The candidate's devices, in the room ``owner:<id>``, are sent
``proctor_message``, ``deadline_changed``, ``attempt_ended`` and ``hand_state``;
the exam's wall (room ``wall:<exam_id>``) is sent ``message_read``.
"""

from __future__ import annotations

from typing import Any, Protocol

import socketio

from exams.identity.accounts import Account
from exams.proctoring.actions import ProctorActions
from exams.shared.errors import Unauthenticated
from signaling.connections import Connection
from signaling.wall import wall_room


class Accounts(Protocol):
    async def get(self, account_id: str) -> Account | None: ...


class ActionNotifier:
    """Implements ``exams.proctoring.actions.ActionNotifier``."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def to_candidate(self, candidate_id: str, event: str, body: dict[str, Any]) -> None:
        await self._sio.emit(event, body, room=f"owner:{candidate_id}")

    async def to_wall(self, exam_id: str, event: str, body: dict[str, Any]) -> None:
        await self._sio.emit(event, body, room=wall_room(exam_id))


class ActionSignals:
    def __init__(self, actions: ProctorActions, accounts: Accounts) -> None:
        self._actions = actions
        self._accounts = accounts

    async def _who(self, conn: Connection) -> Account:
        who = await self._accounts.get(conn.account_id)
        if who is None:
            raise Unauthenticated("this account no longer exists; log in again")
        return who

    async def send_message(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        note = await self._actions.send_message(
            await self._who(conn), msg["exam_id"], msg["candidate_id"], msg["text"], conn.client
        )
        return note.to_json()

    async def extend_time(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.give_time(
            await self._who(conn), msg["exam_id"], msg["candidate_id"], msg["minutes"], conn.client
        )

    async def end_attempt(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        return await self._actions.end_attempt(
            await self._who(conn), msg["exam_id"], msg["candidate_id"], msg["reason"], conn.client
        )

    async def message_read(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        note = await self._actions.read(await self._who(conn), msg["message_id"], conn.client)
        return note.for_candidate()

    async def raise_hand(self, conn: Connection, msg: dict[str, Any]) -> dict[str, Any]:
        hand = await self._actions.raise_hand(await self._who(conn), msg["exam_id"], conn.client)
        return {"exam_id": hand.exam_id, "hand_raised_at": hand.sent_at, "id": hand.id}

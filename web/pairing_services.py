"""Wiring of the second camera: one ``cleanup_ctx`` after the exam services.

The pairing service answers the take service (which sessions a starting take
records besides the primary), the attempt runner (may a formal take start?),
the media hub (sessions that change or close) and the signaling namespace
(``open_session`` as ``secondary``, ``secondary_ready``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from exams.attempts import Attempt
from media.hub import MediaSession
from pairing.service import PairingService
from pairing.store import MemoryPairingStore
from signaling.server import SocketNotifier
from web.keys import (
    ANSWERING,
    ATTEMPT_RUNNER,
    AUDIT,
    HUB,
    PAIRING,
    SETTINGS,
    SIGNALING,
    SOCKETS,
    TAKES,
)
from web.scheduling import wall_clock


async def pairing_context(app: web.Application) -> AsyncIterator[None]:
    hub, takes = app[HUB], app[TAKES]
    pairing = PairingService(
        MemoryPairingStore(),
        app[ANSWERING],
        app[AUDIT],
        wall_clock,
        SocketNotifier(app[SOCKETS]),
        ttl_s=app[SETTINGS].pairing_ttl_s,
    )
    pairing.media = hub
    pairing.cameras = takes

    async def media_changed(session: MediaSession, state: str) -> None:
        await pairing.media_changed(session.id)

    async def session_closed(session: MediaSession, reason: str) -> None:
        await pairing.session_closed(session.id, reason)

    async def attempt_changed(attempt: Attempt) -> None:
        if attempt.submitted_at is not None or attempt.closed_at is not None:
            await pairing.answer_over(attempt.id, "submitted" if attempt.submitted_at else "closed")

    app[ATTEMPT_RUNNER].after_run.append(attempt_changed)
    hub.on_state.append(media_changed)
    hub.on_lost.append(session_closed)
    takes.extra_cameras = pairing.extra_cameras
    takes.add_listener(pairing.on_take_event)
    app[ATTEMPT_RUNNER].secondary_ready = pairing.ready_for
    app[SIGNALING].pairing = pairing
    app[PAIRING] = pairing
    pairing.start()
    yield
    await pairing.close()

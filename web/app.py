"""The app factory: the one place concrete pieces are wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from exams.takes import Clock, TakeService
from media import ice, tap
from media.hub import MediaHub, MediaSession
from media.peers import PeerFactory
from media.writer import MuxPool
from signaling.server import MediaNamespace, SocketNotifier, attach, create_server
from storage.db import Database
from storage.private import make_private
from storage.takes import SqliteTakes
from web import proxies
from web.auth import session_cookie_middleware
from web.demo import demo_context
from web.errors import error_middleware
from web.exam_services import exams_context
from web.guards import guard_middleware, security_headers
from web.keys import (
    AUTH,
    CLOCK,
    DATABASE,
    HUB,
    MUX_POOL,
    OPENAPI,
    SETTINGS,
    SIGNALING,
    SOCKETS,
    TAKES,
)
from web.openapi import document
from web.pairing_services import pairing_context
from web.routes import STATIC, routes
from web.scheduling import LoopScheduler, wall_clock
from web.services import accounts_context
from web.settings import Settings
from web.slow_clients import body_rate_middleware
from web.views import APIS, DOCUMENTED_ELSEWHERE

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def create_app(settings: Settings, *, clock: Clock = wall_clock) -> web.Application:
    """The app; ``clock`` drives accounts, log-in sessions and connections (tests move it)."""
    tap.check_compatible()
    ice.offer_host_addresses(settings.ice_host_addresses)
    app = web.Application(
        middlewares=[
            error_middleware,
            guard_middleware,
            session_cookie_middleware(settings.trusted_proxies),
            body_rate_middleware(settings.body_grace_s, settings.body_min_rate),
        ],
        client_max_size=1024 * 1024,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app.add_routes(routes)
    for api in APIS:
        app.add_routes(api.routes)
    app[OPENAPI] = document([*APIS, *DOCUMENTED_ELSEWHERE], title="examcast", version=VERSION)
    app.router.add_static("/static", STATIC, append_version=True)
    app.on_response_prepare.append(security_headers)
    sio = create_server(settings.max_message_bytes, proxies.origin_check(settings.trusted_proxies))
    attach(sio, app)
    app[SOCKETS] = sio
    app.cleanup_ctx.append(_private_data_dir)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(accounts_context)
    app.cleanup_ctx.append(_mux_pool)
    app.cleanup_ctx.append(_media)
    app.cleanup_ctx.append(exams_context)
    app.cleanup_ctx.append(pairing_context)
    if settings.demo:
        app.cleanup_ctx.append(demo_context)  # after _media: it needs app[TAKES], recovered
    return app


async def _private_data_dir(app: web.Application) -> AsyncIterator[None]:
    changed = await asyncio.to_thread(make_private, app[SETTINGS].data_dir)
    if changed:
        log.warning(
            "made %d file(s) and folder(s) in the data directory private (0700/0600)", changed
        )
    yield


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[SETTINGS].database_path)
    await db.open()
    app[DATABASE] = db
    yield
    await db.close()


async def _mux_pool(app: web.Application) -> AsyncIterator[None]:
    pool = MuxPool(app[SETTINGS].writer_threads)
    app[MUX_POOL] = pool
    yield
    await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)


async def _media(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    hub = MediaHub(
        PeerFactory(
            settings.ice_servers,
            settings.ice_username,
            settings.ice_credential,
            settings.max_sdp_bytes,
            settings.start_bitrate_kbps,
        ),
        app[MUX_POOL],
        settings.recordings_dir,
        queue_limit=settings.recorder_queue_bytes,
        keyframe_interval=settings.keyframe_interval_ms / 1000,
        reconnect_grace=settings.reconnect_grace_s,
        max_sessions_per_owner=settings.max_media_sessions_per_account,
    )
    notifier = SocketNotifier(app[SOCKETS])
    takes = TakeService(
        SqliteTakes(app[DATABASE]),
        hub,
        notifier,
        wall_clock,
        LoopScheduler(),
        limits={"device_check": settings.device_check_limit_s},
    )

    async def session_lost(session: MediaSession, reason: str) -> None:
        await takes.stop_session(session.id, reason)

    hub.on_lost.append(session_lost)
    hub.on_state.append(notifier.session_state)
    app[HUB] = hub
    app[TAKES] = takes
    auth = app[AUTH]
    namespace = MediaNamespace(
        hub,
        takes,
        settings.max_sdp_bytes,
        auth,
        auth.socket_token,
        app[CLOCK],
        max_connections_per_account=settings.max_sockets_per_account,
    )
    auth.accounts.sessions.on_ended.append(namespace.session_ended)
    app[SOCKETS].register_namespace(namespace)
    app[SIGNALING] = namespace
    watcher = asyncio.create_task(namespace.watch_sessions(), name="watch-socket-sessions")
    recovered = await takes.reconcile()
    if recovered:
        log.warning("recovered %d take(s) left unfinished by the previous run", len(recovered))
    yield
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await namespace.stop()
    await hub.shutdown()

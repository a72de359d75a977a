"""The app factory: routes, middlewares, and the services of :mod:`web.bootstrap` by app key."""

from __future__ import annotations

import logging

from aiohttp import web

from exams.shared.ports import Clock, Scheduler
from media import consent, ice, receive_path, receive_srtp, tap
from signaling.server import attach, create_server
from web import ops, proxies
from web.auth import session_cookie_middleware
from web.bootstrap import House, bootstrap, lifecycles
from web.demo import demo_context
from web.errors import error_middleware
from web.guards import guard_middleware, hide_server_software, security_headers
from web.keys import (
    ACCOUNTS,
    ADMISSION,
    ANSWERING,
    ATTEMPT_RUNNER,
    AUDIT,
    AUTH,
    CLAIMS,
    CLOCK,
    CONSENT,
    CREDENTIALS,
    DATABASE,
    DRAIN,
    EXAM_ACCESS,
    EXAM_CATALOG,
    FACE_CHECK,
    FILLS,
    HUB,
    INCIDENT_TAKES,
    INCIDENTS,
    INVITATIONS,
    JOURNEY,
    LIMITER,
    LIST_CHANGES,
    METRICS,
    MUX_POOL,
    OPENAPI,
    OPERATORS,
    PAIRING,
    PICTURES,
    PROCTOR_ACTIONS,
    READINESS,
    REFERENCE_UPLOADS,
    RESUMABLE,
    REVIEWS,
    SCHEDULER,
    SETTINGS,
    SHARED,
    SIGNAL_DETECTORS,
    SIGNALING,
    SMS_CODES,
    SMS_OUTBOX,
    SOCKETS,
    STORED_FILES,
    SUBMISSION_REVIEW,
    TAKE_RECORDS,
    TAKES,
    TWO_FACTOR,
    UNITS,
    UPLOADS,
    VERIFICATION,
    VIEWERS,
    VISION_DETECTORS,
    WALL,
    WALL_SHARING,
    ZIP_EXPORTS,
)
from web.logs import echo_request_id, request_id_middleware
from web.openapi import document
from web.routes import STATIC, routes
from web.scheduling import wall_clock
from web.settings import Settings
from web.shared_state import socket_manager
from web.slow_clients import body_rate_middleware
from web.views import APIS, DOCUMENTED_ELSEWHERE

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def create_app(
    settings: Settings, *, clock: Clock = wall_clock, scheduler: Scheduler | None = None
) -> web.Application:
    """The app; every service runs on ``clock`` and ``scheduler`` (tests move them).

    ``scheduler`` defaults to one on the event loop that reads ``clock``.
    """
    tap.check_compatible()
    receive_path.check_compatible()
    receive_srtp.check_compatible()
    consent.check_compatible()
    ice.offer_host_addresses(settings.ice_host_addresses, only=settings.ice_host_addresses_only)
    ice.use_udp_ports(ice.PortRange.parse(settings.udp_ports) if settings.udp_ports else None)
    app = web.Application(
        middlewares=[
            request_id_middleware,  # first: every log line of the request names it
            error_middleware,
            guard_middleware,
            session_cookie_middleware(settings.trusted_proxies),
            body_rate_middleware(settings.body_grace_s, settings.body_min_rate),
        ],
        client_max_size=1024 * 1024,
    )
    app.add_routes(routes)
    app.add_routes(ops.routes)  # /livez, /readyz, /metrics
    for api in APIS:
        app.add_routes(api.routes)
    app[OPENAPI] = document([*APIS, *DOCUMENTED_ELSEWHERE], title="examcast", version=VERSION)
    app.router.add_static("/static", STATIC, append_version=True)
    app.on_response_prepare.append(security_headers)
    app.on_response_prepare.append(echo_request_id)
    hide_server_software()  # aiohttp's own 400s, which skip on_response_prepare
    sio = create_server(
        settings.max_message_bytes,
        proxies.origin_check(settings.trusted_proxies),
        socket_manager(settings),  # with redis_url: events reach clients on every node
    )
    attach(sio, app)

    async def close_sockets(app: web.Application) -> None:
        # Stopping: each client is told to close now (it connects again, to another node)
        # rather than holding the shutdown until its handler times out. Not waiting for the
        # client: a polling one that never polls again would hold it for ever.
        for socket in list(sio.eio.sockets.values()):
            await socket.close(wait=False)

    app.on_shutdown.append(close_sockets)
    house = bootstrap(settings, sio, clock=clock, scheduler=scheduler)
    _publish(app, house)
    app.cleanup_ctx.extend(lifecycles(house))
    if settings.demo:
        app.cleanup_ctx.append(demo_context)  # last: it needs the takes recovered
    return app


def _publish(app: web.Application, h: House) -> None:
    """The app keys: how views reach the services."""
    s = h.accounts
    app[SETTINGS] = h.settings
    app[CLOCK] = h.clock
    app[SCHEDULER] = h.scheduler
    app[SOCKETS] = h.sockets
    app[DATABASE] = h.db
    app[MUX_POOL] = h.mux_pool
    app[HUB] = h.hub
    app[METRICS] = h.metrics
    app[DRAIN] = h.drain
    app[READINESS] = h.readiness
    app[PICTURES] = h.pictures
    app[WALL] = h.wall
    app[WALL_SHARING] = h.wall_sharing
    app[PROCTOR_ACTIONS] = h.actions
    app[INCIDENTS] = h.incidents
    app[SIGNAL_DETECTORS] = h.signals
    app[VISION_DETECTORS] = h.vision
    app[FACE_CHECK] = h.face_check
    app[INCIDENT_TAKES] = h.incident_takes
    app[VIEWERS] = h.viewers
    app[TAKES] = h.takes
    app[SIGNALING] = h.signaling
    app[AUDIT] = s.audit
    app[SMS_OUTBOX] = s.outbox
    app[SMS_CODES] = s.sms
    app[ACCOUNTS] = s.accounts
    app[AUTH] = s.auth
    app[JOURNEY] = s.journey
    app[CONSENT] = s.consent
    app[VERIFICATION] = s.verification
    app[REVIEWS] = s.reviews
    app[UNITS] = s.units
    app[EXAM_ACCESS] = s.access
    app[ADMISSION] = s.admission
    app[TAKE_RECORDS] = s.takes
    app[LIMITER] = s.limiter
    app[TWO_FACTOR] = s.two_factor
    app[INVITATIONS] = s.invitations
    app[CREDENTIALS] = s.credentials
    app[CLAIMS] = s.claims
    app[REFERENCE_UPLOADS] = s.reference_uploads
    app[EXAM_CATALOG] = h.catalog
    app[LIST_CHANGES] = h.list_changes
    app[ATTEMPT_RUNNER] = h.runner
    app[SHARED] = h.shared
    app[ANSWERING] = h.answering
    app[UPLOADS] = h.uploads
    app[RESUMABLE] = h.resumable
    app[FILLS] = h.fills
    app[STORED_FILES] = h.stored_files
    app[SUBMISSION_REVIEW] = h.submission_review
    app[ZIP_EXPORTS] = h.zip_exports
    app[OPERATORS] = h.operators
    app[PAIRING] = h.pairing

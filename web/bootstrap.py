"""The composition root: the whole object graph, built once, in dependency order.

:func:`bootstrap` makes every service from the settings, with the clock and the
scheduler passed in (the defaults are the production ones: the wall clock and a
scheduler on the event loop; tests pass their own and move time). Nothing is
wired after construction: where two services call each other (pairing <-> takes
<-> attempt runner, media hub <-> takes) the later one is registered on the
earlier as a listener, here and only here.

:func:`lifecycles` are the aiohttp ``cleanup_ctx`` steps: only what opens and
closes (the database, Redis, thread pools, background tasks) and the start-up
recovery of takes and attempts, in the order they must run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import socketio
from aiohttp import web

from exams.admission.list_changes import ListChanges
from exams.admission.media_needs import MediaNeeds
from exams.admission.operators import Operators
from exams.answering.answering import Answering
from exams.answering.attempt_runner import AttemptRunner
from exams.answering.device_checks import DeviceChecks
from exams.answering.playback import Playback
from exams.answering.retakes import Retakes
from exams.answering.submission_review import SubmissionReview
from exams.catalog.attempts import Attempt
from exams.catalog.catalog import ExamCatalog
from exams.catalog.take_calls import RemoteStops
from exams.catalog.take_moves import TakeMoves
from exams.catalog.takes import TakeService
from exams.proctoring.actions import ProctorActions
from exams.proctoring.incident_media import IncidentTakes
from exams.proctoring.incidents import AlertKind, Incidents
from exams.proctoring.page_events import PageEvents
from exams.proctoring.wall import Wall
from exams.proctoring.watching import Watching
from exams.shared.objects import ObjectStoreError
from exams.shared.ports import Clock, Scheduler
from exams.uploads.answer_files import AnswerFileUploads
from exams.uploads.fills import Fills
from exams.uploads.resumable import ResumableUploads
from media.detectors.face_match import FaceCheck
from media.detectors.signals import TICK_S, SignalDetectors
from media.detectors.vision import VisionDetectors
from media.file_check import MediaFileInspector
from media.fill import FillMaker
from media.hub import MEDIA_CHECK_S, MediaHub, MediaSession
from media.live_cameras import LiveCameras
from media.load import CameraAdmission, LoopLag, ViewerLoad
from media.peers import PeerFactory, configuration
from media.pictures import WallPictures
from media.preview import PreviewSpec
from media.remote_cameras import RemoteCameras
from media.shipping import LivePieces, Shipper
from media.turn import TurnCredentials
from media.viewers import ViewerHub
from media.wall_sharing import WallSharing
from media.writer import MuxPool
from pairing.service import PairingService
from signaling.actions import ActionNotifier, ActionSignals
from signaling.deadline_moves import DeadlineFollower
from signaling.routing import RouteCheck
from signaling.server import SWEEP_EVERY_S, MediaNamespace, SocketNotifier
from signaling.take_moves import TakeFollower
from signaling.viewers import ViewerSignals
from signaling.wall import WallRooms
from storage.accounts import SqliteAccounts
from storage.answer_files import AnswerFiles
from storage.attempts import SqliteAttempts
from storage.db import open_database
from storage.exams import SqliteExams
from storage.face_vendor import VendorSession
from storage.files import load_or_create_secret
from storage.incidents import SqliteIncidents
from storage.limits import MemoryRateLimiter
from storage.objects import open_store
from storage.private import make_private
from storage.proctor_messages import SqliteNotes
from storage.redis_limits import RedisRateLimiter
from storage.redis_wall import RedisWallBoard
from storage.retakes import SqliteRetakes
from storage.sql import Database
from storage.timed_db import TimedDatabase
from storage.tus_store import TusStore
from storage.uploads import SqliteUploads
from storage.zip_export import ZipExports
from web.drain import Drain, Probe, Readiness
from web.metrics import Metrics
from web.passwords import Argon2Hasher
from web.scheduling import Every, LoopScheduler, wall_clock
from web.services import Services, build
from web.settings import Settings
from web.shared_state import Shared, shared_state, socket_bus
from web.stored_files import StoredFiles
from web.verifiers import close_verifier, make_verifier

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600

Lifecycle = Callable[[web.Application], AsyncIterator[None]]


@dataclass(frozen=True)
class House:
    """Every long-lived object of the app (``create_app`` hands them to views by app key)."""

    settings: Settings
    clock: Clock
    scheduler: Scheduler
    sockets: socketio.AsyncServer
    db: Database
    metrics: Metrics  # /metrics: the telemetry port's registry (web/metrics.py)
    drain: Drain  # SIGTERM: /readyz 503, no new media sessions, takes finish (web/drain.py)
    readiness: Readiness  # /readyz: database, Redis, not draining
    hasher: Argon2Hasher
    redis_limiter: RedisRateLimiter | None
    shared: Shared  # what the nodes share: in this process, or in Redis (redis_url)
    accounts: Services  # accounts, identity and admission
    mux_pool: MuxPool
    hub: MediaHub
    takes: TakeService
    catalog: ExamCatalog
    list_changes: ListChanges
    runner: AttemptRunner
    playback: Playback
    answering: Answering
    uploads: AnswerFileUploads
    resumable: ResumableUploads
    fills: Fills  # the page's local copy closes a take's holes (#14)
    submission_review: SubmissionReview
    zip_exports: ZipExports
    operators: Operators
    pairing: PairingService
    signaling: MediaNamespace
    viewers: ViewerHub  # proctors watching candidates live: encoded frames relayed
    watching: Watching
    pictures: WallPictures  # the proctors' wall: fresh camera pictures
    wall_sharing: WallSharing | None  # redis_url: walls and cameras on different nodes (0028)
    wall: Wall  # the proctors' wall: its tiles
    actions: ProctorActions  # proctors' messages, extra time, ending; raised hands
    incidents: Incidents  # what the detectors notice, each for a person to decide (#13)
    signals: SignalDetectors  # silence, camera lost, second camera missing, per take (#13)
    vision: VisionDetectors  # dark, frozen, no face, many faces: pictures per take (#13)
    face_check: FaceCheck  # the same person all exam long: pictures vs reference (#17)
    vendor_http: VendorSession  # the face-check vendor's HTTP client session (#17)
    page_events: PageEvents  # hidden, window left, fullscreen left, reloaded (#13)
    incident_takes: IncidentTakes  # the recordings behind a timeline, to play (#13)
    stored_files: StoredFiles  # recordings and answer files served (store or local disk)
    live_pieces: LivePieces | None = None  # storage_url: segments shipped as they record
    shipper: Shipper | None = None  # storage_url: finished files to the object store


def bootstrap(
    settings: Settings,
    sockets: socketio.AsyncServer,
    *,
    clock: Clock = wall_clock,
    scheduler: Scheduler | None = None,
) -> House:
    """The whole object graph from ``settings``, on ``clock`` and ``scheduler``."""
    scheduler = scheduler if scheduler is not None else LoopScheduler(clock)
    metrics = Metrics(settings.node_name)  # the telemetry port every layer reports to
    # Every call timed for /metrics (backend: its dialect; op: the adapter that called).
    db = TimedDatabase(open_database(settings.database_url, settings.database_path), metrics)
    # Once, before the loop serves anything: a small file, made 0600 if missing.
    secret = load_or_create_secret(settings.secrets_dir / "sms-hmac.key")
    redis_limiter = (
        RedisRateLimiter.from_url(
            settings.redis_url, settings.redis_prefix + "limits:", telemetry=metrics
        )
        if settings.redis_url
        else None
    )
    hasher = Argon2Hasher(memory_kib=settings.password_hash_memory_kib)
    shared = shared_state(settings)
    # media and files on an object store (storage_url), or on local disk only (the default)
    objects = (
        open_store(
            settings.storage_url,
            settings.storage_access_key,
            settings.storage_secret_key,
            threads=settings.storage_threads,
            telemetry=metrics,
        )
        if settings.storage_url
        else None
    )
    vendor_http = VendorSession()  # used when the verifier is 'vendor'; closed at shutdown
    accounts = build(
        db,
        clock=clock,
        limiter=redis_limiter or MemoryRateLimiter(),
        hasher=hasher,
        secret=secret,
        reviews_dir=settings.reviews_dir,
        session_idle_s=settings.session_idle_s,
        session_max_s=settings.session_max_s,
        review_photo_max_bytes=settings.review_photo_max_bytes,
        trusted_proxies=settings.trusted_proxies,
        sms_per_address_per_hour=settings.sms_per_address_per_hour,
        sms_resend_s=settings.sms_resend_s,
        staff_two_factor_required=settings.staff_two_factor == "required",
        face_store=objects,  # reference photos and verification evidence (issue #17)
        make_verifier=lambda photos: make_verifier(settings, photos, secret, vendor_http),
        reference_photo_max_bytes=settings.reference_photo_max_bytes,
        evidence_days=settings.verification_evidence_days,
    )

    shipper = (
        None
        if objects is None
        else Shipper(objects, settings.data_dir, keep_local=settings.storage_keep_local)
    )
    live_pieces = (
        None
        if objects is None
        else LivePieces(objects, settings.data_dir, settings.storage_piece_ms / 1000, shipper)
    )

    stored_files = StoredFiles(settings.data_dir, objects)

    # media and takes
    mux_pool = MuxPool(settings.writer_threads, metrics, watcher=live_pieces)
    hub = MediaHub(
        PeerFactory(
            settings.ice_servers,
            settings.ice_username,
            settings.ice_credential,
            settings.max_sdp_bytes,
            settings.start_bitrate_kbps,
            settings.udp_receive_buffer_kb,
            preview=PreviewSpec(settings.wall_preview_fps, settings.wall_preview_kbps)
            if settings.wall_preview_fps
            else None,
        ),
        mux_pool,
        settings.recordings_dir,
        queue_limit=settings.recorder_queue_bytes,
        keyframe_interval=settings.keyframe_interval_ms / 1000,
        reconnect_grace=settings.reconnect_grace_s,
        clock=clock,
        scheduler=scheduler,
        max_sessions_per_owner=settings.max_media_sessions_per_account,
        telemetry=metrics,
        # cameras new to the node are refused past its cap or while its loop is overloaded
        admission=CameraAdmission(
            max_cameras=settings.max_cameras,
            refuse_lag_s=settings.camera_refuse_lag_ms / 1000,
        ),
    )
    drain = Drain(hub, settings.drain_timeout_s)
    # in a cluster: the walls' claims, and the cameras' facts and pictures, shared (0028)
    wall_board = (
        RedisWallBoard(settings.redis_url, settings.redis_prefix, settings.node_name)
        if settings.redis_url
        else None
    )
    remote_cameras = None if wall_board is None else RemoteCameras(wall_board)
    pictures = WallPictures(
        hub,
        clock,
        scheduler,
        interval_s=settings.wall_picture_interval_ms / 1000,
        threads=settings.wall_picture_threads,
        remote=remote_cameras,
    )
    notifier = SocketNotifier(sockets)
    takes = TakeService(
        accounts.takes,
        hub,
        notifier,
        clock,
        scheduler,
        limits={"device_check": settings.device_check_limit_s},
        locks=shared.locks,
        nodes=shared.nodes,  # each take records its node; a gone node's takes are finished
        orphan_grace_s=settings.reconnect_grace_s,
        clustered=shared.heartbeat is not None,
        telemetry=metrics,
    )
    if shared.take_calls is not None:  # a stop asked here of a take another node records
        remote = RemoteStops(accounts.takes, shared.nodes, shared.take_calls, asyncio.sleep)
        takes.stop_elsewhere_with(remote)

    # exams, attempts and answers
    exam_repo = SqliteExams(db)
    attempt_repo = SqliteAttempts(db)
    records = accounts.takes
    audit = accounts.audit
    catalog = ExamCatalog(
        exam_repo, attempt_repo, SqliteAccounts(db), audit, clock, limiter=accounts.limiter
    )
    # a formal take damaged by the system grants one more (issue #18), told to the pages
    retakes = Retakes(SqliteRetakes(db), audit, notifier.retake_granted)
    runner = AttemptRunner(
        attempt_repo,
        exam_repo,
        takes,
        records,
        clock,
        scheduler,
        telemetry=metrics,
        locks=shared.locks,
        owners=shared.deadlines,
        retakes=retakes,
    )
    playback = Playback(runner, accounts.access, windows=shared.windows)
    # Uploaded answer files live beside the recordings, under server-made names.
    files = AnswerFiles(settings.uploads_dir, settings.recordings_dir, shipper)
    inspector = MediaFileInspector()
    answering = Answering(catalog, runner, accounts.access, accounts.verification, playback)
    uploads = AnswerFileUploads(answering, runner, files, inspector)
    fill_maker = FillMaker(settings.recordings_dir, shipper)
    fills = Fills(takes, attempt_repo, exam_repo, fill_maker, clock)
    resumable = ResumableUploads(
        answering,
        runner,
        exam_repo,
        uploads,
        SqliteUploads(db),
        TusStore(settings.tus_dir),
        shared.upload_locks,
        files,
        inspector,
        fills,
        max_bytes=settings.upload_max_bytes,
        idle_s=settings.upload_idle_s,
    )
    # only the latest is kept
    device_checks = DeviceChecks(records, takes.discard, clock, windows=shared.windows)

    # the second camera
    pairing = PairingService(
        shared.pairings,
        answering,
        audit,
        clock,
        notifier,
        hub,
        takes,
        ttl_s=settings.pairing_ttl_s,
        link_store=shared.links,
    )
    # proctors watching a candidate live: encoded frames relayed, never decoded
    viewers = ViewerHub(
        hub,
        configuration(settings.ice_servers, settings.ice_username, settings.ice_credential),
        max_sdp_bytes=settings.max_sdp_bytes,
        # the recording first: viewers are shed when the loop lags (0: never)
        load=ViewerLoad(
            shed_lag_s=settings.viewer_shed_lag_ms / 1000,
            refuse_lag_s=2 * settings.viewer_shed_lag_ms / 1000,
        )
        if settings.viewer_shed_lag_ms
        else None,
        sample_lag=settings.viewer_shed_lag_ms > 0,
    )
    watching = Watching(
        exam_repo,
        SqliteAccounts(db),
        accounts.units,
        attempt_repo,
        audit,
        clock,
        max_per_account=settings.max_viewers_per_account,
    )
    viewer_signals = ViewerSignals(
        watching,
        viewers,
        SqliteAccounts(db),
        notifier.viewer_state,
        send_closed=notifier.viewer_closed,
        clock=clock,
    )
    # proctors' actions on a candidate (messages, extra time, ending) and raised hands
    actions = ProctorActions(
        watching,
        runner,
        attempt_repo,
        exam_repo,
        accounts.units,
        SqliteNotes(db),
        ActionNotifier(sockets),
        audit,
        clock,
    )
    # the proctors' wall: tiles from storage and the live media, pushed over the sockets
    live_cameras = LiveCameras(hub, pictures, pairing.link_state, remote=remote_cameras)
    wall_sharing = (
        None
        if wall_board is None or remote_cameras is None
        else WallSharing(wall_board, remote_cameras, hub, pictures, live_cameras)
    )
    # incidents: what the detectors notice, each for a person to decide (issue #13)
    incidents = Incidents(
        SqliteIncidents(db), attempt_repo, exam_repo, catalog, SqliteAccounts(db), audit, clock
    )
    wall = Wall(
        catalog,
        attempt_repo,
        accounts.units,
        SqliteAccounts(db),
        accounts.journey,
        live_cameras,
        watching,
        incidents,
        clock,
        hands=actions,
    )
    wall_rooms = WallRooms(sockets, wall, wall_sharing or pictures, SqliteAccounts(db))
    # the signal detectors: the media's own signals per recording take, the pages' reports
    signals = SignalDetectors(hub, attempt_repo, exam_repo, incidents, pairing.link_state, clock)
    # the vision detectors: each recording take's camera pictures (held pictured by a claim)
    vision = VisionDetectors(pictures, attempt_repo, exam_repo, incidents, clock)
    # the same person all exam long: a take's pictures against the reference photo (#17)
    face_check = FaceCheck(
        pictures,
        attempt_repo,
        exam_repo,
        accounts.reference_photos,
        incidents,
        clock,
        interval_s=settings.face_check_interval_s,
        threshold=settings.face_match_threshold or None,
    )
    page_events = PageEvents(attempt_repo, exam_repo, incidents, clock, scheduler, shared.locks)
    signaling = MediaNamespace(
        hub,
        takes,
        settings.max_sdp_bytes,
        accounts.auth,
        accounts.auth.socket_token,
        clock,
        pairing,
        max_connections_per_account=settings.max_sockets_per_account,
        viewers=viewer_signals,
        wall=wall_rooms,
        audit=audit,
        page_events=page_events,
        actions=ActionSignals(actions, SqliteAccounts(db)),
        # the pages' TURN credentials, and the load balancer's c= checked (docs/deploy.md)
        ice_servers=TurnCredentials(
            settings.turn_urls, settings.turn_secret, settings.turn_ttl_s, clock
        ).ice_servers,
        # the cameras' previews sent while a wall or a detector pictures them (decision 0031)
        pictured=pictures.watched,
        routes=RouteCheck(settings.node_name, clustered=bool(settings.redis_url)),
        # in a cluster: a take whose node died continues on the node its candidate reaches
        follower=TakeFollower(TakeMoves(takes, accounts.takes, shared.nodes, hub), hub)
        if shared.heartbeat is not None
        else None,
        # in a cluster: an attempt's deadlines fire on the node of its candidate's camera
        deadlines=DeadlineFollower(runner) if shared.heartbeat is not None else None,
        # the exam's sound and picture each camera's answer asks for (issue #18)
        media_profile=MediaNeeds(
            accounts.access, accounts.journey, exam_repo, SqliteAccounts(db), attempt_repo
        ).profile,
    )
    sockets.register_namespace(signaling)

    # listeners: who hears of whose events (in the order the parts were built before)
    async def session_lost(session: MediaSession, reason: str) -> None:
        await takes.stop_session(session.id, reason)

    async def media_changed(session: MediaSession, state: str) -> None:
        await pairing.media_changed(session.id)

    async def session_closed(session: MediaSession, reason: str) -> None:
        await pairing.session_closed(session.id, reason)

    async def attempt_changed(attempt: Attempt) -> None:
        if attempt.submitted_at is not None or attempt.closed_at is not None:
            await pairing.answer_over(attempt.id, "submitted" if attempt.submitted_at else "closed")
            await page_events.answer_over(attempt.candidate_id)

    hub.on_lost.append(session_lost)
    hub.on_state.append(notifier.session_state)
    accounts.sessions.on_ended.append(signaling.session_ended)
    takes.add_listener(runner.on_take_event)
    takes.add_listener(metrics.take_event)  # takes stored / failed
    takes.add_listener(drain.take_event)  # the takes a draining node waits for
    takes.add_listener(device_checks.on_take_event)
    takes.add_playback_policy(device_checks.policy(playback.policy))
    runner.after_run.append(playback.discard_unplayable)
    runner.after_run.append(attempt_changed)
    runner.after_run.append(retakes.announce)
    hub.on_state.append(media_changed)
    hub.on_sources.append(viewers.candidate_changed)
    hub.on_state.append(viewers.candidate_state)
    hub.on_lost.append(viewers.candidate_lost)
    hub.on_lost.append(session_closed)
    takes.add_camera_source(pairing.extra_cameras)
    takes.add_listener(pairing.on_take_event)
    runner.add_secondary_check(pairing.ready_for)
    uploads.add_pending_listener(resumable.discard)
    hub.on_state.append(live_cameras.session_state)
    hub.on_lost.append(live_cameras.session_closed)
    hub.on_state.append(wall_rooms.session_state)
    hub.on_lost.append(wall_rooms.session_closed)
    runner.after_run.append(wall_rooms.attempt_changed)
    takes.add_listener(wall_rooms.take_event)
    accounts.journey.add_listener(wall_rooms.journey_step)
    pairing.add_listener(wall_rooms.link_changed)
    pictures.add_listener(wall_rooms.picture_taken)
    if wall_sharing is not None:  # other nodes' walls watch this node's cameras, and back
        hub.on_state.append(wall_sharing.session_state)
        hub.on_lost.append(wall_sharing.session_closed)
        pictures.add_listener(wall_sharing.picture_taken)
        wall_sharing.add_listener(wall_rooms.remote_changed)
    incidents.add_listener(wall_rooms.incident_changed)
    actions.add_hand_listener(wall_rooms.hand_changed)

    async def hand_incident(exam_id: str, candidate_id: str, raised: bool, at: float) -> None:
        if raised:  # a help request on the timeline, for a person to dispose of
            await incidents.raise_alert(candidate_id, AlertKind.HAND_RAISED, started_at=at)
        else:
            await incidents.end_alert(candidate_id, AlertKind.HAND_RAISED, ended_at=at)

    actions.add_hand_listener(hand_incident)
    takes.add_listener(signals.on_take_event)
    takes.add_listener(vision.on_take_event)
    takes.add_listener(face_check.on_take_event)
    if shipper is not None:  # a stored take's files to the object store, in the background
        takes.add_listener(shipper.on_take_event)
        hub.on_discarded.append(shipper.discard_take)
        hub.before_recover.append(shipper.fetch_missing)
    pictures.add_listener(vision.on_picture)
    pictures.add_listener(face_check.on_picture)

    # /readyz: what must answer for this node to take new work (draining aside)
    probes: list[tuple[str, Probe]] = [("database", db.ping)]
    if redis_limiter is not None:
        probes.append(("redis", redis_limiter.ping))

    return House(
        settings=settings,
        clock=clock,
        scheduler=scheduler,
        sockets=sockets,
        db=db,
        metrics=metrics,
        drain=drain,
        readiness=Readiness(drain, probes),
        hasher=hasher,
        redis_limiter=redis_limiter,
        shared=shared,
        accounts=accounts,
        mux_pool=mux_pool,
        hub=hub,
        takes=takes,
        catalog=catalog,
        list_changes=ListChanges(accounts.units, SqliteAccounts(db), exam_repo, attempt_repo),
        runner=runner,
        playback=playback,
        answering=answering,
        uploads=uploads,
        resumable=resumable,
        fills=fills,
        submission_review=SubmissionReview(
            catalog, attempt_repo, records, files, accounts.units, audit, clock
        ),
        zip_exports=ZipExports(opener=stored_files.open),
        operators=Operators(accounts.units, audit, clock),
        pairing=pairing,
        signaling=signaling,
        pictures=pictures,
        wall_sharing=wall_sharing,
        wall=wall,
        actions=actions,
        incidents=incidents,
        signals=signals,
        vision=vision,
        face_check=face_check,
        vendor_http=vendor_http,
        page_events=page_events,
        incident_takes=IncidentTakes(incidents, attempt_repo, records, files),
        stored_files=stored_files,
        live_pieces=live_pieces,
        shipper=shipper,
        viewers=viewers,
        watching=watching,
    )


def lifecycles(h: House) -> list[Lifecycle]:
    """The ``cleanup_ctx`` steps, in start order (they end in the reverse one)."""

    async def private_data_dir(app: web.Application) -> AsyncIterator[None]:
        changed = await asyncio.to_thread(make_private, h.settings.data_dir)
        if changed:
            log.info(
                "made %d file(s) and folder(s) in the data directory private (0700/0600)", changed
            )
        yield

    async def database(app: web.Application) -> AsyncIterator[None]:
        await h.db.open()
        yield
        await h.db.close()

    async def accounts(app: web.Application) -> AsyncIterator[None]:
        purge = Every(h.clock, h.scheduler, PURGE_EVERY_S, _purger(h.accounts), "purge")
        yield
        await purge.stop()
        await close_verifier(h.accounts.verifier)  # the face check's worker processes
        await h.vendor_http.close()
        if h.redis_limiter is not None:
            await h.redis_limiter.close()
        await asyncio.to_thread(h.hasher.close)

    async def objects(app: web.Application) -> AsyncIterator[None]:
        # Ends after the media (takes stored on the way out are shipped, then waited for).
        store = h.stored_files.store
        if store is not None and hasattr(store, "create_bucket"):
            try:  # made on a first start; nothing when it is there
                await store.create_bucket()
            except ObjectStoreError as exc:  # keys without that right: the bucket is the admin's
                log.warning("could not check or create the storage bucket: %s", exc)
        yield
        if h.live_pieces is not None:
            await h.live_pieces.stop()
        if h.shipper is not None:
            await h.shipper.drain()
        if store is not None:
            await store.close()

    async def mux_pool(app: web.Application) -> AsyncIterator[None]:
        yield
        await asyncio.get_running_loop().run_in_executor(None, h.mux_pool.shutdown)

    async def media(app: web.Application) -> AsyncIterator[None]:
        every_s = SWEEP_EVERY_S
        watcher = Every(
            h.clock, h.scheduler, every_s, h.signaling.sweep, "socket session check", every_s
        )
        recovered = await h.takes.reconcile()  # this node's own (other nodes' are theirs)
        calls = h.shared.take_calls
        if calls is not None:
            calls.serve(lambda take_id, reason: h.takes.stop(take_id, reason))
        if recovered:
            log.warning("recovered %d take(s) left unfinished by the previous run", len(recovered))
        every_s = h.shared.sweep_s  # in a cluster: gone nodes' takes, finished by a survivor
        orphans = (
            Every(h.clock, h.scheduler, every_s, _adopter(h.takes), "take sweep", every_s)
            if h.shared.heartbeat is not None
            else None
        )
        signals = Every(h.clock, h.scheduler, TICK_S, h.signals.tick, "signal detectors", TICK_S)
        silence = Every(
            h.clock, h.scheduler, MEDIA_CHECK_S, h.hub.check_media, "media silence", MEDIA_CHECK_S
        )
        lag = LoopLag(h.hub.admission)  # an overloaded loop takes no new camera
        if h.hub.admission.refuse_lag_s:
            lag.start()
        yield
        lag.stop()
        await h.drain.close()
        if calls is not None:
            await calls.close()
        if orphans is not None:
            await orphans.stop()
        await silence.stop()
        await signals.stop()
        await watcher.stop()
        await h.signaling.stop()
        await h.viewers.stop()
        await h.hub.shutdown()

    async def exams(app: web.Application) -> AsyncIterator[None]:
        # After the takes' own recovery: every take the previous process left is stored
        # or failed, so the deadlines that passed meanwhile are acted on here.
        due = await h.runner.reconcile()
        if due:
            log.warning("applied %d exam action(s) that fell due while the server was down", due)
        ended = await h.incidents.reconcile()  # no detector remembers what it saw before
        if ended:
            log.info("ended %d incident(s) left active by the previous process", ended)
        sweeper = Every(
            h.clock, h.scheduler, h.settings.upload_sweep_s, _sweeper(h.resumable), "upload sweep"
        )
        yield
        await sweeper.stop()
        h.runner.close()
        h.playback.close()

    async def shared(app: web.Application) -> AsyncIterator[None]:
        # with Redis: this node's heartbeat, the sweep that takes over the deadlines of
        # nodes that are gone, and Socket.IO's messages between nodes
        async with h.shared.lifecycle(h.clock, h.scheduler, h.runner.adopt_orphans)(app):
            async with socket_bus(h.sockets):
                yield

    async def pairing(app: web.Application) -> AsyncIterator[None]:
        h.pairing.start()
        yield
        await h.pairing.close()

    async def wall_pictures(app: web.Application) -> AsyncIterator[None]:
        if h.wall_sharing is not None:
            await h.wall_sharing.start()
        yield
        if h.wall_sharing is not None:
            await h.wall_sharing.stop()  # its claims taken back, its cameras' facts removed
        await h.vision.close()  # gives its picture claims back
        await h.face_check.close()  # its claims too, and its worker process ends
        await h.pictures.close()

    return [
        private_data_dir,
        database,
        shared,
        accounts,
        objects,
        mux_pool,
        media,
        wall_pictures,
        exams,
        pairing,
    ]


def _purger(accounts: Services) -> Callable[[], Awaitable[None]]:
    """Remove ended log-in sessions, and verification evidence past its days (the retention
    rule, ``verification_evidence_days``): at start, then every :data:`PURGE_EVERY_S`."""

    async def purge() -> None:
        purged = await accounts.sessions.purge()
        if purged:
            log.info("removed %d ended log-in session(s)", purged)
        frames = await accounts.evidence_retention.purge()
        if frames:
            log.info("deleted the evidence frames of %d verification(s) past their days", frames)

    return purge


def _adopter(takes: TakeService) -> Callable[[], Awaitable[None]]:
    """Finish the takes of nodes that are gone (one survivor each): every sweep."""

    async def adopt() -> None:
        done = await takes.adopt_orphans()
        if done:
            log.warning("finished %d take(s) of node(s) that are gone", len(done))

    return adopt


def _sweeper(resumable: ResumableUploads) -> Callable[[], Awaitable[None]]:
    """Complete what a crash left whole, delete what expired: at start, then every so often."""

    async def sweep() -> None:
        changed = await resumable.sweep()
        if changed:
            log.info("upload sweep: %d upload(s) completed, expired or removed", changed)

    return sweep

"""Typed application state: every long-lived object the app holds, by key."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from exams.admission.admission import Admission
from exams.admission.consent import Consent
from exams.admission.exam_access import ExamAccess
from exams.admission.invitations import Invitations
from exams.admission.journey import Journey
from exams.admission.list_changes import ListChanges
from exams.admission.operators import Operators
from exams.admission.reference_photo_uploads import ReferencePhotoUploads
from exams.admission.units import Units
from exams.answering.answering import Answering
from exams.answering.attempt_runner import AttemptRunner
from exams.answering.submission_review import SubmissionReview
from exams.catalog.catalog import ExamCatalog
from exams.catalog.takes import TakeService
from exams.identity.accounts import AccountService
from exams.identity.claims import Claims
from exams.identity.credentials import Credentials
from exams.identity.manual_reviews import Reviews
from exams.identity.sms import SmsCodes
from exams.identity.two_factor import TwoFactor
from exams.identity.verification import VerificationService
from exams.proctoring.actions import ProctorActions
from exams.proctoring.incident_media import IncidentTakes
from exams.proctoring.incidents import Incidents
from exams.proctoring.wall import Wall
from exams.shared.ports import Clock, Scheduler
from exams.shared.throttle import RateLimiter
from exams.uploads.answer_files import AnswerFileUploads
from exams.uploads.fills import Fills
from exams.uploads.resumable import ResumableUploads
from media.detectors.face_match import FaceCheck
from media.detectors.signals import SignalDetectors
from media.detectors.vision import VisionDetectors
from media.hub import MediaHub
from media.pictures import WallPictures
from media.viewers import ViewerHub
from media.wall_sharing import WallSharing
from media.writer import MuxPool
from pairing.service import PairingService
from signaling.server import MediaNamespace
from storage.audit import SqliteAudit
from storage.sms import LogSmsSender
from storage.sql import Database
from storage.takes import SqliteTakes
from storage.zip_export import ZipExports
from web.auth import Authenticator
from web.drain import Drain, Readiness
from web.metrics import Metrics
from web.settings import Settings
from web.shared_state import Shared
from web.stored_files import StoredFiles

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")  # every service's (web.bootstrap)
SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler")  # every timer's, on CLOCK
SOCKETS = web.AppKey("sockets", socketio.AsyncServer)
DATABASE = web.AppKey("database", Database)
MUX_POOL = web.AppKey("mux_pool", MuxPool)
HUB = web.AppKey("media_hub", MediaHub)
PICTURES = web.AppKey("wall_pictures", WallPictures)  # the proctors' wall (issue #12)
WALL = web.AppKey("wall", Wall)  # the proctors' wall: its tiles (issue #12)
# redis_url: walls and cameras on different nodes (docs/decisions/0028); None on one node
WALL_SHARING: web.AppKey[WallSharing | None] = web.AppKey("wall_sharing")
PROCTOR_ACTIONS = web.AppKey("proctor_actions", ProctorActions)  # messages, time, hands (#13)
INCIDENTS = web.AppKey("incidents", Incidents)  # alerts for a person to decide (issue #13)
SIGNAL_DETECTORS = web.AppKey("signal_detectors", SignalDetectors)  # silence, camera lost (#13)
VISION_DETECTORS = web.AppKey("vision_detectors", VisionDetectors)  # dark, frozen, faces (#13)
FACE_CHECK = web.AppKey("face_check", FaceCheck)  # the same person all exam long (#17)
INCIDENT_TAKES = web.AppKey("incident_takes", IncidentTakes)  # a timeline's recordings
VIEWERS = web.AppKey("viewers", ViewerHub)  # proctors watching a candidate live (issue #12)
TAKES = web.AppKey("takes", TakeService)
SIGNALING = web.AppKey("signaling", MediaNamespace)

# accounts, identity and admission (exam rules, issue #3)
OPENAPI = web.AppKey("openapi", dict[str, Any])
AUDIT = web.AppKey("audit", SqliteAudit)
SMS_OUTBOX = web.AppKey("sms_outbox", LogSmsSender)
SMS_CODES = web.AppKey("sms_codes", SmsCodes)
ACCOUNTS = web.AppKey("accounts", AccountService)
AUTH = web.AppKey("auth", Authenticator)
JOURNEY = web.AppKey("journey", Journey)
CONSENT = web.AppKey("consent", Consent)
VERIFICATION = web.AppKey("verification", VerificationService)
REVIEWS = web.AppKey("reviews", Reviews)
UNITS = web.AppKey("units", Units)
EXAM_ACCESS = web.AppKey("exam_access", ExamAccess)  # who reaches which exam now
LIST_CHANGES = web.AppKey("list_changes", ListChanges)  # admitted-list re-imports
REFERENCE_UPLOADS = web.AppKey("reference_uploads", ReferencePhotoUploads)  # 报名照片 (#17)
ADMISSION = web.AppKey("admission", Admission)
TAKE_RECORDS = web.AppKey("take_records", SqliteTakes)

# account security (issue #9)
LIMITER = web.AppKey("limiter", RateLimiter)  # the one rate-limit store (memory or Redis)
TWO_FACTOR = web.AppKey("two_factor", TwoFactor)
CREDENTIALS = web.AppKey("credentials", Credentials)
CLAIMS = web.AppKey("identity_claims", Claims)

# exams, attempts and answers (exam rules, issue #3)
EXAM_CATALOG = web.AppKey("exam_catalog", ExamCatalog)
ATTEMPT_RUNNER = web.AppKey("attempt_runner", AttemptRunner)
SHARED = web.AppKey("shared", Shared)  # what the nodes share (web.shared_state)
ANSWERING = web.AppKey("answering", Answering)
UPLOADS = web.AppKey("uploads", AnswerFileUploads)
SUBMISSION_REVIEW = web.AppKey("submission_review", SubmissionReview)
ZIP_EXPORTS = web.AppKey("zip_exports", ZipExports)  # bulk export of submissions (issue #10)
# recordings and answer files served: from the object store (storage_url) or local disk
STORED_FILES = web.AppKey("stored_files", StoredFiles)
INVITATIONS = web.AppKey("invitations", Invitations)  # staff invited by phone (issue #10)
OPERATORS = web.AppKey("operators", Operators)  # units created in the console (issue #10)

# resumable uploads (tus, issue #6)
RESUMABLE = web.AppKey("resumable_uploads", ResumableUploads)
FILLS = web.AppKey("fills", Fills)  # a take's holes filled from the page's copy (issue #14)

# the second camera (issue #5)
PAIRING = web.AppKey("pairing", PairingService)

# operating a node (issue #15): /metrics, /readyz, draining (web/ops.py)
METRICS = web.AppKey("metrics", Metrics)
DRAIN = web.AppKey("drain", Drain)
READINESS = web.AppKey("readiness", Readiness)

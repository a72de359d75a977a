"""Accounts, identity and admission on one database: :func:`build` makes them all.

The app's composition root (``web.bootstrap``) and the unit tests use it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exams.admission.admission import Admission
from exams.admission.consent import Consent
from exams.admission.documents import Documents
from exams.admission.exam_access import ExamAccess
from exams.admission.invitations import Invitations
from exams.admission.journey import Journey
from exams.admission.reference_photo_uploads import PhotoCheck, ReferencePhotoUploads
from exams.admission.units import Units
from exams.identity.accounts import AccountService
from exams.identity.claims import Claims
from exams.identity.credentials import Credentials
from exams.identity.manual_reviews import Reviews
from exams.identity.passwords import PasswordHasher
from exams.identity.reference_photos import ReferencePhotos
from exams.identity.sessions import Sessions
from exams.identity.sms import SmsCodes, SmsPolicy
from exams.identity.two_factor import TwoFactor
from exams.identity.verification import IdSuffixVerifier, VerificationService, Verifier
from exams.identity.verification_results import Evidence, EvidenceRetention
from exams.shared.objects import ObjectStore
from exams.shared.ports import Clock
from exams.shared.throttle import LoginThrottle, RateLimiter, Window
from storage.accounts import SqliteAccounts, SqliteSessions
from storage.audit import SqliteAudit
from storage.claims import SqliteClaims
from storage.exams import SqliteExams
from storage.files import PhotoFiles
from storage.invitations import SqliteInvitations
from storage.journey import SqliteJourney
from storage.objects import LocalObjects
from storage.reference_photos import SqliteReferencePhotos, StoredReferencePhotos
from storage.sms import LogSmsSender, SqliteSmsCodes
from storage.sql import Database
from storage.takes import SqliteTakes
from storage.two_factor import SqliteTwoFactor
from storage.units import SqliteUnits
from storage.verification import (
    SqliteReviews,
    SqliteVerificationResults,
    SqliteVerifications,
)
from web.auth import Authenticator


@dataclass(frozen=True)
class Services:
    audit: SqliteAudit
    outbox: LogSmsSender
    sms: SmsCodes
    sessions: Sessions
    accounts: AccountService
    verification: VerificationService
    journey: Journey
    consent: Consent
    reviews: Reviews
    units: Units
    access: ExamAccess
    admission: Admission
    takes: SqliteTakes
    auth: Authenticator
    limiter: RateLimiter
    two_factor: TwoFactor
    invitations: Invitations
    credentials: Credentials
    claims: Claims
    verifier: Verifier  # real-person verification's checker (the ``verifier`` setting)
    reference_photos: ReferencePhotos  # the units' 报名照片, for the verifiers (issue #17)
    reference_uploads: ReferencePhotoUploads
    evidence: Evidence  # verification frames kept as evidence
    evidence_retention: EvidenceRetention


def _photo_problems(image: bytes) -> list[str]:
    """The face engine's photo check, loaded on first use (dlib's models are large)."""
    from media.face_engine import photo_problems

    return photo_problems(image)


def _id_suffix(photos: ReferencePhotos) -> Verifier:
    return IdSuffixVerifier()


def build(
    db: Database,
    *,
    clock: Clock,
    limiter: RateLimiter,
    hasher: PasswordHasher,
    secret: bytes,
    reviews_dir: Path,
    session_idle_s: float,
    session_max_s: float,
    review_photo_max_bytes: int,
    trusted_proxies: tuple[str, ...] = (),
    sms_per_address_per_hour: int = 30,
    sms_resend_s: int = 60,
    staff_two_factor_required: bool = True,
    face_store: ObjectStore | None = None,
    make_verifier: Callable[[ReferencePhotos], Verifier] = _id_suffix,
    photo_check: PhotoCheck = _photo_problems,
    reference_photo_max_bytes: int = 4 * 1024 * 1024,
    evidence_days: float = 30.0,
) -> Services:
    """Every accounts/admission service on one database (the app and the unit tests use it).

    ``face_store``: where reference photos and verification evidence go (the object store
    when one is set; by default files under the data folder, ``reviews_dir``'s parent).
    ``make_verifier``: the real-person verifier, given the reference photos (the ID-suffix
    stand-in unless the app's ``verifier`` setting chooses another).
    """
    audit = SqliteAudit(db)
    face_store = face_store if face_store is not None else LocalObjects(reviews_dir.parent)
    reference_repo = SqliteReferencePhotos(db)
    reference_photos = StoredReferencePhotos(reference_repo, face_store)
    evidence = Evidence(face_store)
    results = SqliteVerificationResults(db)
    outbox = LogSmsSender()
    policy = SmsPolicy(
        per_phone=Window(1, sms_resend_s), per_address=Window(sms_per_address_per_hour, 3600)
    )
    sms = SmsCodes(SqliteSmsCodes(db), outbox, limiter, audit, secret, clock, policy)
    sessions = Sessions(SqliteSessions(db), clock, idle_s=session_idle_s, max_s=session_max_s)
    account_repo = SqliteAccounts(db)
    two_factor = TwoFactor(
        SqliteTwoFactor(db),
        limiter,
        audit,
        clock,
        hmac.new(secret, b"recovery-codes", hashlib.sha256).digest(),
        required_for_staff=staff_two_factor_required,
    )
    # Staff invited by phone become staff when that phone's account accepts (issue #10).
    invitations = Invitations(
        SqliteInvitations(db),
        account_repo,
        SqliteExams(db),
        SqliteUnits(db),
        outbox,
        limiter,
        audit,
        clock,
        sessions,
    )
    accounts = AccountService(
        account_repo,
        sessions,
        sms,
        hasher,
        LoginThrottle(limiter),
        audit,
        clock,
        second_factor=two_factor,
    )
    verifier = make_verifier(reference_photos)
    verification = VerificationService(
        SqliteVerifications(db),
        verifier,
        audit,
        clock,
        results=results,
        evidence=evidence,
    )
    documents = Documents()
    units_repo = SqliteUnits(db)
    units = Units(units_repo, audit, clock)
    journey = Journey(
        SqliteJourney(db),
        documents,
        verification.passed_at,
        units.admitted_units,
        clock,
        # The journey's hook (M2.5): skipped when every exam of the unit is offline-only.
        device_check_required=SqliteExams(db).device_check_required,
    )
    access = ExamAccess(journey, SqliteExams(db), account_repo)
    takes = SqliteTakes(db)
    reviews = Reviews(
        SqliteReviews(db),
        PhotoFiles(reviews_dir),
        account_repo,
        verification,
        audit,
        clock,
        max_bytes=review_photo_max_bytes,
        scope_of=access.verification_scope,
    )
    return Services(
        audit=audit,
        outbox=outbox,
        sms=sms,
        sessions=sessions,
        accounts=accounts,
        verification=verification,
        journey=journey,
        consent=Consent(documents, journey, audit),
        reviews=reviews,
        units=units,
        access=access,
        admission=Admission(units, journey, takes, audit, clock),
        takes=takes,
        auth=Authenticator(accounts, journey, audit, clock, trusted_proxies),
        limiter=limiter,
        two_factor=two_factor,
        invitations=invitations,
        credentials=Credentials(
            account_repo, sessions, sms, hasher, LoginThrottle(limiter), audit, clock
        ),
        claims=Claims(
            SqliteClaims(db),
            PhotoFiles(reviews_dir),
            account_repo,
            units_repo,
            sms,
            sessions,
            hasher,
            audit,
            clock,
            max_bytes=review_photo_max_bytes,
        ),
        verifier=verifier,
        reference_photos=reference_photos,
        reference_uploads=ReferencePhotoUploads(
            reference_repo,
            units,
            face_store,
            audit,
            clock,
            photo_check,
            max_bytes=reference_photo_max_bytes,
        ),
        evidence=evidence,
        evidence_retention=EvidenceRetention(results, evidence, clock, evidence_days),
    )

"""Wiring of accounts, identity and admission: one ``cleanup_ctx`` builds them all.

It runs after the database context and before the media one, so the media
part can use ``app[AUTH]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from exams.accounts import AccountService
from exams.admission import Admission
from exams.claims import Claims
from exams.consent import Consent
from exams.credentials import Credentials
from exams.documents import Documents
from exams.exam_access import ExamAccess
from exams.invitations import Invitations
from exams.journey import Journey
from exams.passwords import PasswordHasher
from exams.reviews import Reviews
from exams.sessions import Sessions
from exams.sms import SmsCodes, SmsPolicy
from exams.takes import Clock
from exams.throttle import LoginThrottle, RateLimiter, Window
from exams.two_factor import TwoFactor
from exams.units import Units
from exams.verification import IdSuffixVerifier, VerificationService
from storage.accounts import SqliteAccounts, SqliteSessions
from storage.audit import SqliteAudit
from storage.claims import SqliteClaims
from storage.db import Database
from storage.exams import SqliteExams
from storage.files import PhotoFiles, load_or_create_secret
from storage.invitations import SqliteInvitations
from storage.journey import SqliteJourney
from storage.limits import MemoryRateLimiter
from storage.redis_limits import RedisRateLimiter
from storage.sms import LogSmsSender, SqliteSmsCodes
from storage.takes import SqliteTakes
from storage.two_factor import SqliteTwoFactor
from storage.units import SqliteUnits
from storage.verification import SqliteReviews, SqliteVerifications
from web.auth import Authenticator
from web.keys import (
    ACCOUNTS,
    ADMISSION,
    AUDIT,
    AUTH,
    CLAIMS,
    CLOCK,
    CONSENT,
    CREDENTIALS,
    DATABASE,
    EXAM_ACCESS,
    INVITATIONS,
    JOURNEY,
    LIMITER,
    REVIEWS,
    SETTINGS,
    SMS_CODES,
    SMS_OUTBOX,
    TAKE_RECORDS,
    TWO_FACTOR,
    UNITS,
    VERIFICATION,
)
from web.passwords import Argon2Hasher

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600


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
) -> Services:
    """Every accounts/admission service on one database (the app and the unit tests use it)."""
    audit = SqliteAudit(db)
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
    # Staff invited by phone become staff at that phone's next password check (issue #10).
    invitations = Invitations(
        SqliteInvitations(db),
        account_repo,
        SqliteExams(db),
        SqliteUnits(db),
        outbox,
        limiter,
        audit,
        clock,
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
        invitations=invitations,
    )
    verification = VerificationService(SqliteVerifications(db), IdSuffixVerifier(), audit, clock)
    documents = Documents()
    units_repo = SqliteUnits(db)
    units = Units(units_repo, audit, clock)
    journey = Journey(
        SqliteJourney(db), documents, verification.passed_at, units.admitted_units, clock
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
    )


async def accounts_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    secret = await asyncio.to_thread(load_or_create_secret, settings.secrets_dir / "sms-hmac.key")
    redis_limiter = RedisRateLimiter.from_url(settings.redis_url) if settings.redis_url else None
    hasher = Argon2Hasher(memory_kib=settings.password_hash_memory_kib)
    s = build(
        app[DATABASE],
        clock=app[CLOCK],
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
    )
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
    purge = asyncio.create_task(_purge_sessions(s.sessions), name="purge-sessions")
    yield
    purge.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purge
    if redis_limiter is not None:
        await redis_limiter.close()
    await asyncio.to_thread(hasher.close)


async def _purge_sessions(sessions: Sessions) -> None:
    while True:
        try:
            purged = await sessions.purge()
            if purged:
                log.info("removed %d ended log-in session(s)", purged)
        except Exception:
            log.exception("could not remove ended sessions; trying again later")
        await asyncio.sleep(PURGE_EVERY_S)

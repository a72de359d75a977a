"""Wiring of exams, attempts and answers: one ``cleanup_ctx`` after the media one.

It needs the take service (``app[TAKES]``), whose own recovery has run by then,
so :meth:`AttemptRunner.reconcile` sees every take the previous process left
as stored or failed and acts on the exam deadlines that passed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from exams.answer_review import AnswerReview
from exams.answer_uploads import Uploads
from exams.answering import Answering
from exams.attempt_runner import AttemptRunner
from exams.catalog import ExamCatalog
from exams.device_checks import DeviceChecks
from exams.list_changes import ListChanges
from exams.operators import Operators
from exams.playback import Playback
from exams.resumable import ResumableUploads
from media.file_check import MediaFileInspector
from storage.accounts import SqliteAccounts
from storage.answer_files import AnswerFiles
from storage.attempts import SqliteAttempts
from storage.exams import SqliteExams
from storage.tus_store import TusStore
from storage.upload_locks import MemoryUploadLocks
from storage.uploads import SqliteUploads
from storage.zip_export import ZipExports
from web.keys import (
    ANSWER_REVIEW,
    ANSWERING,
    ATTEMPT_RUNNER,
    AUDIT,
    DATABASE,
    EXAM_ACCESS,
    EXAM_CATALOG,
    JOURNEY,
    LIMITER,
    LIST_CHANGES,
    OPERATORS,
    RESUMABLE,
    SETTINGS,
    TAKE_RECORDS,
    TAKES,
    UNITS,
    UPLOADS,
    VERIFICATION,
    ZIP_EXPORTS,
)
from web.scheduling import LoopScheduler, wall_clock

log = logging.getLogger(__name__)


async def exams_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = app[DATABASE]
    exam_repo = SqliteExams(db)
    attempt_repo = SqliteAttempts(db)
    takes = app[TAKES]
    records = app[TAKE_RECORDS]
    catalog = ExamCatalog(
        exam_repo, attempt_repo, SqliteAccounts(db), app[AUDIT], wall_clock, limiter=app[LIMITER]
    )
    runner = AttemptRunner(attempt_repo, exam_repo, takes, records, wall_clock, LoopScheduler())
    access = app[EXAM_ACCESS]
    playback = Playback(runner, access)
    # Uploaded answer files live beside the recordings, under server-made names.
    files = AnswerFiles(settings.uploads_dir, settings.recordings_dir)
    inspector = MediaFileInspector()
    app[EXAM_CATALOG] = catalog
    app[LIST_CHANGES] = ListChanges(app[UNITS], SqliteAccounts(db), exam_repo, attempt_repo)
    app[ATTEMPT_RUNNER] = runner
    answering = Answering(catalog, runner, access, app[VERIFICATION], playback)
    app[ANSWERING] = answering
    uploads = Uploads(answering, runner, files, inspector)
    app[UPLOADS] = uploads
    resumable = ResumableUploads(
        answering,
        runner,
        exam_repo,
        uploads,
        SqliteUploads(db),
        TusStore(settings.tus_dir),
        MemoryUploadLocks(settings.upload_idle_s),
        files,
        inspector,
        max_bytes=settings.upload_max_bytes,
        idle_s=settings.upload_idle_s,
    )
    app[RESUMABLE] = resumable
    app[ANSWER_REVIEW] = AnswerReview(
        catalog, attempt_repo, records, files, app[UNITS], app[AUDIT], wall_clock
    )
    app[ZIP_EXPORTS] = ZipExports()
    app[OPERATORS] = Operators(app[UNITS], app[AUDIT], wall_clock)
    app[JOURNEY].device_check_required = catalog.device_check_required
    takes.add_listener(runner.on_take_event)
    device_checks = DeviceChecks(records, takes.discard, wall_clock)  # only the latest is kept
    takes.add_listener(device_checks.on_take_event)
    takes.playback_policy = device_checks.policy(playback.policy)
    due = await runner.reconcile()
    if due:
        log.warning("applied %d exam action(s) that fell due while the server was down", due)
    sweeper = asyncio.get_running_loop().create_task(_sweep(resumable, settings.upload_sweep_s))
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    runner.close()
    playback.close()


async def _sweep(resumable: ResumableUploads, every_s: float) -> None:
    """Complete what a crash left whole, delete what expired: at start, then every so often."""
    while True:
        try:
            changed = await resumable.sweep()
            if changed:
                log.info("upload sweep: %d upload(s) completed, expired or removed", changed)
        except Exception:
            log.exception("upload sweep failed; trying again later")
        await asyncio.sleep(every_s)

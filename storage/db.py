"""The system of record, and its schema.

By default SQLite (``SqliteDatabase``): WAL journal, ``synchronous=FULL`` (``NORMAL`` can
lose a committed transaction on power loss; a recording's record must not); every call
runs on one dedicated thread, never on the event loop, in one ``BEGIN IMMEDIATE``
transaction. With ``--database-url postgresql://…`` the same adapters run on PostgreSQL
(storage/postgres.py). ``MIGRATIONS`` is the schema of both: numbered once, written in
SQLite's DDL, translated for PostgreSQL by storage/postgres.py (docs/decisions/0025).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from storage.sql import Connection, Cursor, Database, IntegrityError, Params

T = TypeVar("T")

__all__ = ["MIGRATIONS", "Database", "SqliteDatabase", "open_database"]

MIGRATIONS: list[str] = [
    # 1: takes and their manifests
    """
    CREATE TABLE takes (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        session_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at REAL NOT NULL,
        stopped_at REAL,
        stop_reason TEXT,
        limit_s REAL,
        manifest TEXT
    );
    CREATE INDEX takes_owner ON takes(owner);
    CREATE INDEX takes_state ON takes(state);
    """,
    # 2: accounts, sessions, SMS codes, the candidate journey, verification, admission, audit
    """
    CREATE TABLE units (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        phone TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        id_type TEXT NOT NULL,
        id_number TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        unit_id TEXT REFERENCES units(id),
        created_at REAL NOT NULL,
        UNIQUE (id_type, id_number)
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        client TEXT
    );
    CREATE INDEX sessions_account ON sessions(account_id);
    CREATE TABLE sms_codes (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        purpose TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        guesses INTEGER NOT NULL DEFAULT 0,
        used_at REAL
    );
    CREATE INDEX sms_codes_phone ON sms_codes(phone, purpose);
    CREATE TABLE journey_steps (
        account_id TEXT NOT NULL REFERENCES accounts(id),
        unit_id TEXT NOT NULL DEFAULT '',
        step TEXT NOT NULL,
        done_at REAL NOT NULL,
        detail TEXT,
        PRIMARY KEY (account_id, unit_id, step)
    );
    CREATE TABLE verifications (
        account_id TEXT NOT NULL REFERENCES accounts(id),
        scope TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        cancelled_at REAL,
        passed_at REAL,
        passed_by TEXT,
        attempt_id TEXT,
        attempt_expires_at REAL,
        PRIMARY KEY (account_id, scope)
    );
    CREATE TABLE reviews (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        scope TEXT NOT NULL,
        photo_file TEXT NOT NULL,
        photo_type TEXT NOT NULL,
        photo_bytes INTEGER NOT NULL,
        submitted_at REAL NOT NULL,
        state TEXT NOT NULL,
        decided_by TEXT,
        decided_at REAL,
        note TEXT
    );
    CREATE INDEX reviews_state ON reviews(state, submitted_at);
    CREATE INDEX reviews_account ON reviews(account_id, scope);
    CREATE TABLE admitted_lists (
        unit_id TEXT PRIMARY KEY REFERENCES units(id),
        imported_at REAL NOT NULL,
        imported_by TEXT NOT NULL,
        entries INTEGER NOT NULL
    );
    CREATE TABLE admitted_entries (
        unit_id TEXT NOT NULL REFERENCES units(id),
        id_type TEXT NOT NULL,
        id_number TEXT NOT NULL,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        line INTEGER NOT NULL,
        PRIMARY KEY (unit_id, id_type, id_number)
    );
    CREATE INDEX admitted_person ON admitted_entries(id_type, id_number);
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        account_id TEXT,
        client TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_account ON audit_log(account_id, id);
    """,
    # 3: a take belongs to an exam attempt (rehearsal and formal takes)
    """
    ALTER TABLE takes ADD COLUMN attempt_id TEXT;
    CREATE INDEX takes_attempt ON takes(attempt_id);
    """,
    # 4: exams with their questions, proctor assignments, attempts (one per candidate x question)
    """
    CREATE TABLE exams (
        id TEXT PRIMARY KEY,
        unit_id TEXT NOT NULL REFERENCES units(id),
        data TEXT NOT NULL,
        has_online INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX exams_unit ON exams(unit_id);
    CREATE TABLE exam_proctors (
        exam_id TEXT NOT NULL REFERENCES exams(id),
        account_id TEXT NOT NULL REFERENCES accounts(id),
        assigned_at REAL NOT NULL,
        PRIMARY KEY (exam_id, account_id)
    );
    CREATE INDEX exam_proctors_account ON exam_proctors(account_id);
    CREATE TABLE attempts (
        id TEXT PRIMARY KEY,
        exam_id TEXT NOT NULL REFERENCES exams(id),
        question_id TEXT NOT NULL,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        data TEXT NOT NULL,
        settled INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (exam_id, question_id, account_id)
    );
    CREATE INDEX attempts_account ON attempts(account_id, exam_id);
    CREATE INDEX attempts_exam ON attempts(exam_id);
    CREATE INDEX attempts_unsettled ON attempts(settled);
    """,
    # 5: resumable uploads (tus) of answer files; their bytes are files, their offset the size
    """
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        exam_id TEXT NOT NULL,
        question_id TEXT NOT NULL,
        attempt_id TEXT NOT NULL,
        material TEXT,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        kind TEXT NOT NULL,
        length INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        device_id TEXT NOT NULL,
        device_name TEXT NOT NULL,
        state TEXT NOT NULL,
        message TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX uploads_account ON uploads(account_id, exam_id, state);
    CREATE INDEX uploads_state ON uploads(state);
    """,
    # 6: one question at a time: at most one attempt per candidate x exam holds the camera
    """
    ALTER TABLE attempts ADD COLUMN camera INTEGER NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX attempts_one_camera ON attempts(account_id, exam_id) WHERE camera = 1;
    """,
    # account security (issue #9): staff two-step log-in, identity claims, list phones
    """
    ALTER TABLE admitted_entries ADD COLUMN phone TEXT NOT NULL DEFAULT '';
    CREATE TABLE totp (
        account_id TEXT PRIMARY KEY REFERENCES accounts(id),
        secret TEXT NOT NULL,
        confirmed_at REAL,
        last_step INTEGER NOT NULL DEFAULT -1
    );
    CREATE TABLE recovery_codes (
        account_id TEXT NOT NULL REFERENCES accounts(id),
        code_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        used_at REAL,
        PRIMARY KEY (account_id, code_hash)
    );
    CREATE TABLE login_challenges (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        method TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        client TEXT
    );
    CREATE TABLE identity_claims (
        id TEXT PRIMARY KEY,
        phone TEXT NOT NULL,
        name TEXT NOT NULL,
        id_type TEXT NOT NULL,
        id_number TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        photo_file TEXT NOT NULL,
        photo_type TEXT NOT NULL,
        photo_bytes INTEGER NOT NULL,
        submitted_at REAL NOT NULL,
        client TEXT,
        state TEXT NOT NULL,
        squatter_id TEXT,
        decided_by TEXT,
        decided_at REAL,
        note TEXT,
        account_id TEXT
    );
    CREATE INDEX identity_claims_state ON identity_claims(state, submitted_at);
    CREATE UNIQUE INDEX identity_claims_pending_phone ON identity_claims(phone)
        WHERE state = 'pending';
    """,
    # staff invitations by phone (issue #10): proctors by a unit admin, unit admins by an operator
    """
    CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        phone TEXT NOT NULL,
        role TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        exam_id TEXT,
        invited_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        state TEXT NOT NULL,
        account_id TEXT,
        decided_at REAL
    );
    CREATE INDEX invitations_phone ON invitations(phone, state);
    CREATE INDEX invitations_unit ON invitations(unit_id, exam_id);
    """,
    # incidents: what the detectors noticed, each awaiting a person's decision (issue #13)
    """
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        exam_id TEXT NOT NULL,
        candidate_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        camera TEXT,
        raised_at REAL NOT NULL,
        started_at REAL NOT NULL,
        attempt_id TEXT,
        question_id TEXT,
        take_id TEXT,
        take_offset_s REAL,
        ended_at REAL,
        end_reason TEXT,
        detail TEXT NOT NULL,
        status TEXT NOT NULL,
        disposed_by TEXT,
        disposed_at REAL,
        note TEXT NOT NULL
    );
    CREATE INDEX incidents_attempt ON incidents(attempt_id, started_at);
    CREATE INDEX incidents_exam ON incidents(exam_id, candidate_id, started_at);
    CREATE INDEX incidents_open ON incidents(exam_id, status);
    CREATE INDEX incidents_active ON incidents(ended_at) WHERE ended_at IS NULL;
    """,
    # proctors' messages and candidates' raised hands (issue #13; storage/proctor_messages.py)
    """
    CREATE TABLE proctor_notes (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        exam_id TEXT NOT NULL,
        candidate_id TEXT NOT NULL,
        sender_id TEXT NOT NULL,
        text TEXT NOT NULL,
        sent_at REAL NOT NULL,
        attempt_id TEXT,
        question_id TEXT,
        read_at REAL
    );
    CREATE INDEX proctor_notes_candidate ON proctor_notes(exam_id, candidate_id, sent_at);
    CREATE INDEX proctor_notes_attempt ON proctor_notes(attempt_id);
    """,
    # the node recording each take (issue #15): a start-up finishes only its own node's takes,
    # survivors finish (or continue) a dead node's; NULL: written before nodes were kept
    """
    ALTER TABLE takes ADD COLUMN node TEXT;
    CREATE INDEX takes_node ON takes(node, state);
    """,
    # each take's quality report (issue #18; media/quality.py): JSON, NULL until it is stored
    """
    ALTER TABLE takes ADD COLUMN quality TEXT;
    """,
    # extra formal takes granted for takes damaged by the system (issue #18;
    # storage/retakes.py): one per damaged take, whoever stores it first
    """
    CREATE TABLE retake_grants (
        take_id TEXT PRIMARY KEY,
        attempt_id TEXT NOT NULL,
        candidate_id TEXT NOT NULL,
        damage TEXT NOT NULL,
        granted_at REAL NOT NULL
    );
    CREATE INDEX retake_grants_attempt ON retake_grants(attempt_id);
    """,
    # face check (issue #17): the units' reference photos (报名照片) and each judged
    # verification's score, model, reason and evidence (JSON list of file-store keys)
    """
    CREATE TABLE reference_photos (
        unit_id TEXT NOT NULL REFERENCES units(id),
        id_type TEXT NOT NULL,
        id_number TEXT NOT NULL,
        photo_key TEXT NOT NULL,
        photo_type TEXT NOT NULL,
        photo_bytes INTEGER NOT NULL,
        uploaded_at REAL NOT NULL,
        uploaded_by TEXT NOT NULL,
        PRIMARY KEY (unit_id, id_type, id_number)
    );
    CREATE INDEX reference_photos_person ON reference_photos(id_type, id_number, uploaded_at);
    CREATE TABLE verification_results (
        attempt_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        scope TEXT NOT NULL,
        at REAL NOT NULL,
        passed INTEGER NOT NULL,
        score REAL,
        model TEXT,
        reason TEXT,
        evidence TEXT NOT NULL
    );
    CREATE INDEX verification_results_account ON verification_results(account_id, at);
    CREATE INDEX verification_results_evidence ON verification_results(at)
        WHERE evidence <> '[]';
    """,
]


def open_database(url: str, sqlite_path: Path) -> Database:
    """The database ``url`` names: "" is SQLite at ``sqlite_path`` (the single-machine
    default), ``postgresql://user:password@host:port/name`` is PostgreSQL."""
    if not url:
        return SqliteDatabase(sqlite_path)
    from storage.postgres import PostgresDatabase  # SQLAlchemy is loaded only when used

    return PostgresDatabase(url)


def _greatest(*values: Any) -> Any:
    """PostgreSQL's GREATEST: the largest argument, NULLs ignored (SQLite's MAX(a, b) would
    be NULL)."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _least(*values: Any) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _integrity(exc: sqlite3.IntegrityError) -> IntegrityError:
    message = str(exc)
    prefix = "UNIQUE constraint failed: "
    if not message.startswith(prefix):
        return IntegrityError(message)
    names = [n.strip().split(".") for n in message[len(prefix) :].split(",")]
    return IntegrityError(message, names[0][0], tuple(n[-1] for n in names))


class _SqliteConnection:
    """The sqlite3 connection as the adapters see it (storage/sql.py ``Connection``)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.discard = False

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from exc

    def rollback(self) -> None:
        self.discard = True


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="examcast-db")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self.run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.create_function("GREATEST", -1, _greatest, deterministic=True)
        conn.create_function("LEAST", -1, _least, deterministic=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._conn = conn

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(connection)`` on the database thread, in one transaction."""
        return await self.run(self._in_transaction, fn)

    def _in_transaction(self, fn: Callable[[Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("database is not open")
        facade = _SqliteConnection(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(facade)
            conn.execute("ROLLBACK" if facade.discard else "COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    async def schema_version(self) -> int:
        def read() -> int:
            if self._conn is None:
                raise RuntimeError("database is not open")
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

        return await self.run(read)

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

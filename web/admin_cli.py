"""Operator commands: add units, grant roles (the first operator, scripts; in the console
an operator creates units and invites their admins, a unit admin invites proctors).

``examcast unit-add 10001 北京某大学``, ``examcast grant 13800138000 operator`` and
``examcast grant 13800138000 unit_admin --unit 10001`` work on the database in
``--data-dir`` (safe while the server runs: SQLite WAL), or on PostgreSQL with
``--database-url`` (or ``EXAMCAST_DATABASE_URL``). A person registers
first, as every account does; ``grant`` then gives the account its role and
ends its sessions, so the role applies at the next log-in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from exams.identity.accounts import Role
from exams.shared.errors import ExamcastError, NotFound
from storage.db import open_database
from storage.limits import MemoryRateLimiter
from web.passwords import Argon2Hasher
from web.scheduling import wall_clock
from web.services import build
from web.settings import Settings

COMMANDS = ("unit-add", "grant", "two-factor-reset")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    default_dir = Settings().data_dir
    unit = commands.add_parser("unit-add", help="add an admission unit (报考单位)")
    unit.add_argument("unit_id", help="its code, e.g. 10001")
    unit.add_argument("name", help="its name")
    grant = commands.add_parser("grant", help="give a registered account a role")
    grant.add_argument("phone", help="the account's phone number")
    grant.add_argument("role", choices=[r.value for r in Role])
    grant.add_argument("--unit", default=None, help="the unit of a unit_admin")
    reset = commands.add_parser(
        "two-factor-reset",
        help="forget a staff account's authenticator (a lost phone and recovery codes); it "
        "sets up a new one at its next log-in",
    )
    reset.add_argument("phone", help="the account's phone number")
    for sub in (unit, grant, reset):
        sub.add_argument("--data-dir", type=Path, default=default_dir, help="the server's data dir")
        sub.add_argument(
            "--database-url",
            default=os.environ.get("EXAMCAST_DATABASE_URL", ""),
            help="the server's database_url (empty: SQLite in --data-dir)",
        )


def run(args: argparse.Namespace) -> str:
    """Carry out the command; returns what to print. Raises ExamcastError on refusal."""
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> str:
    db = open_database(
        getattr(args, "database_url", ""), Settings(data_dir=args.data_dir).database_path
    )
    await db.open()
    hasher = Argon2Hasher(threads=1)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            s = build(
                db,
                clock=wall_clock,
                limiter=MemoryRateLimiter(),
                hasher=hasher,
                secret=b"\0" * 32,  # no SMS is sent by these commands
                reviews_dir=Path(scratch),
                session_idle_s=60,
                session_max_s=60,
                review_photo_max_bytes=1,
            )
            if args.command == "unit-add":
                unit = await s.units.add(args.unit_id, args.name)
                return f"added unit {unit.id} ({unit.name})"
            if args.command == "two-factor-reset":
                who = await s.accounts.by_phone(args.phone)
                if who is None:
                    raise NotFound(f"no account has the phone number {args.phone}")
                removed = await s.two_factor.reset(who, s.sessions)
                return (
                    f"{who.phone} ({who.name}): authenticator "
                    f"{'forgotten' if removed else 'was not set up'}; sessions ended"
                )
            account = await s.accounts.grant(args.phone, Role(args.role), args.unit)
            return f"{account.phone} ({account.name}) is now {account.role.value}"
    finally:
        hasher.close()
        await db.close()


def main(args: argparse.Namespace) -> int:
    try:
        print(run(args))
    except ExamcastError as exc:
        print(f"examcast: {exc.message}")
        return 1
    return 0

"""``examcast serve --demo``: a unit, an exam and three people to click through.

Everything goes through the same services (and rules) as real use: the demo
candidate registers with an SMS code from the outbox, the unit admin and the
proctor are granted their roles, the admitted list is imported from CSV, the
exam is created by the admin and the proctor assigned to it by the admin.
Running it again finds what is there and adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from exams.identity.accounts import Account, Registration, Role
from exams.shared.errors import NotFound
from exams.shared.personal import gb11643_check_char
from web.keys import ACCOUNTS, CLOCK, EXAM_CATALOG, SETTINGS, SMS_CODES, SMS_OUTBOX, UNITS

log = logging.getLogger(__name__)

UNIT_ID = "10001"
UNIT_NAME = "示例艺术学院 (Demo Academy of Arts)"
PASSWORD = "demo-pass-2026"
_ID17 = "11010520070101001"
CANDIDATE = {"phone": "13800000001", "name": "李明", "id_number": _ID17 + gb11643_check_char(_ID17)}
ADMIN = {"phone": "13800000002", "name": "王老师", "id_number": "E12345678"}
PROCTOR = {"phone": "13800000003", "name": "赵老师", "id_number": "E23456789"}
EXAM_TITLE = "2027 音乐表演专业考试 (demo)"
DAY = 24 * 3600


@dataclass(frozen=True)
class Demo:
    candidate: Account
    admin: Account
    proctor: Account
    exam_id: str

    def instructions(self, url: str, verifier: str = "id_suffix") -> str:
        return "\n".join(
            [
                "examcast demo:",
                f"  candidate  {CANDIDATE['phone']} / {PASSWORD}  ({CANDIDATE['name']}, "
                f"resident ID {CANDIDATE['id_number']}; on unit {UNIT_ID}'s admitted list)",
                f"  unit admin {ADMIN['phone']} / {PASSWORD}  (unit {UNIT_ID})",
                f"  proctor    {PROCTOR['phone']} / {PASSWORD}  (assigned to exam "
                f"{self.exam_id}: its wall of candidates at {url}/console/proctor)",
                f"  log in at {url}/login: the candidate's journey continues at {url}/journey, "
                f"the unit admin's console is {url}/console (exam {self.exam_id})",
                "  SMS codes are printed in this log (no SMS gateway is configured)",
                "  staff set up two-step log-in (an authenticator app) at their first log-in "
                "unless the server runs with --staff-two-factor optional",
                *_verifier_lines(verifier),
            ]
        )


def _verifier_lines(verifier: str) -> list[str]:
    """How the demo candidate passes real-person verification, and how to switch."""
    if verifier == "id_suffix":
        return [
            "  real-person verification: the stand-in (type the last 6 characters of the ID "
            "number); for the face check run with --verifier face and, as the unit admin, "
            f"upload your own photo named {CANDIDATE['id_number']}.jpg (console, reference "
            "photos)",
        ]
    return [
        f"  real-person verification: {verifier}; the demo candidate has no reference photo "
        "until the unit admin uploads one named "
        f"{CANDIDATE['id_number']}.jpg (console, reference photos): until then, manual "
        "review; --verifier id_suffix for the stand-in",
    ]


def exam_settings(now: float) -> dict[str, Any]:
    """Two online questions (one with reading time and rehearsals, one single-take
    auto-submit) and one offline question, open for a week."""
    return {
        "title": EXAM_TITLE,
        "instructions": "请在光线充足、安静的环境中作答；摄像头需拍到上半身和双手。",
        "time_requirements": "每题有提交时限；考试开放一周。",
        "opens_at": now - 3600,
        "closes_at": now + 7 * DAY,
        "questions": [
            {
                "id": "solo",
                "order": 1,
                "mode": "online",
                "title": "自选曲目演奏 (a piece of your choice)",
                "prompt": "演奏一首自选曲目，开始前报出曲名。",
                "reading_limit_s": 60,
                "recording_limit_s": 180,
                "submission_limit_s": 1800,
                "rehearsal_allowed": True,
                "rehearsal_count": 2,
                "formal_count": 2,
                "formal_playback_allowed": True,
            },
            {
                "id": "sight",
                "order": 2,
                "mode": "online",
                "title": "视唱 (sight-singing, one take, submitted by itself)",
                "prompt": "阅读谱例后演唱。",
                "reading_limit_s": 30,
                "recording_limit_s": 60,
                "formal_count": 1,
                "auto_submit": True,
            },
            {
                "id": "portfolio",
                "order": 3,
                "mode": "offline",
                "title": "作品集 (portfolio)",
                "prompt": "上传 1-3 个作品文件（视频或图片）。",
                "submission_limit_s": None,
                "files": {
                    "kinds": ["video", "image"],
                    "formats": ["mp4", "webm", "png", "jpg"],
                    "min_count": 1,
                    "max_count": 3,
                    "max_bytes": 30 * 1024 * 1024,
                },
            },
        ],
    }


async def seed(app: web.Application) -> Demo:
    accounts = app[ACCOUNTS]
    units = app[UNITS]
    try:
        await units.get(UNIT_ID)
    except NotFound:
        await units.add(UNIT_ID, UNIT_NAME)
    candidate = await _person(app, CANDIDATE, "resident_id")
    admin = await _person(app, ADMIN, "passport")
    if admin.role is not Role.UNIT_ADMIN:
        admin = await accounts.grant(ADMIN["phone"], Role.UNIT_ADMIN, UNIT_ID)
    if UNIT_ID not in await units.admitted_units(candidate):
        csv = f"name,id_type,id_number\n{CANDIDATE['name']},resident_id,{CANDIDATE['id_number']}\n"
        await units.import_list(admin, UNIT_ID, csv.encode(), "demo")
    catalog = app[EXAM_CATALOG]
    exams = [e for e in await catalog.of_unit(admin, "demo") if e.title == EXAM_TITLE]
    exam = exams[0] if exams else await catalog.create(admin, exam_settings(app[CLOCK]()), "demo")
    proctor = await _person(app, PROCTOR, "passport")
    if proctor.role is not Role.PROCTOR:
        proctor = await accounts.grant(PROCTOR["phone"], Role.PROCTOR, None)
    if proctor.id not in {p["account_id"] for p in await catalog.proctors(admin, exam.id, "demo")}:
        await catalog.assign(admin, exam.id, "demo", account_id=proctor.id)
    return Demo(candidate, admin, proctor, exam.id)


async def _person(app: web.Application, who: dict[str, str], id_type: str) -> Account:
    accounts = app[ACCOUNTS]
    existing = await accounts.by_phone(who["phone"])
    if existing is not None:
        return existing
    await app[SMS_CODES].send(who["phone"], "register", "demo")
    message = app[SMS_OUTBOX].latest(who["phone"])
    assert message is not None and message.code is not None
    form = Registration(
        who["phone"], message.code, who["name"], id_type, who["id_number"], PASSWORD
    )
    return await accounts.register(form, "demo")


async def demo_context(app: web.Application) -> AsyncIterator[None]:
    demo = await seed(app)
    settings = app[SETTINGS]
    scheme = "https" if settings.tls == "self-signed" else "http"
    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    print(demo.instructions(f"{scheme}://{host}:{settings.port}", settings.verifier), flush=True)
    yield

"""A candidate at an offline question on a real server, reached as real use reaches it.

The operator adds a unit and makes a unit admin (``examcast unit-add``,
``grant``); the admin imports the admitted list and creates an exam with one
offline question taking text files up to the bench's size; the candidate
registers, goes through the admission journey (no device check: the unit's
only exam is offline), verifies for the exam and opens the question.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.accounts import (
    PASSWORD,
    client,
    id_number_of,
    person_of,
    phone_of,
    signed_in_cookie,
    sms_code_reader,
)
from bench.journey import HttpCall, JourneyFailed, sign_up, to_exam_list, verify

UNIT = "90001"
ADMIN, CANDIDATE = 9001, 9002


class SetupFailed(JourneyFailed):
    """The server refused a step of the setup."""


@dataclass(frozen=True)
class Seeded:
    exam_id: str
    question_id: str
    cookie: str  # the candidate's session cookie header


async def seed(url: str, data_dir: Path, log: Path, max_bytes: int) -> Seeded:
    await signed_in_cookie(url, ADMIN, log)  # registers; its role comes with the next log-in
    operator_command("unit-add", UNIT, "Bench unit", data_dir=data_dir)
    operator_command("grant", phone_of(ADMIN), "unit_admin", "--unit", UNIT, data_dir=data_dir)
    async with client(CANDIDATE) as candidate_http:
        candidate = HttpCall(candidate_http, url, keep_cookie=True)
        await sign_up(candidate, person_of(CANDIDATE), sms_code_reader(log))
        async with client(ADMIN) as http:
            admin = await log_in(http, url, ADMIN)
            listed = f"name,id_type,id_number\n考生,resident_id,{id_number_of(CANDIDATE)}\n"
            await call_json(
                http,
                "POST",
                f"{url}/api/admin/units/{UNIT}/admitted-list",
                admin,
                data=listed.encode(),
                headers={"Content-Type": "text/csv"},
            )
            exam = await call_json(
                http, "POST", f"{url}/api/admin/exams", admin, json=_exam(max_bytes)
            )
        exam_id = exam["id"]
        # No device check: the unit's only exam is offline.
        await to_exam_list(candidate, id_number_of(CANDIDATE), UNIT)
        await verify(candidate, id_number_of(CANDIDATE), f"exam:{exam_id}")
        await candidate("POST", f"/api/exams/{exam_id}/questions/q1/open")
        return Seeded(exam_id, "q1", candidate.cookie)


def _exam(max_bytes: int) -> dict[str, Any]:
    now = time.time()
    return {
        "title": "Upload bench",
        "opens_at": now - 60,
        "closes_at": now + 86_400,
        "questions": [
            {
                "id": "q1",
                "title": "A large prepared file",
                "order": 1,
                "mode": "offline",
                "files": {
                    "kinds": ["text"],
                    "formats": ["txt"],
                    "min_count": 1,
                    "max_count": 50,
                    "max_bytes": max_bytes,
                },
            }
        ],
    }


async def log_in(http: aiohttp.ClientSession, url: str, index: int) -> str:
    body = {"phone": phone_of(index), "password": PASSWORD}
    async with http.post(f"{url}/api/session", json=body, headers={"Origin": url}) as r:
        if r.status != 200:
            raise SetupFailed(f"log-in refused: {await r.text()}")
        return "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())


async def call_json(
    http: aiohttp.ClientSession, method: str, url: str, cookie: str, **kw: Any
) -> dict[str, Any]:
    headers = {"Cookie": cookie, "Origin": url.split("/api/")[0], **kw.pop("headers", {})}
    async with http.request(method, url, headers=headers, **kw) as r:
        if r.status >= 300:
            raise SetupFailed(f"{method} {url}: {r.status} {await r.text()}")
        body: dict[str, Any] = await r.json()
        return body


def operator_command(*args: str, data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise SetupFailed(f"examcast {' '.join(args)}: {done.stdout}{done.stderr}")

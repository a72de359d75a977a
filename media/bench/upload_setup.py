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

from media.bench.accounts import PASSWORD, id_number_of, phone_of, signed_in_cookie

UNIT = "90001"
ADMIN, CANDIDATE = 9001, 9002


class SetupFailed(RuntimeError):
    """The server refused a step of the setup."""


@dataclass(frozen=True)
class Seeded:
    exam_id: str
    question_id: str
    cookie: str  # the candidate's session cookie header


async def seed(url: str, data_dir: Path, log: Path, max_bytes: int) -> Seeded:
    await signed_in_cookie(url, ADMIN, log)  # registers; its role comes with the next log-in
    _operator("unit-add", UNIT, "Bench unit", data_dir=data_dir)
    _operator("grant", phone_of(ADMIN), "unit_admin", "--unit", UNIT, data_dir=data_dir)
    cookie = await signed_in_cookie(url, CANDIDATE, log)
    async with _client(url, ADMIN) as http:
        admin = await _log_in(http, url, ADMIN)
        listed = f"name,id_type,id_number\n考生,resident_id,{id_number_of(CANDIDATE)}\n"
        await _call(
            http,
            "POST",
            f"{url}/api/admin/units/{UNIT}/admitted-list",
            admin,
            data=listed.encode(),
            headers={"Content-Type": "text/csv"},
        )
        exam = await _call(http, "POST", f"{url}/api/admin/exams", admin, json=_exam(max_bytes))
    async with _client(url, CANDIDATE) as http:
        exam_id = exam["id"]
        await _journey(http, url, cookie, exam_id)
        await _call(http, "POST", f"{url}/api/exams/{exam_id}/questions/q1/open", cookie)
    return Seeded(exam_id, "q1", cookie)


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


async def _journey(http: aiohttp.ClientSession, url: str, cookie: str, exam_id: str) -> None:
    docs = (await _call(http, "GET", f"{url}/api/agreements", cookie))["documents"]
    versions = {d["kind"]: d["version"] for d in docs}
    await _call(
        http,
        "POST",
        f"{url}/api/agreements/accept",
        cookie,
        json={
            "user_agreement_version": versions["user_agreement"],
            "privacy_policy_version": versions["privacy_policy"],
        },
    )
    await _verify(http, url, cookie, "login")
    notice = await _call(http, "GET", f"{url}/api/notice", cookie)
    await _call(http, "POST", f"{url}/api/notice/read", cookie, json={"version": notice["version"]})
    await _call(http, "POST", f"{url}/api/units/{UNIT}/choose", cookie)
    await _call(http, "POST", f"{url}/api/admission/confirm", cookie)
    letter = await _call(http, "GET", f"{url}/api/admission/commitment", cookie)
    await _call(
        http, "POST", f"{url}/api/admission/commitment", cookie, json={"version": letter["version"]}
    )
    await _verify(http, url, cookie, f"exam:{exam_id}")


async def _verify(http: aiohttp.ClientSession, url: str, cookie: str, scope: str) -> None:
    attempt = await _call(
        http, "POST", f"{url}/api/verification/attempts", cookie, json={"scope": scope}
    )
    answer = {"answer": id_number_of(CANDIDATE)[-6:]}  # the stand-in verification vendor
    passed = await _call(
        http,
        "POST",
        f"{url}/api/verification/attempts/{attempt['attempt_id']}",
        cookie,
        json=answer,
    )
    if not passed.get("passed"):
        raise SetupFailed(f"verification for {scope} did not pass: {passed}")


async def _log_in(http: aiohttp.ClientSession, url: str, index: int) -> str:
    body = {"phone": phone_of(index), "password": PASSWORD}
    async with http.post(f"{url}/api/session", json=body, headers={"Origin": url}) as r:
        if r.status != 200:
            raise SetupFailed(f"log-in refused: {await r.text()}")
        return "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, cookie: str, **kw: Any
) -> dict[str, Any]:
    headers = {"Cookie": cookie, "Origin": url.split("/api/")[0], **kw.pop("headers", {})}
    async with http.request(method, url, headers=headers, **kw) as r:
        if r.status >= 300:
            raise SetupFailed(f"{method} {url}: {r.status} {await r.text()}")
        body: dict[str, Any] = await r.json()
        return body


def _client(url: str, index: int) -> aiohttp.ClientSession:
    """A client on the person's own loopback address (the server limits per address)."""
    connector = aiohttp.TCPConnector(local_addr=(f"127.0.1.{index % 250 + 1}", 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def _operator(*args: str, data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise SetupFailed(f"examcast {' '.join(args)}: {done.stdout}{done.stderr}")

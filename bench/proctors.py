"""An exam with proctors for the live part of ``examcast bench``, set up as real use does.

The operator adds a unit and makes a unit admin (``examcast unit-add``,
``grant``); the admin imports an admitted list holding every simulated
candidate and creates an exam; each proctor registers, is made a proctor
(``examcast grant``) and assigned to the exam by the admin
(``POST /api/admin/exams/{id}/proctors``), then logs in again. Proctors and
the admin use addresses 127.0.2.x, the candidates 127.0.1.x. The server runs
with ``--staff-two-factor optional`` so staff log in with a password alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from bench.accounts import client, id_number_of, phone_of, signed_in
from bench.upload_setup import _exam, call_json, log_in, operator_command

UNIT = "90002"
ADMIN = 8000
FIRST_PROCTOR = 8001
STAFF_NETWORK = 2  # 127.0.2.x
GRANTS_AT_ONCE = 3


@dataclass(frozen=True)
class Proctoring:
    exam_id: str
    proctor_cookies: list[str]  # each proctor's session cookie header


async def seed(url: str, data_dir: Path, log: Path, candidates: int, proctors: int) -> Proctoring:
    """An exam of a unit whose admitted list has candidates ``0..candidates-1``, and
    ``proctors`` proctors assigned to it."""
    await signed_in(url, ADMIN, log, STAFF_NETWORK)
    await _operator("unit-add", UNIT, "Bench unit", data_dir=data_dir)
    await _operator("grant", phone_of(ADMIN), "unit_admin", "--unit", UNIT, data_dir=data_dir)
    staff = [FIRST_PROCTOR + i for i in range(proctors)]
    await asyncio.gather(*(signed_in(url, i, log, STAFF_NETWORK) for i in staff))
    limit = asyncio.Semaphore(GRANTS_AT_ONCE)

    async def grant(index: int) -> None:
        async with limit:
            await _operator("grant", phone_of(index), "proctor", data_dir=data_dir)

    await asyncio.gather(*(grant(i) for i in staff))
    async with client(ADMIN, STAFF_NETWORK) as http:
        admin = await log_in(http, url, ADMIN)
        rows = "".join(f"考生,resident_id,{id_number_of(i)}\n" for i in range(candidates))
        await call_json(
            http,
            "POST",
            f"{url}/api/admin/units/{UNIT}/admitted-list",
            admin,
            data=f"name,id_type,id_number\n{rows}".encode(),
            headers={"Content-Type": "text/csv"},
        )
        exam = await call_json(http, "POST", f"{url}/api/admin/exams", admin, json=_exam(1 << 20))
        exam_id = str(exam["id"])
        for index in staff:
            await call_json(
                http,
                "POST",
                f"{url}/api/admin/exams/{exam_id}/proctors",
                admin,
                json={"phone": phone_of(index)},
            )

    async def again(index: int) -> str:
        async with client(index, STAFF_NETWORK) as http:
            return await log_in(http, url, index)

    cookies = await asyncio.gather(*(again(i) for i in staff))
    return Proctoring(exam_id, list(cookies))


async def _operator(*args: str, data_dir: Path) -> None:
    await asyncio.to_thread(operator_command, *args, data_dir=data_dir)

"""Simulated candidates sign up and log in as real ones do, before the measurement.

Each one uses its own loopback address (127.0.1.N), as candidates on their own
networks would: the server limits SMS codes and log-ins per client address.
The SMS code is read from the server's log, where it goes with no SMS gateway.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from exams.personal import gb11643_check_char

PASSWORD = "bench-candidate-1"


def sms_code_from_log(log: Path, phone: str) -> str:
    codes = re.findall(rf"SMS to {phone} .*?(\d{{6}})", log.read_text(errors="replace"))
    if not codes:
        raise RuntimeError(f"no SMS code for {phone} in {log}")
    return str(codes[-1])


def phone_of(index: int) -> str:
    return f"137{index:08d}"


def id_number_of(index: int) -> str:
    """A valid resident ID number (right check character) for simulated person ``index``."""
    first17 = f"110105{20000101 + index % 28:08d}{index % 1000:03d}"
    return first17 + gb11643_check_char(first17)


async def signed_in_cookie(url: str, index: int, log: Path) -> str:
    """Register candidate ``index`` and log in; the session cookie header."""
    phone = phone_of(index)
    connector = aiohttp.TCPConnector(local_addr=(f"127.0.1.{index % 250 + 1}", 0))
    origin = {"Origin": url}
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        async with http.post(f"{url}/api/sms-codes", json={"phone": phone}, headers=origin) as r:
            if r.status != 202:
                raise RuntimeError(f"candidate {index}: SMS code refused: {await r.text()}")
        code = ""
        for _ in range(50):  # the log line is written right after the 202
            try:
                code = sms_code_from_log(log, phone)
                break
            except RuntimeError:
                await asyncio.sleep(0.05)
        account = {
            "phone": phone,
            "sms_code": code,
            "name": "考生",
            "id_type": "resident_id",
            "id_number": id_number_of(index),
            "password": PASSWORD,
        }
        async with http.post(f"{url}/api/accounts", json=account, headers=origin) as r:
            if r.status != 201:
                raise RuntimeError(f"candidate {index}: registration refused: {await r.text()}")
        login = {"phone": phone, "password": PASSWORD}
        async with http.post(f"{url}/api/session", json=login, headers=origin) as r:
            if r.status != 200:
                raise RuntimeError(f"candidate {index}: log-in refused: {await r.text()}")
            return "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())

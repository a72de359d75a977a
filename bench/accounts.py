"""Simulated candidates sign up and log in as real ones do, before the measurement.

Each one uses its own loopback address (127.0.1.N), as candidates on their own
networks would: the server limits SMS codes and log-ins per client address.
The SMS code is read from the server's log, where it goes with no SMS gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.journey import HttpCall, JourneyFailed, Person, sign_up
from bench.spawn import sms_codes
from exams.shared.personal import gb11643_check_char

PASSWORD = "bench-candidate-1"


def sms_code_from_log(log: Path, phone: str) -> str:
    codes = sms_codes(log.read_text(errors="replace"), phone)
    if not codes:
        raise RuntimeError(f"no SMS code for {phone} in {log}")
    return str(codes[-1])


def phone_of(index: int) -> str:
    return f"137{index:08d}"


def id_number_of(index: int) -> str:
    """A valid resident ID number (right check character) for simulated person ``index``."""
    first17 = f"110105{20000101 + index % 28:08d}{index % 1000:03d}"
    return first17 + gb11643_check_char(first17)


def person_of(index: int) -> Person:
    return Person(phone_of(index), "考生", id_number_of(index), PASSWORD)


def sms_code_reader(log: Path) -> Callable[[str], Awaitable[str]]:
    """The code last texted to a phone, read from the server's ``log``."""

    async def sms_code(phone: str) -> str:
        for _ in range(50):  # the log line is written right after the 202
            try:
                return sms_code_from_log(log, phone)
            except RuntimeError:
                await asyncio.sleep(0.05)
        return sms_code_from_log(log, phone)

    return sms_code


async def signed_in_cookie(url: str, index: int, log: Path) -> str:
    """Register candidate ``index`` and log in; the session cookie header."""
    return (await signed_in(url, index, log))[0]


async def signed_in(url: str, index: int, log: Path, network: int = 1) -> tuple[str, str]:
    """Register person ``index`` and log in: (the session cookie header, the account id)."""
    async with client(index, network) as http:
        call = HttpCall(http, url, keep_cookie=True)
        try:
            created = await sign_up(call, person_of(index), sms_code_reader(log))
        except JourneyFailed as exc:
            raise RuntimeError(f"person {index}: {exc}") from exc
        return call.cookie, str(created["account"]["id"])


def client(index: int, network: int = 1) -> aiohttp.ClientSession:
    """A client on person ``index``'s own loopback address, 127.0.<network>.x (the server
    limits per address)."""
    connector = aiohttp.TCPConnector(local_addr=(f"127.0.{network}.{index % 250 + 1}", 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

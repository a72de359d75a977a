"""Small files in the data directory: review photos and the server's secret key.

Implements ``exams.identity.manual_reviews.PhotoStore``. Names are made by the server (random
hex and a suffix from the sniffed type), never taken from the client, and each
file is fsynced before its record is written. All disk work runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png)")


class PhotoFiles:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    async def save(self, data: bytes, suffix: str) -> str:
        if suffix not in ("jpg", "png"):
            raise ValueError(f"unexpected photo suffix {suffix!r}")
        name = f"{secrets.token_hex(16)}.{suffix}"
        await asyncio.to_thread(self._write, name, data)
        return name

    def _write(self, name: str, data: bytes) -> None:
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def read(self, name: str) -> bytes:
        if not _NAME.fullmatch(name):  # only names this class made
            raise FileNotFoundError(name)
        return await asyncio.to_thread((self._dir / name).read_bytes)

    async def delete(self, name: str) -> None:
        if _NAME.fullmatch(name):  # only names this class made
            await asyncio.to_thread((self._dir / name).unlink, True)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """The key in ``path``, made (once, mode 0600) if missing. Blocking: run it in a thread."""
    try:
        data = path.read_bytes()
        if len(data) >= size:
            return data
        raise ValueError(f"{path} holds a key that is too short; remove it to make a new one")
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(size)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key

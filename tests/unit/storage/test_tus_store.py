"""Upload bytes the tusd way: appended, fsynced, a broken body keeps its prefix, a checksum
mismatch or an over-long body leaves nothing behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from exams.shared.errors import ChecksumMismatch, NotFound, TooLarge
from exams.uploads.ports import Checksum
from storage.tus_store import TusStore

ID = "0123456789abcdef0123456789abcdef"


class Body:
    """Parts, then either the end or a broken connection."""

    def __init__(self, *parts: bytes, breaks: bool = False) -> None:
        self._parts = list(parts)
        self._breaks = breaks

    async def read(self) -> bytes:
        if self._parts:
            return self._parts.pop(0)
        if self._breaks:
            raise ConnectionResetError("the phone lost its network")
        return b""

    def cut(self, exc: Exception) -> None:
        raise AssertionError("the store never cuts a body")


def sha1(data: bytes) -> Checksum:
    return Checksum("sha1", hashlib.sha1(data).digest())


@pytest.fixture
async def store(tmp_path: Path) -> TusStore:
    s = TusStore(tmp_path / "tus", buffer_bytes=8)  # tiny buffers: many writes
    await s.create(ID)
    return s


async def test_bytes_are_appended_and_the_size_is_the_offset(store: TusStore) -> None:
    assert await store.size(ID) == 0
    assert await store.append(ID, Body(b"hello ", b"world"), 100, None) == 11
    assert await store.append(ID, Body(b"!" * 20), 100, None) == 31
    assert store.path(ID).read_bytes() == b"hello world" + b"!" * 20
    assert await store.head(ID, 5) == b"hello"


async def test_a_body_that_breaks_off_keeps_what_arrived(store: TusStore) -> None:
    with pytest.raises(ConnectionResetError):
        await store.append(ID, Body(b"abcdefghij", b"klm", breaks=True), 100, None)
    assert await store.size(ID) == 13
    assert store.path(ID).read_bytes() == b"abcdefghijklm"


async def test_a_body_past_the_limit_appends_nothing(store: TusStore) -> None:
    await store.append(ID, Body(b"keep"), 100, None)
    with pytest.raises(TooLarge):
        await store.append(ID, Body(b"0123456789", b"0123456789", b"x"), 20, None)
    assert store.path(ID).read_bytes() == b"keep"


async def test_a_checksum_mismatch_appends_nothing(store: TusStore) -> None:
    await store.append(ID, Body(b"first"), 100, sha1(b"first"))
    with pytest.raises(ChecksumMismatch):
        await store.append(ID, Body(b"second", b"part"), 100, sha1(b"something else"))
    assert store.path(ID).read_bytes() == b"first"
    assert await store.append(ID, Body(b"second", b"part"), 100, sha1(b"secondpart")) == 15
    assert store.path(ID).read_bytes() == b"firstsecondpart"
    assert not list(store.path(ID).parent.glob("*.chunk"))


async def test_a_checked_body_that_breaks_off_appends_nothing(store: TusStore) -> None:
    with pytest.raises(ConnectionResetError):
        await store.append(ID, Body(b"abcdefghij", breaks=True), 100, sha1(b"abcdefghijk"))
    assert await store.size(ID) == 0


async def test_removed_uploads_have_no_size_and_names_are_the_servers(store: TusStore) -> None:
    await store.remove(ID)
    assert await store.size(ID) is None
    with pytest.raises(NotFound):
        await store.append(ID, Body(b"x"), 10, None)
    for bad in ("../etc/passwd", "0" * 31, "0" * 32 + "/x", "A" * 32):
        with pytest.raises(NotFound):
            store.path(bad)

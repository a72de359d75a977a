"""``examcast serve`` as a real subprocess, for tests that restart or kill it."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.spawn import free_port, serve_args, sms_codes, spawn


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def drain(self) -> None:
        """SIGTERM: the node drains (no new media sessions, /readyz 503), then stops."""
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGINT: stop now (what records is stopped and stored), as before draining existed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sms_code(self, phone: str, timeout: float = 5) -> str:
        """The last code texted to ``phone``: with no SMS gateway the server logs it."""
        deadline = time.monotonic() + timeout
        while True:
            codes = sms_codes(self.log(), phone)
            if codes:
                return str(codes[-1])
            assert time.monotonic() < deadline, f"no SMS to {phone} in the server log"
            time.sleep(0.05)

    def admin(self, *args: str) -> str:
        """An operator command (``unit-add``, ``grant``) on this server's data, as printed."""
        done = subprocess.run(
            [sys.executable, "-m", "web.cli", *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parents[2],
        )
        assert done.returncode == 0, f"examcast {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


SMS_RESEND_S = 10


# How long a server may take to answer after it is started: its imports alone take seconds,
# and many more while other xdist workers and their browsers share the cores. (One that
# exits early is reported at once.)
START_TIMEOUT_S = 60


def start_server(
    data_dir: Path,
    *extra: str,
    timeout: float = START_TIMEOUT_S,
    scheme: str = "http",
    port: int | None = None,
) -> ServerProcess:
    """A server on ``data_dir`` (``port``: a given one, e.g. to restart on the same)."""
    port = free_port() if port is None else port
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    args = serve_args(
        port,
        data_dir,
        # Every test client comes from 127.0.0.1: as from an exam hall behind one NAT.
        "--sms-per-address-per-hour",
        "100000",
        # One SMS code per phone per SMS_RESEND_S (a minute as shipped): pages' waits pass sooner.
        "--sms-resend-s",
        str(SMS_RESEND_S),
        # Staff log in with the password alone unless a test asks for two-step log-in.
        "--staff-two-factor",
        "optional",
        # Argon2id as shipped but with 1 MiB instead of 64 (as tests/integration's api_server):
        # every page of the browser tests signs up and logs in, and 64 MiB costs about 0.2 s of
        # a core each time, cores the other xdist workers' tests are waiting for.
        "--password-hash-memory-kib",
        "1024",
        # No load shedding (live viewers keyframe-only when the loop lags): a busy test
        # machine would make it kick in under a spotlight that a test checks plays.
        "--viewer-shed-lag-ms",
        "0",
        *extra,
    )
    process = spawn(args, log_path)
    server = ServerProcess(data_dir, port, process, log_path, scheme)
    # Only "is it up": the tests check the certificate themselves.
    readiness = ssl._create_unverified_context() if scheme == "https" else None
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"examcast serve exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(
                server.url + "/api/health", timeout=1, context=readiness
            ) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"examcast serve did not answer within {timeout}s:\n{server.log()}")
        time.sleep(0.1)


@contextmanager
def higher_priority(steps: int) -> Iterator[None]:
    """This thread, and the processes it starts meanwhile (a server), ``steps`` nice levels
    ahead of the rest of the machine: for a test whose figures are of media in real time
    while other xdist workers keep the cores busy. Needs root (as scripts/test runs);
    without it, nothing changes."""
    before = os.getpriority(os.PRIO_PROCESS, 0)  # on Linux: this thread's
    try:
        os.setpriority(os.PRIO_PROCESS, 0, before - steps)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)

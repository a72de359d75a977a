"""``examcast serve`` as a real subprocess, for tests that restart or kill it."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
import urllib.request
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
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


def start_server(
    data_dir: Path,
    *extra: str,
    timeout: float = 20,
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

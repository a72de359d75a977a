"""``examcast serve`` as a real subprocess, for tests that restart or kill it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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

    def sms_code(self, phone: str) -> str:
        """The last code texted to ``phone``: with no SMS gateway the server logs it."""
        codes = re.findall(rf"SMS to {phone} .*?(\d{{6}})", self.log())
        assert codes, f"no SMS to {phone} in the server log"
        return str(codes[-1])


def start_server(data_dir: Path, *extra: str, timeout: float = 20) -> ServerProcess:
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "web.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--ice-host-addresses",
        "127.0.0.1",
        *extra,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).parents[2],
            env=os.environ.copy(),
        )
    server = ServerProcess(data_dir, port, process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"examcast serve exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/api/health", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"examcast serve did not answer within {timeout}s:\n{server.log()}")
        time.sleep(0.1)

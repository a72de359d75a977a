"""A server under test in its own process: start, pin, wait for health, stop."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from bench import measure
from bench.spawn import free_port, spawn

__all__ = ["ServerFailed", "ServerProcess", "free_port"]

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class ServerFailed(RuntimeError):
    """The server under test did not start, or died during the bench."""


class ServerProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        cpus: set[int] | None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.cpus = cpus
        self.env = env  # added to the environment (bench.spawn.spawn)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> None:
        self._proc = spawn(self.argv, self.log_path, self.env)
        if self.cpus:
            measure.pin(self._proc.pid, self.cpus)

    async def wait_ready(self, url: str, limit_s: float = READY_TIMEOUT_S) -> None:
        """Poll ``url`` (its health check) until it answers 200, within ``limit_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                self.check_alive()
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            break
                except (TimeoutError, aiohttp.ClientError):
                    pass
                if loop.time() > deadline:
                    raise ServerFailed(
                        f"{self.name}: {url} did not answer within {limit_s:.0f}s"
                        f"\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)
        if self.cpus:  # again: threads the server started before the first pin took effect
            measure.pin(self.pid, self.cpus)

    def check_alive(self) -> None:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise ServerFailed(
                f"{self.name} exited with status {self._proc.returncode}\n{self.log_tail()}"
            )

    async def stop(self) -> int | None:
        """SIGINT (a graceful shutdown), then SIGKILL after :data:`STOP_TIMEOUT_S`."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGINT)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, proc.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            return await loop.run_in_executor(None, proc.wait, 10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])
